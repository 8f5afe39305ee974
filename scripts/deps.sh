#!/bin/sh
# Install the Debian 12 packages Postern needs, only those missing.
#   scripts/deps.sh          build and run dependencies
#   scripts/deps.sh test     plus what the test suite needs (servers, clang, clients)
#   scripts/deps.sh bench    plus the peer stack of bench/ (Postfix, Dovecot)
# Runs as root (apt-get); does nothing when everything is present.
set -eu

run_pkgs="build-essential cmake pkg-config openssl ca-certificates
libssl-dev libsasl2-dev libsasl2-modules libpq-dev libmariadb-dev libsqlite3-dev sqlite3
libmicrohttpd-dev libjansson-dev libpcre2-dev liblmdb-dev libsodium-dev
libcrypt-dev libidn2-dev zlib1g-dev libcurl4-openssl-dev libunbound-dev dns-root-data
libgumbo-dev libopendkim-dev libspf2-dev libpsl-dev publicsuffix"
test_pkgs="libcmocka-dev clang libclang-rt-14-dev python3 postgresql
mariadb-server swaks libnet-ssleay-perl libio-socket-ssl-perl curl dovecot-core
dovecot-imapd dovecot-lmtpd isync neomutt nsd unbound ldnsutils chromium
docker-compose systemd postgrey opendkim opendkim-tools
python3-dkim python3-nacl strace iproute2 python3-yaml"

bench_pkgs="postfix postfix-sqlite dovecot-core dovecot-lmtpd dovecot-sqlite
dovecot-imapd wrk socat postfix-policyd-spf-python nsd unbound ldnsutils
python3 opendkim"

pkgs=$run_pkgs
[ "${1:-}" = test ] && pkgs="$run_pkgs $test_pkgs"
# The browser tests (tests/browser/run.sh) run node and npm: Debian's
# nodejs and npm unless a node with npm is already installed (a
# packaged newer node ships npm itself and conflicts with Debian's npm).
# run.sh then installs playwright-core from package-lock.json (npm ci).
if [ "${1:-}" = test ] && ! command -v npm >/dev/null 2>&1; then
	pkgs="$pkgs nodejs npm"
fi
[ "${1:-}" = bench ] && pkgs="$run_pkgs $bench_pkgs"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "postern: missing Debian packages:$missing (run as root to install)" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Packaged servers must not start system-wide instances: tests start their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
	printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
	chmod 755 /usr/sbin/policy-rc.d
	trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
# Postfix must not ask questions nor configure a system-wide instance.
echo "postfix postfix/main_mailer_type select No configuration" |
	debconf-set-selections
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
