#!/bin/bash
# Webmail benchmark: wrk on loopback against postern-webmail in a
# temporary site, 10,000 messages in one INBOX.  See bench/README.md
# ("Webmail (bench/webmail.sh)").
#   bench/webmail.sh                      10,000 messages, 10 s runs
#   bench/webmail.sh --sessions 4         requests spread over 4 logins
#   bench/webmail.sh --help               every option
# Programs come from --build DIR, else $POSTERN_BUILD_DIR, else ./build.
# Needs wrk (Debian package), curl and python3.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/.." && pwd)
build=${POSTERN_BUILD_DIR:-$src/build}
messages=10000
duration=10
threads=1
conns=8
sessions=1
keep=0

usage() {
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	cat <<EOU
Options:
  --build DIR        programs from DIR
  --messages N       messages in the INBOX (default $messages)
  --duration S       seconds per wrk run (default $duration)
  --threads T        wrk threads (default $threads)
  --connections C    wrk connections (default $conns)
  --sessions N       log in N times; requests take the cookies in turn
                     (default $sessions: the daemon serialises one
                     session's requests)
  --keep             keep the temporary folder
EOU
	exit "${1:-0}"
}

while [ $# -gt 0 ]; do
	case $1 in
	--build) build=$2; shift 2 ;;
	--messages) messages=$2; shift 2 ;;
	--duration) duration=$2; shift 2 ;;
	--threads) threads=$2; shift 2 ;;
	--connections) conns=$2; shift 2 ;;
	--sessions) sessions=$2; shift 2 ;;
	--keep) keep=1; shift ;;
	--help | -h) usage 0 ;;
	*) echo "webmail.sh: unknown option $1" >&2; usage 2 >&2 ;;
	esac
done

die() { echo "webmail.sh: FAILED: $*" >&2; exit 1; }
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
command -v curl >/dev/null || die "curl is not installed"
build=$(cd "$build" && pwd)
postern=$build/postern
[ -x "$postern" ] && [ -x "$build/postern-webmail" ] ||
	die "no postern / postern-webmail in $build (--build DIR)"

tmp=$(mktemp -d /tmp/postern-wmbench.XXXXXX)
cfg=$tmp/var
started=0
ok=0
cleanup() {
	[ $started = 1 ] && "$postern" -c "$cfg" stop >/dev/null 2>&1 || true
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

dom=bench.test
user=reader@$dom
password="bench password 1"
pg init
port=$(free_port)
pg config set "webmail_port=$port" stop_timeout=5s "mail_directory=$tmp/mail"
echo 'webmail inet 127.0.0.1:$webmail_port none 1 postern-webmail' >"$cfg/services.cf"
pg domain add $dom
printf '%s\n' "$password" | "$postern" -c "$cfg" mailbox add $user --password-stdin >/dev/null
maildir=$tmp/mail/$dom/reader

# The INBOX written directly as a Maildir (bench/imap_load.py's
# generator: 80% ~3 KB, 15% ~20 KB, 5% ~100 KB plain-text messages).
t0=$(date +%s.%N)
bytes=$(BENCH_DIR=$here python3 -c 'import os, sys
sys.path.insert(0, os.environ["BENCH_DIR"])
import imap_load
print(imap_load.generate_maildir(sys.argv[1], int(sys.argv[2])))' "$maildir" "$messages")
gen_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')

pg start
started=1
base=http://127.0.0.1:$port
for _ in $(seq 100); do
	curl -s -o /dev/null "$base/" && break
	sleep 0.1
done
pid=$("$postern" -c "$cfg" status | awk '$1 == "webmail" { print $4 }')
case $pid in '' | *[!0-9]*) die "webmail pid not found: $pid" ;; esac

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$pid/status"; }
hz=$(getconf CLK_TCK)

# Log in (once per session); the cookie value is the session id.
cookies=""
for i in $(seq "$sessions"); do
	jar=$tmp/jar$i
	code=$(curl -sS -o "$tmp/login.out" -w '%{http_code}' -c "$jar" \
		-H 'Content-Type: application/json' \
		--data "{\"address\": \"$user\", \"password\": \"$password\"}" \
		"$base/api/login")
	[ "$code" = 200 ] || die "login: HTTP $code: $(cat "$tmp/login.out")"
	c=$(awk '$6 == "postern_session" { print $7 }' "$jar")
	[ -n "$c" ] || die "no postern_session cookie"
	cookies=${cookies:+$cookies,}$c
done
first=${cookies%%,*}

# The first list request indexes the INBOX (not measured in the runs).
t0=$(date +%s.%N)
total=$(curl -sS -b "postern_session=$first" "$base/api/folders/INBOX/messages?limit=50" |
	python3 -c 'import json, sys; print(json.load(sys.stdin)["total"])')
first_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
[ "$total" = "$messages" ] || die "INBOX total $total, wanted $messages"
# Every uid, for the view run to cycle through.
python3 - "$base" "$first" "$messages" >"$tmp/uids" <<'EOPY'
import json, sys, urllib.request
base, cookie, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
uids, off = [], 0
while off < n:
    req = urllib.request.Request(
        "%s/api/folders/INBOX/messages?offset=%d&limit=500" % (base, off),
        headers={"Cookie": "postern_session=" + cookie})
    items = json.load(urllib.request.urlopen(req))["items"]
    if not items:
        break
    uids += [it["uid"] for it in items]
    off += len(items)
print("\n".join(str(u) for u in uids))
EOPY
nuids=$(wc -l <"$tmp/uids")
[ "$nuids" -ge "$messages" ] || die "listed $nuids uids, wanted $messages"
rss_ready=$(rss_kb)

# run NAME URL ARGS...: wrk with its own CPU (getrusage of the child).
run_wrk() {
	name=$1 url=$2
	shift 2
	cpu0=$(cpu_ticks)
	python3 -c 'import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    print(r.ru_utime, r.ru_stime, file=f)
sys.exit(rc)' "$tmp/$name.time" \
		wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 30s --latency \
		-s "$here/webmail.lua" "$url" -- "$@" >"$tmp/$name.out" 2>&1 ||
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

# Requests still queued when wrk stops (one session's requests run one
# after another) finish afterwards: wait until the service is idle, so
# that they are not counted in the next run.
settle() {
	for _ in $(seq 120); do
		a=$(cpu_ticks)
		sleep 0.5
		[ "$(cpu_ticks)" = "$a" ] && return 0
	done
}

# One request at a time on the idle service (curl's total time, median
# of 5): the cost of one request without queueing.
seq_ms() {
	for _ in 1 2 3 4 5; do
		curl -sS -o /dev/null -w '%{time_total}\n' -b "postern_session=$first" "$1"
	done | sort -n | awk 'NR == 3 { printf "%.1f", $1 * 1000 }'
}
# One request's time (curl's total, ms).
one_ms() {
	curl -sS -o /dev/null -w '%{time_total}\n' -b "postern_session=$first" "$1" |
		awk '{ printf "%.1f", $1 * 1000 }'
}
settle
# The first request of another sort and of the conversation list build
# that order (the date order and the threads were built by the first
# list request and the uid listing above).
first_from_ms=$(one_ms "$base/api/folders/INBOX/messages?limit=50&sort=from")
first_threads_ms=$(one_ms "$base/api/folders/INBOX/messages?limit=50&threads=1")
uid_mid=$(sed -n "$((nuids / 2))p" "$tmp/uids")
list_seq=$(seq_ms "$base/api/folders/INBOX/messages?limit=50")
from_seq=$(seq_ms "$base/api/folders/INBOX/messages?limit=50&sort=from")
threads_seq=$(seq_ms "$base/api/folders/INBOX/messages?limit=50&threads=1")
deep_seq=$(seq_ms "$base/api/folders/INBOX/messages?limit=50&offset=$((messages / 2))")
view_seq=$(seq_ms "$base/api/folders/INBOX/messages/$uid_mid?mark_seen=0")

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
settle
run_wrk list "$base/api/folders/INBOX/messages?limit=50" "$cookies"
settle
run_wrk from "$base/api/folders/INBOX/messages?limit=50&sort=from" "$cookies"
settle
run_wrk threads "$base/api/folders/INBOX/messages?limit=50&threads=1" "$cookies"
settle
run_wrk view "$base/api/folders/INBOX/messages/?mark_seen=0" "$cookies" "$tmp/uids"
per() { awk -v c="$1" -v n="$2" 'BEGIN { if (n > 0) printf "%.3f", 1000 * c / n; else print "-" }'; }

# The first list request of a new process (the summaries are in the
# index cache, the process has no order state yet): restart, log in.
settle
rss_end=$(rss_kb)
"$postern" -c "$cfg" stop >/dev/null
"$postern" -c "$cfg" start >/dev/null
for _ in $(seq 100); do
	curl -s -o /dev/null "$base/" && break
	sleep 0.1
done
curl -sS -o /dev/null -c "$tmp/jar-restart" -H 'Content-Type: application/json' \
	--data "{\"address\": \"$user\", \"password\": \"$password\"}" "$base/api/login"
first=$(awk '$6 == "postern_session" { print $7 }' "$tmp/jar-restart")
restart_ms=$(one_ms "$base/api/folders/INBOX/messages?limit=50")
restart_next_ms=$(one_ms "$base/api/folders/INBOX/messages?limit=50")

# report NAME TITLE ONE_AT_A_TIME
report() {
	eval "rps=\$${1}_rps p50=\$${1}_p50 p99=\$${1}_p99 reqs=\$${1}_reqs"
	eval "st=\$${1}_status er=\$${1}_errors wc=\$${1}_wrkcpu sc=\$${1}_srvcpu"
	cat <<EOB

$2
  one at a time    $3 ms (median of 5, idle service)
  requests/s       $rps
  latency p50/p99  $p50 / $p99
  requests         $reqs  ${st}${er}
  server CPU       $sc s ($(per "$sc" "$reqs") ms per request)
  wrk CPU          $wc s (user + system)
EOB
}

cat <<EOR
Webmail benchmark: $(nproc) CPUs, wrk -t$threads -c$conns, ${duration}s per run, $sessions session(s)
  build            $build
  service          postern-webmail pid $pid, 127.0.0.1:$port
  INBOX            $messages messages, $bytes bytes (written in ${gen_s} s);
                   first list request (indexing) ${first_s} s
  first requests   sort=from ${first_from_ms} ms, threads=1 ${first_threads_ms} ms
                   (their order built); after a restart: first list
                   ${restart_ms} ms, the next ${restart_next_ms} ms
  list offset=$((messages / 2)) ${deep_seq} ms one at a time
  load average     $load_start at start, $(cut -d' ' -f1-3 /proc/loadavg) at end (shared machine)
EOR
report list "GET /api/folders/INBOX/messages?limit=50" "$list_seq"
report from "GET /api/folders/INBOX/messages?limit=50&sort=from" "$from_seq"
report threads "GET /api/folders/INBOX/messages?limit=50&threads=1" "$threads_seq"
report view "GET /api/folders/INBOX/messages/{uid}?mark_seen=0 (cycling $nuids uids)" "$view_seq"
echo
echo "Resident memory of postern-webmail: ${rss_ready} kB ready, ${rss_end} kB at the end of the runs"

for r in list from threads view; do
	eval "st=\$${r}_status reqs=\$${r}_reqs er=\$${r}_errors"
	case "$st" in *"status 200: $reqs "*) ;; *) die "$r run: not all 200: $st $er" ;; esac
done
ok=1
