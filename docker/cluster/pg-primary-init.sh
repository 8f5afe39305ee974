#!/bin/sh
# Run once by the postgres image on an empty data folder
# (/docker-entrypoint-initdb.d): the replication role and its pg_hba line,
# so pg-replica.sh can pg_basebackup from this server.
set -eu
password=$(cat "$POSTGRES_PASSWORD_FILE")
psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d postgres <<SQL
CREATE ROLE replicator WITH REPLICATION LOGIN PASSWORD '$password';
SQL
echo "host replication replicator all scram-sha-256" >> "$PGDATA/pg_hba.conf"
