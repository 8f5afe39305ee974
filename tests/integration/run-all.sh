#!/bin/sh
# Run every integration test (tests/integration/test_*) against the
# programs in $POSTERN_BUILD_DIR, with a real PostgreSQL and a real MariaDB
# started for the run on loopback in a temp dir (dbservers.sh) and stopped
# at the end.  Each test gets the servers' coordinates in its environment
# (see dbservers.sh) and exits 0 pass, 77 skip, anything else fail.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
export POSTERN_BUILD_DIR=${POSTERN_BUILD_DIR:-$here/../../build}
export POSTERN_SOURCE_DIR=$(cd "$here/../.." && pwd)
dbdir=$(mktemp -d /tmp/postern-dbservers.XXXXXX)
cleanup() {
	"$here/dbservers.sh" stop "$dbdir" >/dev/null 2>&1 || true
	rm -rf "$dbdir"
}
trap cleanup EXIT
# A signal ends the run (then EXIT cleans up); a bare cleanup would let
# the loop go on to the next test.
trap 'exit 130' INT TERM
eval "$("$here/dbservers.sh" start "$dbdir")"

failed=""
count=0

# C integration tests are ctest entries named *_servers (they skip
# themselves under plain ctest, where no servers run).
echo "--- ctest -R _servers"
if ! ctest --test-dir "$POSTERN_BUILD_DIR" -R '_servers$' --output-on-failure; then
	failed="$failed ctest-servers"
fi
if [ -n "${POSTERN_ASAN_BUILD_DIR:-}" ]; then
	echo "--- ctest -R _servers (ASan + UBSan)"
	if ! ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		ctest --test-dir "$POSTERN_ASAN_BUILD_DIR" -R '_servers$' --output-on-failure; then
		failed="$failed ctest-servers-asan"
	fi
fi
for t in "$here"/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	count=$((count + 1))
	echo "--- $name"
	set +e
	"$t"
	rc=$?
	set -e
	case $rc in
	0) echo "--- $name: passed" ;;
	77) echo "--- $name: skipped" ;;
	*) echo "--- $name: FAILED (exit $rc)"; failed="$failed $name" ;;
	esac
done
# The daemons that parse the most client input run these tests a second
# time as ASan + UBSan builds: a memory error aborts the daemon, which the
# test sees as a dropped connection.
asan_tests="test_imapd_core.py test_imapd_messages.py test_imapd_extra.py test_imap_notify.py"
if [ -n "${POSTERN_ASAN_BUILD_DIR:-}" ]; then
	for name in $asan_tests; do
		echo "--- $name (ASan + UBSan daemons)"
		set +e
		POSTERN_BUILD_DIR=$POSTERN_ASAN_BUILD_DIR \
			ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
			UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
			"$here/$name"
		rc=$?
		set -e
		case $rc in
		0) echo "--- $name (ASan): passed" ;;
		77) echo "--- $name (ASan): skipped" ;;
		*) echo "--- $name (ASan): FAILED (exit $rc)"; failed="$failed $name-asan" ;;
		esac
	done
fi
if [ -n "$failed" ]; then
	echo "integration: failed:$failed" >&2
	exit 1
fi
echo "integration: $count test programs passed"
