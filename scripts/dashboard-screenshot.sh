#!/usr/bin/env bash
# Renders the dashboard of a ledger to a PNG: starts `leadledger serve` on a free port with a
# temporary read key, screenshots / (or PAGE, e.g. /proposals) in headless Chromium, stops the
# server and revokes the key.
#   scripts/dashboard-screenshot.sh LEDGER OUT.png [PAGE]
set -euo pipefail
if [ $# -ne 2 ] && [ $# -ne 3 ]; then echo "usage: $0 LEDGER OUT.png [PAGE]" >&2; exit 2; fi
LEDGER=$1
OUT=$(realpath -m "$2")
PAGE=${3:-/}
cd "$(dirname "$0")/.."
. scripts/serve-background.sh

SCRATCH=${SCRATCH:-.build-server}
if [ -z "${LEADLEDGER_BIN:-}" ]; then
    swift build --product leadledger --scratch-path "$SCRATCH" >&2
    LEADLEDGER_BIN="$(swift build --scratch-path "$SCRATCH" --show-bin-path)/leadledger"
fi
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || { echo "dashboard-screenshot: chromium is not installed" >&2; exit 2; }

WORK=$(mktemp -d)
SERVER_PID=""
KEY_ID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [ -n "$KEY_ID" ] && "$LEADLEDGER_BIN" keys revoke --ledger "$LEDGER" "$KEY_ID" >/dev/null 2>&1
    rm -rf "$WORK"
}
trap cleanup EXIT

KEY=$("$LEADLEDGER_BIN" keys add --ledger "$LEDGER" --scope read 2>"$WORK/key.err")
KEY_ID=$(sed -n 's/^created key \([0-9a-f]*\).*/\1/p' "$WORK/key.err")
serve_in_background dashboard-screenshot "$LEADLEDGER_BIN" "$WORK" --ledger "$LEDGER"

# Keys never go in URLs: the page is fetched with the key in a header and rendered from a file
# (it loads nothing from anywhere, so it renders the same).
curl -fsS -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT$PAGE" -o "$WORK/dashboard.html"
"$CHROMIUM" --headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$WORK/chromium" \
    --screenshot="$OUT" --window-size=1400,4600 "file://$WORK/dashboard.html" >/dev/null 2>&1
echo "$OUT"
