#!/usr/bin/env bash
# LeadLedger's replicated mode on one machine: a PostgreSQL 15 cluster on loopback (a primary and
# two synchronous standbys made with pg_basebackup, Debian's binaries, in a temporary folder) as the
# log of record, and two LeadLedger nodes (`serve --cluster`) each keeping its LMDB copy.
# The demo history goes into the tenant (`cluster migrate`), both nodes catch up from it, new events
# are appended through node 1 over HTTP, and node 2 serves the same trends. Everything stops on exit.
#   scripts/cluster-demo.sh [path/to/leadledger]     (LEADS=5000 by default)
set -euo pipefail

BIN=${1:-$(swift build --show-bin-path)/leadledger}
LEADS=${LEADS:-5000}
PGBIN=/usr/lib/postgresql/15/bin
[ -x "$BIN" ] || { echo "cluster-demo: $BIN not found (swift build first)" >&2; exit 1; }
[ -x "$PGBIN/initdb" ] || { echo "cluster-demo: PostgreSQL 15 is not installed (apt-get install postgresql-15)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/leadledger-cluster-demo.XXXXXX)
chmod 755 "$WORK"
PIDS=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    for server in standby2 standby1 primary; do
        [ -f "$WORK/pg/$server/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/$server" -m immediate -w stop >/dev/null 2>&1 || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P0=$(free_port); P1=$(free_port); P2=$(free_port)
mkdir -p "$WORK/pg"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$WORK/pg"

echo "== PostgreSQL: primary on $P0, synchronous standbys on $P1 and $P2 (in $WORK/pg)"
as_pg "$PGBIN/initdb" -D "$WORK/pg/primary" -U leadledger --auth=trust -E UTF8 >/dev/null
cat >>"$WORK/pg/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $P0
unix_socket_directories = '$WORK/pg'
wal_level = replica
max_wal_senders = 10
hot_standby = on
CONF
echo "host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust" >>"$WORK/pg/primary/pg_hba.conf"
as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/primary" -l "$WORK/pg/primary.log" -w start >/dev/null
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$P0" -U leadledger -d postgres -qc "CREATE DATABASE leadledger"
for n in 1 2; do
    port=$([ $n = 1 ] && echo "$P1" || echo "$P2")
    as_pg "$PGBIN/pg_basebackup" -h 127.0.0.1 -p "$P0" -U leadledger -D "$WORK/pg/standby$n" -R -X stream -c fast
    echo "port = $port
primary_conninfo = 'host=127.0.0.1 port=$P0 user=leadledger application_name=standby$n'" >>"$WORK/pg/standby$n/postgresql.auto.conf"
    as_pg "$PGBIN/pg_ctl" -D "$WORK/pg/standby$n" -l "$WORK/pg/standby$n.log" -w start >/dev/null
done
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$P0" -U leadledger -d leadledger -qc "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (standby1, standby2)'"
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$P0" -U leadledger -d leadledger -qAtc "SELECT pg_reload_conf()" >/dev/null
URL="postgresql://leadledger@127.0.0.1:$P0,127.0.0.1:$P1,127.0.0.1:$P2/leadledger"

echo "== leadledger cluster init"
"$BIN" cluster init --cluster "$URL" --tenant demo

echo "== the demo history ($LEADS leads) into tenant demo"
"$BIN" demo --ledger "$WORK/history.ledger" --leads "$LEADS" >/dev/null
# While the history is copied (2000 records a transaction), the standbys' replay lag is sampled.
( while :; do
    as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$P0" -U leadledger -d leadledger -qAtc \
        "SELECT coalesce(extract(epoch FROM max(replay_lag)) * 1000, 0) FROM pg_stat_replication" 2>/dev/null || true
    sleep 0.2
done >"$WORK/lag.samples" ) &
SAMPLER=$!
PIDS+=("$SAMPLER")
START=$(date +%s.%N)
"$BIN" cluster migrate --ledger "$WORK/history.ledger" --cluster "$URL" --tenant demo | grep -v '^copied up to'
END=$(date +%s.%N)
kill "$SAMPLER" 2>/dev/null || true
python3 - "$WORK/lag.samples" "$START" "$END" <<'PY'
import sys
samples = sorted(float(x) for x in open(sys.argv[1]).read().split() if x.strip())
took = float(sys.argv[3]) - float(sys.argv[2])
if samples:
    print(f"migrated in {took:.2f} s; standby replay lag while copying: median {samples[len(samples)//2]:.1f} ms, "
          f"max {samples[-1]:.1f} ms ({len(samples)} samples)")
PY
HEAD=$("$BIN" cluster status --cluster "$URL" | sed -n 's/^tenant demo  position \([0-9]*\).*/\1/p')

source "$(dirname "$0")/serve-background.sh"
start_node() {
    local n=$1 start end
    mkdir -p "$WORK/node$n"
    start=$(date +%s.%N)
    serve_in_background "node $n" "$BIN" "$WORK/node$n" --ledger "$WORK/node$n/copy.ledger" --cluster "$URL" --tenant demo --allow-anonymous
    end=$(date +%s.%N)
    PIDS+=("$SERVER_PID")
    echo "node $n on port $PORT: a fresh copy caught up with $HEAD records in $(python3 -c "print(f'{$end-$start:.2f}')") s" \
        "($(python3 -c "print(f'{$HEAD/($end-$start):,.0f}')") records/s, startup included)"
}
echo "== two nodes, each a fresh LMDB copy of the tenant"
start_node 1; PORT1=$PORT
start_node 2; PORT2=$PORT

echo "== three events appended through node 1 (HTTP)"
LEAD="cluster-demo-$(date +%s)"
cat >"$WORK/events.ndjson" <<NDJSON
{"id":"$(python3 -c 'import uuid;print(uuid.uuid4())')","type":"lead.captured","lead":"$LEAD","occurredAt":"2026-11-02T09:00:00Z","source":"hubspot","data":{"channel":"paid_search","campaign":"cluster-demo","attributes":{"country":"US"}}}
{"id":"$(python3 -c 'import uuid;print(uuid.uuid4())')","type":"lead.handed_off","lead":"$LEAD","occurredAt":"2026-11-02T10:00:00Z","source":"hubspot","data":{"owner":"rep:demo","definition":1}}
{"id":"$(python3 -c 'import uuid;print(uuid.uuid4())')","type":"lead.accepted","lead":"$LEAD","occurredAt":"2026-11-02T11:00:00Z","source":"salesforce","data":{}}
NDJSON
curl -sS -X POST -H 'Content-Type: application/x-ndjson' --data-binary @"$WORK/events.ndjson" "http://127.0.0.1:$PORT1/v1/events"
echo
sleep 1
echo "== trends by channel, from node 1 and from node 2"
curl -sS "http://127.0.0.1:$PORT1/v1/trends?by=channel" >"$WORK/trends1.json"
curl -sS "http://127.0.0.1:$PORT2/v1/trends?by=channel" >"$WORK/trends2.json"
for n in 1 2; do
    python3 - "$WORK/trends$n.json" "$n" <<'PY'
import json, sys
from collections import defaultdict
trends = json.load(open(sys.argv[1]))
totals = defaultdict(lambda: [0, 0, 0])
for row in trends["rows"]:
    t = totals[row["group"]]
    t[0] += row["handedOff"]; t[1] += row["accepted"]; t[2] += row["rejected"]
print(f"node {sys.argv[2]} (as of position {trends['asOf']['position']}): " +
      ", ".join(f"{g} {h} handed off / {a} accepted / {r} rejected" for g, (h, a, r) in sorted(totals.items())))
PY
done
if cmp -s "$WORK/trends1.json" "$WORK/trends2.json"; then echo "node 1 and node 2 answer the same trends"; else
    echo "cluster-demo: the nodes' trends differ" >&2; exit 1; fi

echo "== heads"
for p in "$PORT1" "$PORT2"; do
    curl -sS "http://127.0.0.1:$p/health" | python3 -c '
import json, sys
h = json.load(sys.stdin); n = h["node"]
print("node on :%s: head %s, log of record %s, %s behind, via %s, %s records fetched"
      % (sys.argv[1], h["head"], n.get("clusterHead"), n.get("positionsBehind"), n.get("server"), n["recordsFetched"]))' "$p"
done
"$BIN" cluster status --cluster "$URL" | grep '^tenant demo'
echo "== replication (pg_stat_replication on the primary)"
as_pg "$PGBIN/psql" -h 127.0.0.1 -p "$P0" -U leadledger -d leadledger -c "SELECT application_name, state, sync_state, replay_lag FROM pg_stat_replication ORDER BY 1"
