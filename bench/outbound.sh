#!/bin/sh
# SMTP outbound benchmark: Postern's queue and SMTP client against
# Postfix 3.7's, relaying to one smtp-sink per destination domain on
# loopback.  See bench/README.md ("SMTP outbound").
#   bench/outbound.sh                        20,000 x 4 KiB to 100 domains
#   bench/outbound.sh --messages 2000        quick run for development
#   bench/outbound.sh --only postern         or --only postfix
#   bench/outbound.sh --help                 every option
# Programs come from $POSTERN_BUILD_DIR or --build (default ./build).
# Needs root; installs postfix (smtp-source, smtp-sink) when missing,
# with service starts blocked.
set -eu
"$(dirname "$0")/../scripts/deps.sh" bench
exec python3 "$(dirname "$0")/outbound_bench.py" "$@"
