#!/usr/bin/env bash
# Load test of POST /v1/events: builds release, starts `leadledger serve` on a fresh ledger with an
# append key, runs wrk (64 connections, one event per request) for ~15 s, prints throughput and
# latency, then checks how many events the ledger really holds.
#   scripts/load-test.sh            # DURATION=15s CONNECTIONS=64 THREADS=2 DURABILITY=full by default
#   DURABILITY=no-meta-sync scripts/load-test.sh
#   SCRIPT=cloudevents-batch BATCH=100 CONNECTIONS=16 scripts/load-test.sh   # CloudEvents batches
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/serve-background.sh

DURATION=${DURATION:-15s}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
SCRATCH=${SCRATCH:-.build-server}

command -v wrk >/dev/null || { echo "load-test: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
swift build -c release --product leadledger --scratch-path "$SCRATCH" >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/leadledger"

WORK=$(mktemp -d)
LEDGER="$WORK/load.ledger"
SERVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

SCRIPT=${SCRIPT:-append}
# A CloudEvent's `source` is a URI; a key bound to a ledger source maps it (DESIGN §8.4).
BINDING=()
[ "$SCRIPT" = cloudevents-batch ] && BINDING=(--source signup-form)
KEY=$("$BIN" keys add --ledger "$LEDGER" --scope append "${BINDING[@]}" 2>/dev/null)
serve_in_background load-test "$BIN" "$WORK" --ledger "$LEDGER" --durability "${DURABILITY:-full}"

echo "wrk -t$THREADS -c$CONNECTIONS -d$DURATION, Benchmarks/wrk/$SCRIPT.lua, durability ${DURABILITY:-full}, $(nproc) cores"
LEADLEDGER_KEY="$KEY" wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency -s "Benchmarks/wrk/$SCRIPT.lua" "http://127.0.0.1:$PORT/v1/events"

HEAD=$(curl -s "http://127.0.0.1:$PORT/health" | sed -n 's/.*"head":\([0-9]*\).*/\1/p')
echo "events stored in the ledger: $HEAD"
curl -s -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT/metrics" >/dev/null || true
