#!/bin/sh
# SMTP inbound benchmark: Postern against Postfix 3.7 + Dovecot 2.3 LMTP on
# loopback.  See bench/README.md.
#   bench/smtp-accept.sh                       20,000 x 4 KiB, 20 sessions
#   bench/smtp-accept.sh --messages 2000       quick run for development
#   bench/smtp-accept.sh --help                every option
# Programs come from $POSTERN_BUILD_DIR or --build (default ./build).
# Needs root; installs the peer's Debian packages when missing (postfix,
# postfix-sqlite, dovecot-core, dovecot-lmtpd, dovecot-sqlite) with service
# starts blocked, so no system-wide Postfix or Dovecot ever runs.
set -eu
"$(dirname "$0")/../scripts/deps.sh" bench
exec python3 "$(dirname "$0")/smtp_accept.py" "$@"
