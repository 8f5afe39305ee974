#!/bin/sh
# Interop with a real Dovecot: hashes written by `doveadm pw` must verify
# with our password_verify (and a wrong password must not), and hashes
# written by our password_hash must verify with `doveadm pw -t`.
# Skips (exit 77) when doveadm (Debian package dovecot-core) is absent.
# Needs no running dovecot.  Usage: test_password_doveadm.sh PASSWORD_TOOL
set -u
tool=$1
if ! command -v doveadm >/dev/null 2>&1; then
	echo "doveadm not installed (apt-get install dovecot-core): skipped"
	exit 77
fi
pass=0
failed=0
ok() { pass=$((pass + 1)); }
bad() { failed=$((failed + 1)); echo "FAIL: $*"; }

pw='s3cret pässwörd'
for scheme in ARGON2ID ARGON2I BLF-CRYPT SHA512-CRYPT SHA256-CRYPT \
	MD5-CRYPT CRYPT SSHA512 SHA512 SSHA256 SHA256 PLAIN; do
	hash=$(doveadm pw -s "$scheme" -p "$pw" 2>/dev/null) ||
		{ bad "doveadm pw -s $scheme failed"; continue; }
	if printf '%s\n' "$pw" | "$tool" verify "$hash"; then ok
	else bad "ours rejects doveadm's $hash"; fi
	printf '%s\n' "wrong" | "$tool" verify "$hash"
	if [ $? -eq 1 ]; then ok
	else bad "ours accepts a wrong password for $hash"; fi
done

for scheme in ARGON2ID BLF-CRYPT SHA512-CRYPT SHA256-CRYPT; do
	hash=$(printf '%s\n' "$pw" | "$tool" hash "$scheme") ||
		{ bad "password_hash $scheme failed"; continue; }
	if doveadm pw -t "$hash" -p "$pw" >/dev/null 2>&1; then ok
	else bad "doveadm rejects our $hash"; fi
	if doveadm pw -t "$hash" -p wrong >/dev/null 2>&1; then
		bad "doveadm accepts a wrong password for our $hash"
	else ok; fi
done

echo "$pass passed, $failed failed"
[ "$failed" -eq 0 ]
