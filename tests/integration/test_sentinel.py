#!/usr/bin/env python3
"""Redis Sentinel failover under load: nothing answered 202 is lost, nothing is sent twice.

A master, a replica and three sentinels (Debian's redis-sentinel, or `redis-server --sentinel`,
the same program) on free loopback ports; tinbaod finds the master through the sentinels, with
queue.redis.min_replicas 1. Events are posted continuously (a client that retries a 503 with the
same event_id); meanwhile the fake eSMS fails some first attempts (scheduled retries) and answers
slowly (sends in flight, scheduled jobs leased). The master is killed with SIGKILL; the sentinels
promote the replica; tinbaod follows by itself; the old master comes back as a replica of the new
one (with min_replicas 1 nothing is accepted until a replica follows the new master). Then every event answered 202 (or 200 duplicate to
a retry) must be delivered, each accepted at the fake once (eSMS RequestId = tinbao's message id).
"""

import argparse
import os
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, FakeEsms, Procs, check, finish, free_port, http,  # noqa: E402
                     redis_cli, start_redis, start_sentinels, wait_for)
import prometheus  # noqa: E402

TOKEN = "sentinel-test-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + TOKEN}
API_KEY, SECRET_KEY = "k-test", "s-test"
MASTER = "tinbaomaster"


def config(tmp, templates, sentinel_ports, hport, esms_url, prefix="sent",
           min_replicas_timeout="2s", claim_idle="3s"):
    """tinbaod through the sentinels, with min_replicas 1 (test_replica_wait.py too)."""
    sentinels = ", ".join('"127.0.0.1:%d"' % p for p in sentinel_ports)
    return f"""
state_dir: {tmp}/state
shutdown_grace: 3s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{hport}
  clients:
    - {{ name: igate, token: "{TOKEN}" }}
queue:
  backend: redis
  redis:
    url: "redis://127.0.0.1:1/0"
    prefix: {prefix}
    command_timeout: 3s
    sentinels: [{sentinels}]
    master_name: {MASTER}
    min_replicas: 1
    min_replicas_timeout: {min_replicas_timeout}
  dedupe_ttl: 1d
  claim_idle: {claim_idle}
templates:
  dir: {templates}
routes:
  - {{ status: [result_ready], channels: [sms] }}
retry: {{ max_attempts: 10, initial_delay: 1s, max_delay: 2s, give_up_after: 120s }}
providers:
  - name: esms
    channel: sms
    type: esms
    base_url: {esms_url}
    api_key: "{API_KEY}"
    secret_key: "{SECRET_KEY}"
    brandname: UBND-TEST
    rate_per_second: 500
    max_in_flight: 50
    timeout: 5s
"""


def event(eid):
    return {"event_id": eid,
            "dossier": {"code": "D-" + eid, "status": "result_ready"},
            "applicant": {"name": "Trần Văn Bình", "phone": "0912345678"}}


class Poster(threading.Thread):
    """A client posting events one after the other; a 503 (or no answer) is retried with the same
    event_id, as the API asks. `accepted`: event ids answered 202, or 200 duplicate to a retry."""

    def __init__(self, base):
        super().__init__(daemon=True)
        self.base = base
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.accepted = []
        self.unavailable = 0   # 503 answers
        self.other = []        # anything else: a failure of the test

    def run(self):
        n = 0
        while not self.stop.is_set():
            eid = "s%05d" % n
            n += 1
            while not self.stop.is_set():
                st, body = http("POST", self.base + "/v1/events", event(eid), AUTH, timeout=15)
                if st in (202, 200):
                    with self.lock:
                        self.accepted.append(eid)
                    break
                with self.lock:
                    if st == 503:
                        self.unavailable += 1
                    elif st != 0:
                        self.other.append((eid, st, body))
                # Pacing of a client's retries, not synchronisation.
                self.stop.wait(0.02)

    def count(self):
        with self.lock:
            return len(self.accepted)


def metric(base, family):
    return prometheus.matching(prometheus.parse(http("GET", base + "/metrics")[1]), family)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    templates = os.path.join(src, "tests/integration/fixtures/templates")
    tmp = tempfile.mkdtemp(prefix="tinbao-sentinel-")
    procs = Procs()
    logs = ["tinbaod.log", "master/redis.log", "replica/redis.log", "s0/sentinel.log"]
    poster = None
    try:
        mport, rport = free_port(), free_port()
        master = start_redis(procs, os.path.join(tmp, "master"), mport)
        start_redis(procs, os.path.join(tmp, "replica"), rport, "--replicaof", "127.0.0.1",
                    str(mport))
        wait_for(lambda: "state=online" in redis_cli(mport, "INFO", "replication"), 30,
                 "the replica in sync")
        sports = start_sentinels(procs, tmp, MASTER, mport, 1)

        fake = FakeEsms(procs, src, API_KEY, SECRET_KEY)
        hport = free_port()
        base = "http://127.0.0.1:%d" % hport
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(config(tmp, templates, sports, hport, fake.url))
        daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
        daemon.start(base)
        check("as master" in daemon.log_text() and "127.0.0.1:%d" % mport in daemon.log_text(),
              "tinbaod found the master through the sentinels (log names it)")

        poster = Poster(base)
        poster.start()
        wait_for(lambda: poster.count() >= 40, 60, "40 events accepted before the failover")

        # Scheduled retries (first attempts answered HTTP 429, Retry-After 1 s) and slow sends
        # (leased jobs and sends in flight) at the moment the master dies. Not 5xx: five of those
        # in a row open the provider's circuit for 30 s, and on a slow machine (ASan, a busy CI)
        # each later probe meets one of the remaining failures, so the messages expire waiting.
        fake.control(fail_next=12, code="http429", retry_after=1)
        wait_for(lambda: int(redis_cli(mport, "ZCARD", "sent:sched") or 0) >= 3, 30,
                 "scheduled retries in Redis")
        fake.control(delay_ms=400)
        wait_for(lambda: len(fake.requests()) > 0 and
                 int(redis_cli(mport, "ZCARD", "sent:sched") or 0) >= 1, 10, "work in flight")
        scheduled = int(redis_cli(mport, "ZCARD", "sent:sched") or 0)
        before = poster.count()
        master.send_signal(signal.SIGKILL)
        master.wait(timeout=10)
        killed_at = time.monotonic()
        print("killed the master with %d accepted, %d scheduled" % (before, scheduled),
              flush=True)
        check(scheduled >= 1, "scheduled retries in Redis when the master died (%d)" % scheduled)

        saw_503 = threading.Event()

        def watch_ready():
            while not saw_503.is_set() and time.monotonic() - killed_at < 30:
                if http("GET", base + "/readyz", timeout=5)[0] == 503:
                    saw_503.set()
                time.sleep(0.02)
        watcher = threading.Thread(target=watch_ready, daemon=True)
        watcher.start()

        wait_for(lambda: redis_cli(rport, "ROLE").startswith("master"), 40,
                 "the sentinels promote the replica")
        promoted = time.monotonic()
        # The old master comes back as a replica of the new one (as its own config would have it
        # after a failover): with min_replicas 1, events are accepted again once it follows.
        start_redis(procs, os.path.join(tmp, "master"), mport, "--replicaof", "127.0.0.1",
                    str(rport))
        wait_for(lambda: http("GET", base + "/readyz")[0] == 200, 30, "tinbaod ready again")
        print("promoted %.1f s after the kill; tinbaod ready %.1f s after the promotion" %
              (promoted - killed_at, time.monotonic() - promoted), flush=True)
        at_promotion = poster.count()
        wait_for(lambda: poster.count() >= at_promotion + 40, 60,
                 "40 more events accepted after the failover")
        poster.stop.set()
        poster.join(timeout=30)
        fake.control(delay_ms=0)
        watcher.join(timeout=30)

        check(not poster.other, "no answer other than 202, 200 duplicate or 503: %s" %
              poster.other[:3])
        check(poster.unavailable >= 1 and saw_503.is_set(),
              "while no master was known: POST answered 503 (%d times), /readyz 503" %
              poster.unavailable)
        check(metric(base, "tinbao_redis_master_changes_total") == [1],
              "tinbao_redis_master_changes_total 1")
        log = daemon.log_text()
        check("moved from 127.0.0.1:%d to 127.0.0.1:%d" % (mport, rport) in log,
              "the log names the master's move")

        # Every accepted event is delivered, each accepted once at the fake.
        accepted = list(poster.accepted)

        def record(eid):
            st, body = http("GET", base + "/v1/events/" + eid, headers=AUTH)
            return body if st == 200 and body.get("state") == "done" else None
        mids = {}
        missing = []
        deadline = time.monotonic() + 90
        for eid in accepted:
            rec = None
            while rec is None and time.monotonic() < deadline:
                rec = record(eid)
                if rec is None:
                    time.sleep(0.05)
            if rec is None or not rec.get("messages"):
                missing.append(eid)
                continue
            mids[eid] = [m["id"] for m in rec["messages"] if m["state"] == "sent"]
        check(not missing, "every accepted event done (%d accepted; not done: %s)" %
              (len(accepted), missing[:5]))
        per = {}
        for r in fake.requests():
            if r.get("code") == "100":
                rid = r["body"].get("RequestId")
                per[rid] = per.get(rid, 0) + 1
        lost = [e for e, ms in mids.items() if len(ms) != 1 or per.get(ms[0], 0) != 1]
        twice = {rid: n for rid, n in per.items() if n > 1}
        check(not lost, "%d events answered 202: each sent, one message accepted once "
              "(wrong: %s)" % (len(mids), lost[:5]))
        check(not twice and sum(per.values()) == len(mids),
              "none sent twice: %d accepted sends for %d events (%s)" %
              (sum(per.values()), len(mids), list(twice.items())[:3]))
        resends = sum(1 for r in fake.requests() if r.get("code") == "124")
        print("resends the fake recognised by RequestId: %d" % resends, flush=True)
    except AssertionError as e:
        check(False, str(e))
        if poster:
            print("poster: %d accepted, %d answered 503, other answers: %s" %
                  (poster.count(), poster.unavailable, poster.other[:3]), flush=True)
    finally:
        if poster:
            poster.stop.set()
    return finish(tmp, procs, logs)


if __name__ == "__main__":
    sys.exit(main())
