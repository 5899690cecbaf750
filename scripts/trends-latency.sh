#!/usr/bin/env bash
# Latency of GET /v1/trends on a large ledger, served from the server's one shared, caught-up replay:
# builds release, generates the seeded demo history with LEADS leads (1,000,000 by default), starts
# `leadledger serve`, times the first request (which brings the shared replay up to the head), then
# runs wrk against /v1/trends with the ledger at rest and again while two connections append.
#   scripts/trends-latency.sh            # LEADS=1000000 DURATION=20s CONNECTIONS=4
#   LEADS=100000 scripts/trends-latency.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/serve-background.sh

LEADS=${LEADS:-1000000}
DURATION=${DURATION:-20s}
CONNECTIONS=${CONNECTIONS:-4}
SCRATCH=${SCRATCH:-.build-server}
QUERY=${QUERY:-bucket=week&by=channel}

command -v wrk >/dev/null || { echo "trends-latency: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
swift build -c release --product leadledger --scratch-path "$SCRATCH" >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/leadledger"

WORK=$(mktemp -d)
LEDGER="$WORK/trends.ledger"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "generating the demo history with $LEADS leads"
/usr/bin/time -f "demo: %e s, %M KiB peak resident" "$BIN" demo --ledger "$LEDGER" --leads "$LEADS" >/dev/null
"$BIN" stats --ledger "$LEDGER" | head -5
READ_KEY=$("$BIN" keys add --ledger "$LEDGER" --scope read 2>/dev/null)
APPEND_KEY=$("$BIN" keys add --ledger "$LEDGER" --scope append 2>/dev/null)
serve_in_background trends-latency "$BIN" "$WORK" --ledger "$LEDGER"
URL="http://127.0.0.1:$PORT/v1/trends?$QUERY"

curl -s -o /dev/null -w "first request (shared replay caught up from the stored checkpoint): %{time_total} s, status %{http_code}\n" \
    -H "Authorization: Bearer $READ_KEY" "$URL"
curl -s -o /dev/null -w "second request: %{time_total} s, %{size_download} bytes\n" -H "Authorization: Bearer $READ_KEY" "$URL"
echo "server resident memory: $(awk '/VmRSS/ {print $2, $3}' /proc/$SERVER_PID/status)"

echo "wrk -t2 -c$CONNECTIONS -d$DURATION GET /v1/trends?$QUERY, ledger at rest, $(nproc) cores"
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $READ_KEY" "$URL" | grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx'

echo "the same while two connections append one event per request"
LEADLEDGER_KEY="$APPEND_KEY" wrk -t1 -c2 -d"$DURATION" -s Benchmarks/wrk/append.lua "http://127.0.0.1:$PORT/v1/events" \
    >"$WORK/append.out" 2>&1 &
APPENDER=$!
sleep 1
wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -H "Authorization: Bearer $READ_KEY" "$URL" | grep -E 'Latency|50%|90%|99%|Requests/sec|Non-2xx'
wait "$APPENDER"
grep -E 'acknowledged|latency' "$WORK/append.out"
echo "server resident memory: $(awk '/VmRSS/ {print $2, $3}' /proc/$SERVER_PID/status)"
