#!/bin/sh
# dbservers.sh - throwaway PostgreSQL 15 and MariaDB servers for the
# integration tests, on 127.0.0.1 and free ports, all state under DIR.
#
#   dbservers.sh start DIR     install missing packages, start both, wait
#                              until they answer, create database "postern"
#                              and user "postern" (with a password) on each,
#                              and print `export` lines for the tests:
#                                eval "$(dbservers.sh start /tmp/dbs)"
#   dbservers.sh stop DIR      stop both (DIR is kept; rm -rf it after)
#   dbservers.sh stop-pg DIR | start-pg DIR | stop-mysql DIR | start-mysql DIR
#                              stop or restart one server on the same port
#                              and data (the outage test uses these)
#
# The export lines are also written to DIR/env.  Messages go to stderr so
# stdout stays eval-able.  PostgreSQL refuses to run as root, so as root it
# runs as the "postgres" user of the Debian package; MariaDB runs as the
# caller (--user=root when root, as CI does).
set -eu

PGBIN=/usr/lib/postgresql/15/bin

say() { echo "dbservers: $*" >&2; }
die() { say "$*"; exit 1; }

usage() {
	sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

[ $# -eq 2 ] || usage
cmd=$1
DIR=$2
# Absolute, since PostgreSQL commands run from / (as_pg).
[ "$cmd" = start ] || DIR=$(cd "$DIR" && pwd)

ensure_packages() {
	missing=""
	for p in postgresql-15 mariadb-server mariadb-client; do
		dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	[ "$(id -u)" -eq 0 ] || die "missing packages:$missing (install them as root)"
	say "installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2 || true
	# Debian starts the packaged servers on install; ours are separate
	# instances on other ports, so theirs are harmless but not needed.
	apt-get install -y -qq $missing >&2
}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

secret() {
	od -An -N12 -tx1 /dev/urandom | tr -d ' \n'
}

# Run a command as the PostgreSQL owner.
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		# From /: postgres cannot enter the caller's folder (root's 0700
		# home) and would say so on every command.
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# One value of DIR/env, without exporting them all here: the mariadb
# clients would take MYSQL_HOST from the environment.
envvar() {
	sed -n "s/^export $1=//p" "$DIR/env" | tr -d "'"
}

pg_start() {
	PG_PORT=$(envvar PG_PORT)
	as_pg "$PGBIN/pg_ctl" -D "$DIR/pg/data" -l "$DIR/pg/log" -w -t 60 \
		-o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $DIR/pg" \
		start >&2 || { cat "$DIR/pg/log" >&2; die "postgresql did not start"; }
}

pg_stop() {
	[ -f "$DIR/pg/data/postmaster.pid" ] || return 0
	as_pg "$PGBIN/pg_ctl" -D "$DIR/pg/data" -m fast -w -t 60 stop >&2
}

my_start() {
	MYSQL_PORT=$(envvar MYSQL_PORT)
	user=$(id -un)
	mariadbd --no-defaults --datadir="$DIR/my/data" --user="$user" \
		--bind-address=127.0.0.1 --port="$MYSQL_PORT" \
		--socket="$DIR/my/sock" --pid-file="$DIR/my/pid" \
		--log-error="$DIR/my/mariadb.err" --skip-name-resolve \
		--innodb-buffer-pool-size=32M --max-connections=100 \
		>/dev/null 2>&1 &
	i=0
	until mariadb-admin --no-defaults --protocol=socket --socket="$DIR/my/sock" -uroot \
		ping >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt 120 ] || { cat "$DIR/my/mariadb.err" >&2; die "mariadb did not start"; }
		sleep 0.5
	done
}

my_stop() {
	[ -f "$DIR/my/pid" ] || return 0
	pid=$(cat "$DIR/my/pid")
	kill "$pid" 2>/dev/null || true
	i=0
	while kill -0 "$pid" 2>/dev/null; do
		i=$((i + 1))
		[ $i -lt 120 ] || { kill -9 "$pid" 2>/dev/null; break; }
		sleep 0.5
	done
	rm -f "$DIR/my/pid"
}

start() {
	ensure_packages
	[ -x "$PGBIN/initdb" ] || die "$PGBIN/initdb not found (postgresql-15)"
	[ ! -e "$DIR/env" ] || die "$DIR already holds servers: stop them and remove it first"
	mkdir -p "$DIR/pg" "$DIR/my"
	DIR=$(cd "$DIR" && pwd)
	# The postgres user must reach its folder below a mktemp -d (0700).
	chmod 0755 "$DIR"
	[ "$(id -u)" -eq 0 ] && chown postgres "$DIR/pg"

	pg_port=$(free_port)
	my_port=$(free_port)
	while [ "$my_port" = "$pg_port" ]; do my_port=$(free_port); done
	pg_pass=$(secret)
	my_pass=$(secret)
	cat >"$DIR/env" <<EOV
export POSTERN_DBSERVERS_DIR='$DIR'
export PG_HOST=127.0.0.1
export PG_PORT=$pg_port
export PG_DATABASE=postern
export PG_USER=postern
export PG_PASSWORD=$pg_pass
export MYSQL_HOST=127.0.0.1
export MYSQL_PORT=$my_port
export MYSQL_DATABASE=postern
export MYSQL_USER=postern
export MYSQL_PASSWORD=$my_pass
EOV
	chmod 0644 "$DIR/env"

	say "initdb in $DIR/pg/data"
	as_pg "$PGBIN/initdb" -D "$DIR/pg/data" -U postgres -E UTF8 \
		--locale=C.UTF-8 --auth-local=trust --auth-host=scram-sha-256 \
		>"$DIR/pg/initdb.log" 2>&1 ||
		{ cat "$DIR/pg/initdb.log" >&2; die "initdb failed"; }
	pg_start
	as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$DIR/pg" -p "$pg_port" \
		-U postgres -d postgres >&2 <<EOSQL
CREATE ROLE postern LOGIN PASSWORD '$pg_pass';
CREATE DATABASE postern OWNER postern ENCODING 'UTF8';
EOSQL
	say "postgresql on 127.0.0.1:$pg_port"

	say "mariadb-install-db in $DIR/my/data"
	mariadb-install-db --no-defaults --datadir="$DIR/my/data" \
		--user="$(id -un)" --auth-root-authentication-method=normal \
		--skip-test-db >"$DIR/my/install.log" 2>&1 ||
		{ cat "$DIR/my/install.log" >&2; die "mariadb-install-db failed"; }
	my_start
	mariadb --no-defaults --protocol=socket --socket="$DIR/my/sock" -uroot >&2 <<EOSQL
CREATE DATABASE postern CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE USER 'postern'@'127.0.0.1' IDENTIFIED BY '$my_pass';
CREATE USER 'postern'@'localhost' IDENTIFIED BY '$my_pass';
GRANT ALL PRIVILEGES ON postern.* TO 'postern'@'127.0.0.1';
GRANT ALL PRIVILEGES ON postern.* TO 'postern'@'localhost';
FLUSH PRIVILEGES;
EOSQL
	say "mariadb on 127.0.0.1:$my_port"
	cat "$DIR/env"
}

case $cmd in
start) start ;;
stop)
	[ -f "$DIR/env" ] || die "$DIR: no servers here"
	pg_stop || true
	my_stop
	say "stopped"
	;;
stop-pg) pg_stop ;;
start-pg) pg_start ;;
stop-mysql) my_stop ;;
start-mysql) my_start ;;
*) usage ;;
esac
