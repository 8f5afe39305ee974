#!/bin/sh
# Webmail search benchmark: GET /api/search on one user with 100,000
# messages (INBOX 60,000, four folders of 10,000) answered from the
# full-text index; hit counts checked against the generated messages.
#   bench/webmail-search.sh                     100,000 messages
#   bench/webmail-search.sh --messages 10000    quicker
#   bench/webmail-search.sh --help              every option
# Programs come from --build DIR, else $POSTERN_BUILD_DIR, else ./build
# (use RelWithDebInfo).  Needs python3.  See bench/README.md.
set -eu
exec python3 "$(dirname "$0")/webmail_search.py" "$@"
