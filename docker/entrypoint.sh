#!/bin/sh
# docker-entrypoint.sh: prepare the state folder on first start, apply
# the POSTERN_* variables (docs/docker.md) to main.cf, then run
# `postern -c $POSTERN_DIR "$@"` (by default `start -f`: the master in the
# foreground, so `docker stop` reaches it).
#
# Each variable below is written with `postern config set` at every start,
# so changing one and recreating the container applies it; an unset
# variable leaves main.cf as it is.
set -eu
dir=${POSTERN_DIR:-/srv/postern}
# POSTERN_BIN: only for tests/integration/test_packaging.py, which runs
# this script with the build's program.
bin=${POSTERN_BIN:-/usr/sbin/postern}
postern() { "$bin" -c "$dir" "$@"; }

set_param() { # NAME VALUE
	[ -n "$2" ] || return 0
	postern config set "$1=$2" >/dev/null
}

# `postern init` creates only what is missing and applies pending schema
# migrations, so running it at every start is the upgrade path too.
if [ "${1:-}" = start ]; then
	postern init >/dev/null
	# A container is reached through its published ports, never on its
	# loopback: listen on every address unless told otherwise.
	set_param inet_interfaces "${POSTERN_INET_INTERFACES:-all}"
	set_param admin_api_interfaces "${POSTERN_ADMIN_API_INTERFACES:-}"
	set_param myhostname "${POSTERN_HOSTNAME:-}"
	set_param mynetworks "${POSTERN_MYNETWORKS:-}"
	set_param relayhost "${POSTERN_RELAYHOST:-}"
	set_param database_driver "${POSTERN_DATABASE_DRIVER:-}"
	set_param database_host "${POSTERN_DATABASE_HOST:-}"
	set_param database_port "${POSTERN_DATABASE_PORT:-}"
	set_param database_name "${POSTERN_DATABASE_NAME:-}"
	set_param database_user "${POSTERN_DATABASE_USER:-}"
	if [ -n "${POSTERN_DATABASE_PASSWORD_FILE:-}" ]; then
		set_param database_password "$(cat "$POSTERN_DATABASE_PASSWORD_FILE")"
	fi
	set_param log_target "${POSTERN_LOG_TARGET:-stderr}"
	# The cluster's nodes (docker/compose.cluster.yml): replicas for
	# lookups, the shared store, where local delivery goes, the proxy.
	set_param database_read_hosts "${POSTERN_DATABASE_READ_HOSTS:-}"
	set_param mail_directory "${POSTERN_MAIL_DIRECTORY:-}"
	set_param lmtp_delivery_target "${POSTERN_LMTP_DELIVERY_TARGET:-}"
	set_param proxy_backends "${POSTERN_PROXY_BACKENDS:-}"
	set_param proxy_lmtp_port "${POSTERN_PROXY_LMTP_PORT:-}"
	set_param imapd_trusted_networks "${POSTERN_IMAPD_TRUSTED_NETWORKS:-}"
	# A node's role: its services.cf, copied over the default at every
	# start (docker/cluster/*.services.cf).
	if [ -n "${POSTERN_SERVICES_FILE:-}" ]; then
		cp "$POSTERN_SERVICES_FILE" "$dir/services.cf"
	fi
	# A driver other than SQLite may have been chosen just now: migrate
	# that database too (idempotent).
	postern db migrate >/dev/null
fi
exec "$bin" -c "$dir" "$@"
