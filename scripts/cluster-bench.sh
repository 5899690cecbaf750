#!/usr/bin/env bash
# Durable appends through the PostgreSQL log of record beside embedded LMDB, and the replication
# lag under that load. Starts a PostgreSQL 15 primary and one synchronous standby (Debian's
# packages) on loopback in a temporary folder, runs the "cluster" benchmarks in release with the
# address in LEADLEDGER_BENCH_CLUSTER, samples pg_stat_replication every 200 ms meanwhile, prints a
# summary of the lag, and stops and removes the servers.
#
#   scripts/cluster-bench.sh                 # the benchmarks whose names start with "cluster"
#   scripts/cluster-bench.sh 'cluster 64.*'  # a narrower filter
#
# fsync stays on (unlike the test harness): these are durable appends on both sides.
set -euo pipefail

filter=${1:-cluster.*}
bin=/usr/lib/postgresql/15/bin
[ -x "$bin/postgres" ] || { echo "PostgreSQL 15 is not installed: apt-get install postgresql-15" >&2; exit 1; }
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(mktemp -d /tmp/leadledger-cluster-bench.XXXXXX)
chmod 755 "$root"
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
[ "$(id -u)" = 0 ] && chown postgres:postgres "$root"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
primary_port=$(free_port)
standby_port=$(free_port)
sampler=""

cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
    for dir in "$root/standby1" "$root/primary"; do
        [ -f "$dir/postmaster.pid" ] && as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    done
    rm -rf "$root"
}
trap cleanup EXIT

as_pg "$bin/initdb" -D "$root/primary" -U leadledger --auth=trust -E UTF8 >/dev/null
cat >>"$root/primary/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $primary_port
unix_socket_directories = '$root'
wal_level = replica
max_wal_senders = 10
hot_standby = on
max_connections = 400
shared_buffers = 128MB
synchronous_commit = on
CONF
printf 'host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n' >>"$root/primary/pg_hba.conf"
as_pg "$bin/pg_ctl" -D "$root/primary" -l "$root/primary.log" -w start >/dev/null
as_pg "$bin/psql" -h 127.0.0.1 -p "$primary_port" -U leadledger -d postgres -qc "CREATE DATABASE leadledger"
as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U leadledger -D "$root/standby1" -R -X stream -c fast
cat >>"$root/standby1/postgresql.auto.conf" <<CONF
port = $standby_port
primary_conninfo = 'host=127.0.0.1 port=$primary_port user=leadledger application_name=standby1'
CONF
as_pg "$bin/pg_ctl" -D "$root/standby1" -l "$root/standby1.log" -w start >/dev/null
psql_primary() { as_pg "$bin/psql" -h 127.0.0.1 -p "$primary_port" -U leadledger -d leadledger -v ON_ERROR_STOP=1 -At "$@"; }
psql_primary -c "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (standby1)'" >/dev/null
psql_primary -c "SELECT pg_reload_conf()" >/dev/null
sleep 1
echo "PostgreSQL 15: primary 127.0.0.1:$primary_port, synchronous standby 127.0.0.1:$standby_port ($(psql_primary -c "SELECT sync_state FROM pg_stat_replication"))"

export LEADLEDGER_BENCH_CLUSTER="postgresql://leadledger@127.0.0.1:$primary_port,127.0.0.1:$standby_port/leadledger"
lag="$root/lag.csv"
(
    while sleep 0.2; do
        psql_primary -F, -c "SELECT extract(epoch FROM now()), COALESCE(extract(epoch FROM write_lag) * 1000, 0), COALESCE(extract(epoch FROM replay_lag) * 1000, 0), pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn) FROM pg_stat_replication" 2>/dev/null || true
    done
) >"$lag" &
sampler=$!

cd "$here/Benchmarks"
swift package benchmark --filter "$filter"

kill "$sampler" 2>/dev/null || true
sampler=""
echo
echo "Replication lag sampled every 200 ms during the run (pg_stat_replication, standby1):"
python3 - "$lag" <<'PY'
import sys
rows = [line.strip().split(",") for line in open(sys.argv[1]) if line.count(",") == 3]
if not rows:
    print("  no samples"); sys.exit()
def summary(name, values, unit):
    values = sorted(values)
    pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    print(f"  {name}: p50 {pick(0.5):.2f} {unit}, p99 {pick(0.99):.2f} {unit}, max {values[-1]:.2f} {unit}")
busy = [r for r in rows if float(r[1]) > 0 or float(r[2]) > 0]
print(f"  {len(rows)} samples, {len(busy)} while the standby had WAL to confirm")
if busy:
    summary("write_lag", [float(r[1]) for r in busy], "ms")
    summary("replay_lag", [float(r[2]) for r in busy], "ms")
summary("replay backlog", [float(r[3]) / 1024 for r in rows], "KiB")
PY
