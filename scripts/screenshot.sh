#!/usr/bin/env bash
# Renders an HTML file (a run's report.html, a compare.html) to a PNG with headless Chromium:
#   scripts/screenshot.sh REPORT.html OUT.png [WIDTH HEIGHT]
# Installs Debian's `chromium` package first when /usr/bin/chromium is missing.
set -euo pipefail
if [[ $# -lt 2 || $# -gt 4 ]]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH HEIGHT]" >&2
    exit 2
fi
html=$1
out=$2
width=${3:-1280}
height=${4:-2400}
if [[ ! -f $html ]]; then
    echo "$0: no such file: $html" >&2
    exit 1
fi
chromium=/usr/bin/chromium
if [[ ! -x $chromium ]]; then
    sudo=""
    if [[ $(id -u) -ne 0 ]]; then sudo=sudo; fi
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
html_abs=$(cd "$(dirname "$html")" && pwd)/$(basename "$html")
mkdir -p "$(dirname "$out")"
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
rm -f "$out_abs"
"$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --screenshot="$out_abs" \
    --window-size="$width,$height" "file://$html_abs" 2>/dev/null || true
if [[ ! -s $out_abs ]]; then
    echo "$0: chromium wrote no screenshot to $out_abs" >&2
    exit 1
fi
echo "$out_abs"
