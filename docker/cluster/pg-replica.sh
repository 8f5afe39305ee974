#!/bin/sh
# The replica's command (docker/compose.cluster.yml): on an empty data
# folder, copy the primary with pg_basebackup -R (which writes
# standby.signal and primary_conninfo), then run postgres as a hot
# standby streaming from it.  Runs as the postgres user (the compose
# file's `user:`).
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
	export PGPASSWORD
	PGPASSWORD=$(cat "$POSTGRES_PASSWORD_FILE")
	until pg_isready -h "$PRIMARY_HOST" -p 5432 -q; do sleep 1; done
	pg_basebackup -h "$PRIMARY_HOST" -p 5432 -U replicator \
		-D "$PGDATA" -R -X stream -c fast
	chmod 700 "$PGDATA"
fi
exec postgres -c hot_standby=on
