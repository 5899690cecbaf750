#!/usr/bin/env bash
# Outbound delivery throughput: a fresh ledger holding EVENTS lead.captured events, a subscription
# from position 0 to a local receiver (Python, threaded, answers 200 at once and counts the events
# of each delivery), then `leadledger serve` (release) delivering them; prints events/s from the
# server's start until the receiver holds every event.
#   scripts/outbound-throughput.sh          # EVENTS=20000 by default; SCRATCH=.build-server
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/serve-background.sh

EVENTS=${EVENTS:-20000}
SCRATCH=${SCRATCH:-.build-server}
swift build -c release --product leadledger --scratch-path "$SCRATCH" >&2
BIN="$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)/leadledger"

WORK=$(mktemp -d)
LEDGER="$WORK/out.ledger"
SERVER_PID="" RECEIVER_PID=""
cleanup() {
    [ -n "$SERVER_PID" ] && kill -TERM "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    [ -n "$RECEIVER_PID" ] && kill "$RECEIVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

python3 - "$WORK" <<'PY' &
import http.server, json, sys, threading
count = 0
lock = threading.Lock()
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with lock:
            count += len(json.loads(body))
            open(sys.argv[1] + "/received", "w").write(str(count))
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
open(sys.argv[1] + "/port", "w").write(str(server.server_address[1]))
server.serve_forever()
PY
RECEIVER_PID=$!
for _ in $(seq 1 50); do [ -s "$WORK/port" ] && break; sleep 0.1; done
RECEIVER_PORT=$(cat "$WORK/port")

"$BIN" keys add --ledger "$LEDGER" --scope admin >/dev/null 2>&1
python3 -c "
import uuid
for i in range($EVENTS):
    print('{\"id\":\"%s\",\"type\":\"lead.captured\",\"lead\":\"T%d\",\"occurredAt\":\"2026-03-02T14:05:00Z\",\"source\":\"bench\",\"data\":{\"channel\":\"web\"}}' % (uuid.uuid4(), i))
" > "$WORK/events.ndjson"
"$BIN" append --ledger "$LEDGER" "$WORK/events.ndjson" >/dev/null
"$BIN" subscriptions add --ledger "$LEDGER" "http://127.0.0.1:$RECEIVER_PORT/hook" --types lead.captured --from 0 >/dev/null 2>&1

START=$(date +%s.%N)
serve_in_background outbound-throughput "$BIN" "$WORK" --ledger "$LEDGER"
# The receiver rewrites the count file; a read between truncate and write sees it empty.
until received=$(cat "$WORK/received" 2>/dev/null); [ "${received:-0}" -ge "$EVENTS" ] 2>/dev/null; do sleep 0.05; done
END=$(date +%s.%N)
python3 -c "s=$END-$START; print('delivered $EVENTS events in %.2f s: %.0f events/s (batches of 100, one subscription, $(nproc) cores)' % (s, $EVENTS/s))"
