#!/bin/sh
# Run every built fuzz target for a bounded time on a copy of its seed
# corpus:  tests/fuzz/run.sh BUILD_DIR SECONDS
# A crash, leak or sanitizer report fails the run and leaves the input in
# BUILD_DIR/fuzz/artifacts/.
set -eu
build=$1
secs=$2
here=$(cd "$(dirname "$0")" && pwd)
art="$build/fuzz/artifacts"
mkdir -p "$art"
status=0
for bin in "$build"/fuzz/fuzz_*; do
	[ -x "$bin" ] || continue
	name=$(basename "$bin")
	parser=${name#fuzz_}
	work="$build/fuzz/corpus-run/$parser"
	rm -rf "$work" "$art/$name"-*
	mkdir -p "$work"
	[ -d "$here/corpus/$parser" ] && cp -r "$here/corpus/$parser/." "$work/"
	dict=""
	[ -f "$here/$parser.dict" ] && dict="-dict=$here/$parser.dict"
	echo "fuzz: $name for ${secs}s"
	# shellcheck disable=SC2086
	if ! "$bin" $dict -max_total_time="$secs" -max_len=8192 -timeout=10 \
		-rss_limit_mb=1024 -artifact_prefix="$art/$name-" -print_final_stats=1 \
		"$work" >"$build/fuzz/$name.log" 2>&1; then
		echo "fuzz: $name FAILED (see $build/fuzz/$name.log)" >&2
		# What the target printed before the report, then the report.
		grep -B 5 -m 1 'ERROR:' "$build/fuzz/$name.log" >&2 || true
		tail -n 40 "$build/fuzz/$name.log" >&2
		# The input, so a failure seen only in a CI log can be replayed:
		#   base64 -d > crash; BUILD_DIR/fuzz/NAME crash
		for a in "$art/$name"-*; do
			[ -f "$a" ] || continue
			echo "fuzz: $name input $(basename "$a") as base64:" >&2
			base64 "$a" >&2
		done
		status=1
	else
		grep -E '^stat::number_of_executed_units' "$build/fuzz/$name.log" || true
	fi
done
exit $status
