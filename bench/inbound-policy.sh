#!/bin/sh
# Inbound policy benchmark: Postern's smtpd against Postfix 3.7's under the
# same restriction set (non-FQDN checks, reject_unknown_sender_domain,
# cidr and hash access maps, an RBL, SPF through policyd-spf), DNS from
# tests/integration/dnsserver.py.  See bench/README.md ("Inbound policy").
#   bench/inbound-policy.sh                     10,000 x 4 KiB, 20 sessions
#   bench/inbound-policy.sh --messages 2000     quick run for development
#   bench/inbound-policy.sh --help              every option
# Programs come from $POSTERN_BUILD_DIR or --build (default ./build).
# Needs root.  Runs in a private mount namespace (unshare -m) whose
# /etc/resolv.conf names the benchmark's resolver (127.0.0.153), so
# Postfix and policyd-spf, which use the system resolver, see the test
# zones; nothing outside the namespace changes.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "${POSTERN_BENCH_NS:-}" != 1 ]; then
	"$here/../scripts/deps.sh" bench
	exec unshare -m env POSTERN_BENCH_NS=1 sh "$here/inbound-policy.sh" "$@"
fi
mount --make-rprivate /
rc=$(mktemp /tmp/postern-polbench-resolv.XXXXXX)
echo "nameserver 127.0.0.153" > "$rc"
chmod 644 "$rc"
mount --bind "$rc" /etc/resolv.conf
exec python3 "$here/inbound_policy.py" "$@"
