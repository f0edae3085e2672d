#!/usr/bin/env bash
# report.sh - `vmsync run --report` makes a page that renders: headless
# Chromium screenshots it, and the picture must show plots, not a blank
# page.  Skips (77) when Chromium is missing and cannot be installed.
set -u
bin=$1
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin" run --guest-mem 16M --duration 2s --quiet --report "$tmp/r.html" >/dev/null ||
	{ echo "FAIL: the run failed"; exit 1; }
n=$(grep -c "<polyline" "$tmp/r.html")
[ "$n" -ge 9 ] || { echo "FAIL: $n plot lines in the page, want 9"; exit 1; }
grep -q "http://\|https://" <(grep -v 'xmlns="http://www.w3.org/2000/svg"' "$tmp/r.html") &&
	{ echo "FAIL: the page refers to the network"; exit 1; }

chrome=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chrome" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "installing chromium (Debian package) for this test"
	DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium \
		>/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 &&
		DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq \
			chromium >/dev/null 2>&1; }
	chrome=$(command -v chromium || true)
fi
if [ -z "$chrome" ]; then
	echo "skip: no Chromium, and it could not be installed"
	exit 77
fi
timeout 120 "$chrome" --headless --no-sandbox --disable-gpu --disable-quic \
	--no-first-run --disable-background-networking --disable-component-update \
	--disable-sync --user-data-dir="$tmp/profile" --window-size=900,1100 \
	--screenshot="$tmp/shot.png" "file://$tmp/r.html" >/dev/null 2>&1
[ -s "$tmp/shot.png" ] || { echo "FAIL: no screenshot"; exit 1; }
python3 "$here/png-ink.py" "$tmp/shot.png" 0.02 || exit 1
[ -n "${VMS_KEEP_SCREENSHOT:-}" ] && cp "$tmp/shot.png" "$VMS_KEEP_SCREENSHOT"
echo "1 passed, 0 failed"
