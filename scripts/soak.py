#!/usr/bin/env python3
"""LeadLedger soak: SIGKILL trials against the CLI and the server, then a mixed load.

    scripts/soak.py BIN [--trials 100] [--minutes 30] [--json OUT]

Part 1, SIGKILL trials (half against `leadledger append`, half against `leadledger serve`):
  - CLI: a batch of 50,000 events is appended by a child process killed with SIGKILL at a random
    moment. Afterwards `verify` must pass and the batch must be stored whole or not at all; when the
    child had printed its acknowledgement, it must be stored.
  - server: 8 clients append one-event batches as fast as they can; the server is killed with SIGKILL
    at a random moment. Every event whose 201 reached a client must be in the ledger after a restart,
    and `verify` must pass.
Part 2, mixed load for --minutes: appenders, analysts (trends, impact, what-if), event-stream readers,
key changes (create and revoke over HTTP and with the CLI beside the server) and a /health prober.
At the end every acknowledged event must be stored, the ledger must verify, and revoked keys must be
refused.

Prints a JSON summary (lost events, /health p50/p99/max under load, request counts) and exits
non-zero when an event was lost, a check failed or a process died by a signal it was not sent.
Only the Python standard library is used; every request goes to 127.0.0.1.
"""

import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`leadledger serve` on loopback, started and stopped by the soak."""

    def __init__(self, binary, ledger, work):
        self.binary, self.ledger, self.work = binary, ledger, work
        self.process = None
        self.port = None

    def start(self):
        self.port = free_port()
        self.log = open(os.path.join(self.work, "serve.log"), "ab")
        self.process = subprocess.Popen(
            [self.binary, "serve", "--ledger", self.ledger, "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                status, _ = request(self.port, "GET", "/health", timeout=1)
                if status == 200:
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode} at start")
            time.sleep(0.05)
        raise RuntimeError("the server did not answer /health within 30 s")

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self.log.close()

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise RuntimeError("the server did not stop within 60 s of SIGTERM")
        self.log.close()
        if code != 0:
            raise RuntimeError(f"the server exited with {code} after SIGTERM")


def request(port, method, path, body=None, key=None, content_type="application/json", timeout=120):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        headers = {}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if body is not None:
            headers["Content-Type"] = content_type
            if isinstance(body, str):
                body = body.encode()
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def run(binary, *arguments, stdin=None, check=True):
    result = subprocess.run([binary, *arguments], input=stdin, capture_output=True, text=True)
    if result.returncode < 0:
        raise RuntimeError(f"`leadledger {' '.join(arguments)}` died by signal {-result.returncode}")
    if check and result.returncode != 0:
        raise RuntimeError(f"`leadledger {' '.join(arguments)}` exited {result.returncode}: {result.stderr}")
    return result


def event(lead, kind="lead.captured", data=None, at="2026-03-02T14:05:00Z", source="soak"):
    return {"id": str(uuid.uuid4()), "type": kind, "lead": lead, "occurredAt": at, "source": source,
            "data": data if data is not None else {"channel": random.choice(["email", "paid", "webinar"])}}


def stored_ids(binary, ledger):
    """Every event id the ledger holds, read back over a fresh server's /v1/events pages."""
    ids = set()
    work = tempfile.mkdtemp(prefix="soak-read-")
    key = run(binary, "keys", "add", "--ledger", ledger, "--scope", "read").stdout.strip()
    server = Server(binary, ledger, work)
    server.start()
    try:
        after = 0
        while True:
            status, body = request(server.port, "GET", f"/v1/events?after={after}&limit=10000", key=key)
            if status != 200:
                raise RuntimeError(f"/v1/events answered {status}: {body[:200]!r}")
            page = json.loads(body)
            ids.update(e["id"] for e in page["events"])
            if not page["events"]:
                return ids
            after = page["next"]
    finally:
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


def verify(binary, ledger):
    result = run(binary, "verify", "--ledger", ledger, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"verify exited {result.returncode}: {result.stdout} {result.stderr}")


def cli_trial(binary, work, trial):
    ledger = os.path.join(work, f"cli-{trial}.ledger")
    run(binary, "init", "--ledger", ledger)
    batch = [event(f"C{trial}-{i}") for i in range(50000)]
    child = subprocess.Popen([binary, "append", "--ledger", ledger, "-"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    child.stdin.write("\n".join(json.dumps(e) for e in batch) + "\n")
    child.stdin.close()
    time.sleep(random.uniform(0, 1.0))
    child.send_signal(signal.SIGKILL)
    output = child.stdout.read()
    child.wait()
    acknowledged = output.startswith("appended")
    verify(binary, ledger)
    stats = json.loads(run(binary, "stats", "--json", "--ledger", ledger).stdout)
    stored = stats["records"]
    if stored not in (0, len(batch)):
        raise RuntimeError(f"CLI trial {trial}: {stored} of {len(batch)} events stored: the batch was not atomic")
    lost = len(batch) if acknowledged and stored == 0 else 0
    shutil.rmtree(ledger, ignore_errors=True)
    return {"acknowledged": len(batch) if acknowledged else 0, "stored": stored, "lost": lost}


def server_trial(binary, work, trial):
    ledger = os.path.join(work, f"server-{trial}.ledger")
    key = run(binary, "keys", "add", "--ledger", ledger, "--scope", "append").stdout.strip()
    server = Server(binary, ledger, work)
    server.start()
    acknowledged = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n):
        i = 0
        while not stop.is_set():
            e = event(f"S{trial}-{n}-{i}")
            i += 1
            try:
                status, _ = request(server.port, "POST", "/v1/events", json.dumps([e]), key=key, timeout=5)
            except OSError:
                return
            if status == 201:
                with lock:
                    acknowledged.append(e["id"])

    clients = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for c in clients:
        c.start()
    time.sleep(random.uniform(0.2, 1.5))
    server.kill()
    stop.set()
    for c in clients:
        c.join()
    verify(binary, ledger)
    stored = stored_ids(binary, ledger)
    lost = [i for i in acknowledged if i not in stored]
    shutil.rmtree(ledger, ignore_errors=True)
    return {"acknowledged": len(acknowledged), "stored": len(stored), "lost": len(lost)}


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def mixed_load(binary, work, minutes):
    ledger = os.path.join(work, "mixed.ledger")
    run(binary, "init", "--ledger", ledger, "--taxonomy", "starter")
    admin = run(binary, "keys", "add", "--ledger", ledger, "--scope", "admin").stdout.strip()
    server = Server(binary, ledger, work)
    server.start()
    port = server.port
    deadline = time.time() + minutes * 60
    lock = threading.Lock()
    acknowledged = []
    counts = {"appends": 0, "analyses": 0, "analysesRefused": 0, "streams": 0, "keyChanges": 0, "errors": 0}
    health = []
    revoked = []
    failures = []

    def count(name, n=1):
        with lock:
            counts[name] += n

    def appender(n):
        i = 0
        while time.time() < deadline:
            lead = f"M{n}-{i}"
            i += 1
            events = [event(lead, at="2026-03-02T09:00:00Z"),
                      event(lead, "lead.scored", {"score": random.randint(0, 100)}, at="2026-03-02T09:30:00Z"),
                      event(lead, "lead.handed_off", {"owner": f"rep:{n}"}, at="2026-03-02T10:00:00Z")]
            if random.random() < 0.5:
                events.append(event(lead, "lead.accepted", {}, at="2026-03-03T10:00:00Z"))
            else:
                events.append(event(lead, "lead.rejected", {"reason": "FIT_COMPANY.TOO_SMALL"}, at="2026-03-03T10:00:00Z"))
            try:
                status, body = request(port, "POST", "/v1/events", json.dumps(events), key=admin, timeout=30)
            except OSError as error:
                count("errors")
                failures.append(f"append: {error}")
                continue
            if status == 201:
                with lock:
                    acknowledged.extend(e["id"] for e in events)
                count("appends")
            else:
                count("errors")
                failures.append(f"append answered {status}: {body[:200]!r}")

    def analyst(n):
        candidate = {"candidates": [{"name": "score 60", "rules": {"field": "score", "gte": 60}}]}
        while time.time() < deadline:
            choice = random.choice(["trends", "impact", "what-if"])
            try:
                if choice == "what-if":
                    status, _ = request(port, "POST", "/v1/what-if", json.dumps(candidate), key=admin)
                else:
                    status, _ = request(port, "GET", f"/v1/{choice}", key=admin)
            except OSError:
                count("errors")
                continue
            if status == 200:
                count("analyses")
            elif status == 503:
                count("analysesRefused")
                time.sleep(1)
            else:
                count("errors")
                failures.append(f"{choice} answered {status}")

    def streamer(n):
        while time.time() < deadline:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", f"/v1/events/stream?after={random.randint(0, 1000)}",
                                   headers={"Authorization": f"Bearer {admin}"})
                response = connection.getresponse()
                if response.status == 200:
                    response.read1(65536) if hasattr(response, "read1") else response.read(4096)
                    count("streams")
                elif response.status not in (429, 503):
                    count("errors")
                    failures.append(f"stream answered {response.status}")
                connection.close()
            except OSError:
                pass
            time.sleep(random.uniform(0.5, 3))

    def key_changer():
        while time.time() < deadline:
            try:
                status, body = request(port, "POST", "/v1/keys", json.dumps({"scope": "read"}), key=admin)
                if status != 201:
                    failures.append(f"key create answered {status}")
                    continue
                created = json.loads(body)
                if random.random() < 0.5:
                    status, _ = request(port, "DELETE", f"/v1/keys/{created['id']}", key=admin)
                    ok = status == 204
                else:
                    ok = run(binary, "keys", "revoke", "--ledger", ledger, created["id"], check=False).returncode == 0
                if not ok:
                    failures.append("a key revoke failed")
                with lock:
                    revoked.append(created["secret"])
                count("keyChanges")
                status, _ = request(port, "GET", "/v1/stats", key=created["secret"])
                if status != 401:
                    failures.append(f"a revoked key was answered {status}")
            except OSError:
                count("errors")
            time.sleep(random.uniform(0.2, 1))

    def prober():
        while time.time() < deadline:
            start = time.perf_counter()
            try:
                status, _ = request(port, "GET", "/health", timeout=60)
                elapsed = time.perf_counter() - start
                with lock:
                    health.append(elapsed)
                if status != 200:
                    failures.append(f"/health answered {status}")
            except OSError as error:
                failures.append(f"/health failed: {error}")
            time.sleep(0.1)

    threads = [threading.Thread(target=appender, args=(n,)) for n in range(6)]
    threads += [threading.Thread(target=analyst, args=(n,)) for n in range(4)]
    threads += [threading.Thread(target=streamer, args=(n,)) for n in range(8)]
    threads += [threading.Thread(target=key_changer), threading.Thread(target=prober)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    server.stop()
    verify(binary, ledger)
    stored = stored_ids(binary, ledger)
    lost = sum(1 for i in acknowledged if i not in stored)
    return {
        "minutes": minutes, "acknowledgedEvents": len(acknowledged), "lostEvents": lost, **counts,
        "revokedKeys": len(revoked),
        "health": {"samples": len(health), "p50Ms": round(1000 * percentile(health, 0.5), 2),
                   "p99Ms": round(1000 * percentile(health, 0.99), 2), "maxMs": round(1000 * max(health), 2)},
        "failures": failures[:20], "failureCount": len(failures),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("binary")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--json")
    arguments = parser.parse_args()
    work = tempfile.mkdtemp(prefix="leadledger-soak-")
    summary = {"machine": f"{os.cpu_count()} cores", "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        trials = []
        for trial in range(arguments.trials):
            kind = "cli" if trial % 2 == 0 else "server"
            result = (cli_trial if kind == "cli" else server_trial)(arguments.binary, work, trial)
            trials.append({"kind": kind, **result})
            print(f"trial {trial + 1}/{arguments.trials} ({kind}): {result}", file=sys.stderr, flush=True)
        summary["killTrials"] = {
            "trials": len(trials),
            "cli": sum(1 for t in trials if t["kind"] == "cli"),
            "server": sum(1 for t in trials if t["kind"] == "server"),
            "acknowledgedEvents": sum(t["acknowledged"] for t in trials),
            "killedBeforeAcknowledgement": sum(1 for t in trials if t["kind"] == "cli" and t["acknowledged"] == 0),
            "lostEvents": sum(t["lost"] for t in trials),
        }
        if arguments.minutes > 0:
            summary["mixedLoad"] = mixed_load(arguments.binary, work, arguments.minutes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(summary, indent=2)
    print(text)
    if arguments.json:
        with open(arguments.json, "w") as out:
            out.write(text + "\n")
    lost = summary["killTrials"]["lostEvents"] + summary.get("mixedLoad", {}).get("lostEvents", 0)
    failed = summary.get("mixedLoad", {}).get("failureCount", 0)
    sys.exit(1 if lost or failed else 0)


if __name__ == "__main__":
    main()
