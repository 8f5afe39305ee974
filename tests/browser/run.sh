#!/bin/sh
# The browser tests (issue 6): headless Chromium (Debian's /usr/bin/chromium)
# driven by Playwright (playwright-core from npm) against a real Postern
# site with the webmail, started and stopped by driver.py.
#   tests/browser/run.sh                  scenario.mjs and hostile.mjs
#   tests/browser/run.sh hostile.mjs      one script
# Programs from $POSTERN_BUILD_DIR (default ./build).  Screenshots, step
# results and, on failure, the site's log go to tests/browser/artifacts/.
# Exit 0 pass, 1 fail, 77 skip (no programs built).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export POSTERN_BUILD_DIR=${POSTERN_BUILD_DIR:-$root/build}
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
for tool in node npm python3 "$CHROMIUM"; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "browser tests: $tool missing (scripts/deps.sh test installs it)" >&2
		exit 1
	fi
done
# The UI's modules parse, and its page has nothing the CSP would block
# (inline script, handler attributes, <style>, style attributes).
static=$root/webmail/static
for js in "$static"/*.js; do
	node --input-type=module --check <"$js" ||
		{ echo "browser tests: syntax error in $js" >&2; exit 1; }
done
if grep -nE '<script( [^>]*)?>[^<]|<script>|[[:space:]]on[a-z]+=|<style|[[:space:]]style=' \
	"$static"/*.html; then
	echo "browser tests: inline script or style in webmail/static/*.html (CSP)" >&2
	exit 1
fi
# playwright-core at the version of package-lock.json; nothing else is
# fetched (no browser download: the Debian package is the browser).
if [ ! -d "$here/node_modules/playwright-core" ]; then
	(cd "$here" && npm ci --no-audit --no-fund --ignore-scripts) || exit 1
fi
exec python3 "$here/driver.py" "$@"
