#!/bin/bash
# Admin API benchmark: wrk on loopback against postern-admin-api in a
# temporary site.  See bench/README.md ("Admin API (bench/admin-api.sh)").
#   bench/admin-api.sh                     SQLite, 1,000 mailboxes, 10 s runs
#   bench/admin-api.sh --pg                on PostgreSQL (PG_* of
#                                          tests/integration/dbservers.sh, or
#                                          servers started for the run)
#   bench/admin-api.sh --help              every option
# Programs come from --build DIR, else $POSTERN_BUILD_DIR, else ./build.
# Needs wrk (Debian package), curl and python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=${POSTERN_BUILD_DIR:-$src/build}
driver=sqlite
mailboxes=1000
duration=10
threads=1
get_conns=16
post_conns=8
keep=0

usage() {
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'
	cat <<EOU
Options:
  --build DIR           programs from DIR
  --pg                  PostgreSQL instead of SQLite
  --mailboxes N         mailboxes in the listed domain (default $mailboxes)
  --duration S          seconds per wrk run (default $duration)
  --threads T           wrk threads (default $threads)
  --get-connections C   wrk connections for the GET run (default $get_conns)
  --post-connections C  wrk connections for the POST run (default $post_conns)
  --keep                keep the temporary folder
EOU
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--pg) driver=pgsql; shift ;;
	--mailboxes) mailboxes=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--get-connections) get_conns=$2; shift 2 ;;
	--post-connections) post_conns=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--help | -h) usage 0 ;;
	*) echo "admin-api.sh: unknown option $1" >&2; usage 2 >&2 ;;
	esac
done

die() { echo "admin-api.sh: FAILED: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
build=$(cd "$build" && pwd)
postern=$build/postern
[ -x "$postern" ] && [ -x "$build/postern-admin-api" ] ||
	die "no postern / postern-admin-api in $build (--build DIR)"

tmp=$(mktemp -d /tmp/postern-apibench.XXXXXX)
cfg=$tmp/var
dbdir=""
started=0
ok=0
cleanup() {
	[ $started = 1 ] && "$postern" -c "$cfg" stop >/dev/null 2>&1 || true
	if [ -n "$dbdir" ]; then
		"$src/tests/integration/dbservers.sh" stop "$dbdir" >/dev/null 2>&1 || true
		rm -rf "$dbdir"
	fi
	if [ $keep = 1 ] || [ $ok = 0 ]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
}
trap cleanup EXIT
trap 'exit 1' INT TERM

pg() { "$postern" -c "$cfg" "$@" >/dev/null; }

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

pg init
port=$(free_port)
pg config set "admin_api_port=$port" stop_timeout=5s
if [ $driver = pgsql ]; then
	if [ -z "${PG_PORT:-}" ]; then
		dbdir=$(mktemp -d /tmp/postern-apibench-db.XXXXXX)
		rmdir "$dbdir"
		eval "$("$src/tests/integration/dbservers.sh" start "$dbdir")"
	fi
	pg config set database_driver=pgsql "database_host=$PG_HOST" \
		"database_port=$PG_PORT" "database_name=$PG_DATABASE" \
		"database_user=$PG_USER" "database_password=$PG_PASSWORD"
	# The first init put the bootstrap token's hash in SQLite; init
	# again migrates PostgreSQL and registers the same token there.
	pg init
fi
echo 'admin-api inet $admin_api_interfaces:$admin_api_port none 1 postern-admin-api' \
	>"$cfg/services.cf"
pg start
started=1
token=$(cat "$cfg/admin-token")
base=http://127.0.0.1:$port/api/v1
pid=$("$postern" -c "$cfg" status | awk '$1 == "admin-api" { print $4 }')
case $pid in '' | *[!0-9]*) die "admin-api pid not found: $pid" ;; esac

rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$pid/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)

api() {  # METHOD PATH [BODY] -> body on stdout, status in $tmp/status
	if [ $# -ge 3 ]; then
		curl -sS -o "$tmp/answer" -w '%{http_code}' -X "$1" \
			-H "Authorization: Bearer $token" \
			-H 'Content-Type: application/json' --data "$3" "$base$2" \
			>"$tmp/status"
	else
		curl -sS -o "$tmp/answer" -w '%{http_code}' -X "$1" \
			-H "Authorization: Bearer $token" "$base$2" >"$tmp/status"
	fi
	cat "$tmp/answer"
}
want() {  # STATUS WHAT
	[ "$(cat "$tmp/status")" = "$1" ] ||
		die "$2: HTTP $(cat "$tmp/status"): $(cat "$tmp/answer")"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
rss_start=$(rss_kb)
tag=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
dom=bench-$tag.test
api POST /domains "{\"name\": \"$dom\"}" >/dev/null
want 201 "create $dom"
api POST /mailboxes "{\"address\": \"seed0@$dom\", \"password\": \"bench password\"}" >/dev/null
want 201 "create seed0@$dom"

# The other mailboxes go straight into SQL with seed0's hash: 1,000
# Argon2id hashes through the API would take minutes and measure nothing
# the POST run does not.
n=$((mailboxes - 1))
if [ $driver = sqlite ]; then
	python3 - "$cfg/postern.db" "$dom" "$n" <<'EOPY'
import sqlite3, sys
path, dom, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
db = sqlite3.connect(path, timeout=30)
(did, h), = db.execute("SELECT m.domain_id, m.password_hash FROM mailboxes m "
                       "WHERE m.address = ?", ("seed0@" + dom,))
db.executemany("INSERT INTO mailboxes (domain_id, local_part, address, "
               "password_hash) VALUES (?, ?, ?, ?)",
               [(did, "seed%05d" % i, "seed%05d@%s" % (i, dom), h)
                for i in range(1, n + 1)])
db.commit()
EOPY
else
	PGPASSWORD=$PG_PASSWORD psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" \
		-p "$PG_PORT" -U "$PG_USER" -d "$PG_DATABASE" >/dev/null <<EOSQL
INSERT INTO mailboxes (domain_id, local_part, address, password_hash)
SELECT m.domain_id, 'seed' || lpad(g::text, 5, '0'),
       'seed' || lpad(g::text, 5, '0') || '@$dom', m.password_hash
FROM mailboxes m, generate_series(1, $n) g
WHERE m.address = 'seed0@$dom';
EOSQL
fi
total=$(api GET "/domains/$dom/mailboxes?limit=50" |
	python3 -c 'import json, sys; d = json.load(sys.stdin); print(d["total"], len(d["items"]))')
want 200 "list $dom"
[ "$total" = "$mailboxes 50" ] || die "list: total and items $total, wanted $mailboxes 50"
rss_seeded=$(rss_kb)

# run NAME URL SCRIPT CONNECTIONS ARGS...: wrk, with its CPU time (getrusage).
run_wrk() {
	name=$1 url=$2 script=$3 conns=$4
	shift 4
	cpu0=$(cpu_ticks)
	python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    print(r.ru_utime, r.ru_stime, file=f)
sys.exit(rc)' "$tmp/$name.time" \
		wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 30s --latency \
		-s "$here/$script" "$url" -- "$@" >"$tmp/$name.out" 2>&1 ||
		{ cat "$tmp/$name.out" >&2; die "wrk $name"; }
	cpu1=$(cpu_ticks)
	eval "${name}_rps=\$(awk '/^Requests\\/sec:/ { print \$2 }' \"\$tmp/\$name.out\")"
	eval "${name}_p50=\$(awk '\$1 == \"50%\" { print \$2 }' \"\$tmp/\$name.out\")"
	eval "${name}_p99=\$(awk '\$1 == \"99%\" { print \$2 }' \"\$tmp/\$name.out\")"
	eval "${name}_reqs=\$(awk '/requests in/ { print \$1 }' \"\$tmp/\$name.out\")"
	eval "${name}_status=\$(grep '^status ' \"\$tmp/\$name.out\" | sort | tr '\\n' ' ')"
	eval "${name}_errors=\$(grep -E 'Socket errors|Non-2xx' \"\$tmp/\$name.out\" | tr '\\n' ' ')"
	eval "${name}_wrkcpu=\$(awk '{ printf \"%.2f\", \$1 + \$2 }' \"\$tmp/\$name.time\")"
	eval "${name}_srvcpu=\$(awk -v a=$cpu0 -v b=$cpu1 -v hz=$hz 'BEGIN { printf \"%.2f\", (b - a) / hz }')"
}

run_wrk get "$base/domains/$dom/mailboxes?limit=50" admin-api-get.lua "$get_conns" "$token"
rss_get=$(rss_kb)
run_wrk post "$base/mailboxes" admin-api-post.lua "$post_conns" "$token" "$dom" "p$tag"
rss_post=$(rss_kb)
after=$(api GET "/domains/$dom/mailboxes?limit=1" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
want 200 "list $dom after the POST run"
created=$((after - mailboxes))

per_post=$(awk -v c="$post_srvcpu" -v n="$created" 'BEGIN { if (n > 0) printf "%.1f", 1000 * c / n; else print "-" }')
per_get=$(awk -v c="$get_srvcpu" -v n="$get_reqs" 'BEGIN { if (n > 0) printf "%.3f", 1000 * c / n; else print "-" }')

cat <<EOR
Admin API benchmark: $driver, $(nproc) CPUs, wrk -t$threads, ${duration}s per run
  build            $build
  service          postern-admin-api pid $pid, 127.0.0.1:$port
  listed domain    $dom with $mailboxes mailboxes
  load average     $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end (shared machine)

GET /api/v1/domains/$dom/mailboxes?limit=50 (wrk -c$get_conns)
  requests/s       $get_rps
  latency p50/p99  $get_p50 / $get_p99
  requests         $get_reqs  ${get_status}${get_errors}
  server CPU       ${get_srvcpu} s (${per_get} ms per request)
  wrk CPU          ${get_wrkcpu} s (user + system)

POST /api/v1/mailboxes, a new address each (wrk -c$post_conns)
  requests/s       $post_rps
  latency p50/p99  $post_p50 / $post_p99
  requests         $post_reqs  ${post_status}${post_errors}
  mailboxes made   $created (counted through the API afterwards)
  server CPU       ${post_srvcpu} s (${per_post} ms per mailbox: mostly the Argon2id hash)
  wrk CPU          ${post_wrkcpu} s (user + system)

Resident memory of postern-admin-api (VmRSS)
  at start         ${rss_start} kB
  after seeding    ${rss_seeded} kB
  after GET run    ${rss_get} kB
  after POST run   ${rss_post} kB (peak VmHWM $(hwm_kb) kB)
EOR

case "$get_status" in *"status 200: $get_reqs "*) ;; *) die "GET run: not all 200: $get_status $get_errors" ;; esac
# Requests still in flight when wrk stops complete afterwards: more
# mailboxes than counted 201s is expected, any other status is not.
[ "$created" -gt 0 ] || die "POST run created no mailbox"
[ "$(grep -c '^status ' "$tmp/post.out")" = 1 ] &&
	grep -q '^status 201: ' "$tmp/post.out" || die "POST run: answers $post_status"
[ -z "$post_errors" ] || die "POST run: $post_errors"
[ -z "$get_errors" ] || die "GET run: $get_errors"
ok=1
