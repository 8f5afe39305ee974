#!/bin/sh
# IMAP load benchmark: Postern against Dovecot 2.3 on loopback, serving
# copies of the same Maildir.  See bench/README.md ("IMAP load").
#   bench/imap-load.sh                              10,000 messages, 50 clients,
#                                                   idle memory at 1,000 and 10,000
#   bench/imap-load.sh --messages 1000 --mem-conns 200 --seconds 5   quick
#   bench/imap-load.sh --hibernate                  Dovecot with imap-hibernate
#   bench/imap-load.sh --help                       every option
# Programs come from $POSTERN_BUILD_DIR (default ./build).  Needs root
# (Dovecot runs as root, its users as nobody); installs dovecot-imapd
# when missing (scripts/deps.sh bench), with service starts blocked.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
"$here/../scripts/deps.sh" bench
export POSTERN_BUILD_DIR=${POSTERN_BUILD_DIR:-$here/../build}
# 10,000 connections need as many descriptors in the generator and in the
# servers (which inherit this limit).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec python3 "$here/imap_load.py" "$@"
