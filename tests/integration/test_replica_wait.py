#!/usr/bin/env python3
"""queue.redis.min_replicas: nothing is sent before the replicas have it, so that nothing is sent
twice across a failover.

A master, two replicas and three sentinels on free loopback ports; tinbaod finds the master
through the sentinels, with queue.redis.min_replicas 1. The replicas are stalled with SIGSTOP
(they stop acknowledging; no timing is involved), so that an event is written to the master but
answered 503 (its WAIT times out). tinbaod reads it and must hold it back: the fake eSMS gets
nothing for it. Then:
  - the replicas resume: the held-back event is sent once, and the client's retry of its 503 is
    answered 200 duplicate;
  - the replicas stall again and the master drops their connections (a stalled replica would
    still read, once resumed, what the master had written to its socket), another event is
    answered 503 and held back, and the master dies (SIGKILL) before any replica has it; the sentinels promote a replica (which never saw the
    event); the client's retry is a new event there, answered 202, and sent once. Had tinbaod
    sent the first copy from the old master, the citizen would get two SMS with two message ids
    (eSMS RequestIds), which no provider can deduplicate.
Before all that, with healthy replicas, events are sent once each.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, FakeEsms, Procs, check, finish, free_port, http,  # noqa: E402
                     redis_cli, start_redis, start_sentinels, wait_for)
from test_sentinel import API_KEY, AUTH, MASTER, SECRET_KEY, config, event  # noqa: E402


def post(base, eid):
    return http("POST", base + "/v1/events", event(eid), AUTH, timeout=15)


def record(base, eid):
    st, body = http("GET", base + "/v1/events/" + eid, headers=AUTH)
    return body if st == 200 else None


def done(base, eid):
    rec = record(base, eid)
    return rec if rec and rec.get("state") == "done" else None


def accepted_sends(fake):
    """RequestId -> how many times the fake accepted a send with it (not a resend it refused as
    one it had: code 124)."""
    per = {}
    for r in fake.requests():
        if r.get("code") == "100":
            rid = r["body"].get("RequestId")
            per[rid] = per.get(rid, 0) + 1
    return per


def in_sync(port, replicas):
    """Whether `replicas` replicas have every write the master made so far (a write, then WAIT,
    on one connection)."""
    r = subprocess.run([shutil.which("redis-cli"), "-p", str(port)], input="SET rw:test:sync 1\n"
                       "WAIT %d 5000\n" % replicas, capture_output=True, text=True, timeout=10)
    return r.stdout.split()[-1:] == [str(replicas)]


def retry_until_answered(base, eid, timeout):
    """A client retrying its 503 with the same event_id (wait_for paces the retries)."""
    seen = []

    def answered():
        st, _ = post(base, eid)
        seen.append(st)
        return st if st in (200, 202) else None
    return wait_for(answered, timeout, "an answer other than 503 to " + eid), seen


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    templates = os.path.join(src, "tests/integration/fixtures/templates")
    tmp = tempfile.mkdtemp(prefix="tinbao-replica-wait-")
    procs = Procs()
    logs = ["tinbaod.log", "master/redis.log", "r1/redis.log", "r2/redis.log", "s0/sentinel.log"]
    stalled = []

    def stall():
        for p in replicas:
            p.send_signal(signal.SIGSTOP)
            stalled.append(p)

    def resume():
        while stalled:
            stalled.pop().send_signal(signal.SIGCONT)

    try:
        mport = free_port()
        master = start_redis(procs, os.path.join(tmp, "master"), mport)
        rports = [free_port(), free_port()]
        replicas = [start_redis(procs, os.path.join(tmp, "r%d" % (i + 1)), p, "--replicaof",
                                "127.0.0.1", str(mport)) for i, p in enumerate(rports)]
        wait_for(lambda: redis_cli(mport, "INFO", "replication").count("state=online") == 2, 30,
                 "both replicas in sync")
        sports = start_sentinels(procs, tmp, MASTER, mport, 2)

        fake = FakeEsms(procs, src, API_KEY, SECRET_KEY)
        hport = free_port()
        base = "http://127.0.0.1:%d" % hport
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(config(tmp, templates, sports, hport, fake.url, prefix="rw",
                           min_replicas_timeout="1s", claim_idle="20s"))
        daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
        daemon.start(base)

        # Healthy replicas: every event answered 202 and sent once.
        healthy = ["ok%02d" % i for i in range(20)]
        answers = [post(base, eid)[0] for eid in healthy]
        check(answers == [202] * len(healthy), "healthy replicas: every event 202 (%s)" %
              sorted(set(answers)))
        recs = [wait_for(lambda e=eid: done(base, e), 30, "event %s done" % eid)
                for eid in healthy]
        ids = [m["id"] for r in recs for m in r["messages"] if m["state"] == "sent"]
        per = accepted_sends(fake)
        check(len(ids) == len(healthy) and all(per.get(i) == 1 for i in ids) and
              sum(per.values()) == len(healthy),
              "healthy replicas: %d events, each sent once (%d sends)" %
              (len(healthy), sum(per.values())))

        # The replicas stop acknowledging: the event is written, answered 503, read by tinbaod
        # and held back (the log says so once it has been read), and not sent.
        def held_back_times():
            return daemon.log_text().count("held back, not processed")
        stall()
        st, _ = post(base, "held")
        check(st == 503, "replicas stalled: the event is answered 503 (got %s)" % st)
        wait_for(lambda: held_back_times() >= 1, 30, "tinbaod holding the entry back")
        check(sum(accepted_sends(fake).values()) == len(healthy),
              "replicas stalled: the fake got nothing for the event answered 503")
        rec = record(base, "held")
        check(rec is not None and not rec.get("messages"),
              "replicas stalled: the event is in Redis, with no message (%s)" % rec)
        check(post(base, "held")[0] == 503, "replicas stalled: the client's retry is 503 too")

        # The replicas resume: the held-back entry is sent once; the retry is a duplicate.
        resume()
        st, _ = retry_until_answered(base, "held", 30)
        check(st == 200, "replicas back: the client's retry is answered 200 duplicate (%s)" % st)
        rec = wait_for(lambda: done(base, "held"), 30, "the held-back event done")
        mid = [m["id"] for m in rec["messages"] if m["state"] == "sent"]
        per = accepted_sends(fake)
        check(len(mid) == 1 and per.get(mid[0]) == 1 and
              sum(per.values()) == len(healthy) + 1,
              "replicas back: the held-back event sent once (%d sends in all)" %
              sum(per.values()))

        # Again, then the master dies before any replica has the event (but with all before it:
        # nothing else is sent again after the failover).
        wait_for(lambda: in_sync(mport, 2), 30, "both replicas in sync again")
        stall()
        check(redis_cli(mport, "CLIENT", "KILL", "TYPE", "replica") == "2",
              "the master drops both (stalled) replicas")
        st, _ = post(base, "lost")
        check(st == 503, "replicas stalled again: the event is answered 503 (got %s)" % st)
        wait_for(lambda: held_back_times() >= 2, 30, "tinbaod holding the entry back again")
        check(sum(accepted_sends(fake).values()) == len(healthy) + 1,
              "replicas stalled again: the fake got nothing for the event answered 503")
        master.send_signal(signal.SIGKILL)
        master.wait(timeout=10)
        resume()
        wait_for(lambda: any(redis_cli(p, "ROLE").startswith("master") for p in rports), 60,
                 "the sentinels promote a replica")
        promoted = [p for p in rports if redis_cli(p, "ROLE").startswith("master")][0]
        check(redis_cli(promoted, "EXISTS", "rw:ev:lost") == "0",
              "the promoted replica never saw the event answered 503")

        # The client retries its 503 (pacing of a client's retries, not synchronisation):
        # a new event on the new master, answered 202 once the other replica follows it.
        st, answers = retry_until_answered(base, "lost", 90)
        check(st == 202, "after the failover: the retry is a new event, 202 (got %s; before: %s)"
              % (st, sorted(set(answers))))
        rec = wait_for(lambda: done(base, "lost"), 60, "the retried event done")
        mid = [m["id"] for m in rec["messages"] if m["state"] == "sent"]
        per = accepted_sends(fake)
        check(len(mid) == 1 and per.get(mid[0]) == 1,
              "after the failover: the event sent once, with the new master's message id")
        check(sum(per.values()) == len(healthy) + 2 and all(n == 1 for n in per.values()),
              "exactly one send per event: %d sends for %d events" %
              (sum(per.values()), len(healthy) + 2))
    except AssertionError as e:
        check(False, str(e))
    finally:
        resume()
    return finish(tmp, procs, logs)


if __name__ == "__main__":
    sys.exit(main())
