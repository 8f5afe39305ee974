#!/bin/sh
# Full-text search benchmark: Postern's index against Dovecot 2.3's SEARCH
# without an FTS plugin (a scan), on one mailbox of 100,000 messages.
#   bench/fts-search.sh                    100,000 messages
#   bench/fts-search.sh --messages 10000   quicker
#   bench/fts-search.sh --help             every option
# Programs come from $POSTERN_BUILD_DIR or --build (default ./build).
set -eu
"$(dirname "$0")/../scripts/deps.sh" bench
exec python3 "$(dirname "$0")/fts_search.py" "$@"
