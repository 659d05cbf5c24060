#!/usr/bin/env python3
"""Pipeline faults that only show with a real tinbaod on Redis.

Takeover: an instance dies (kill -9) holding many stream entries; another instance takes all of
them over within claim_idle and a few seconds, not one batch per quarter of claim_idle.
"""

import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, Procs, Redis, check, finish, free_port, http,  # noqa
                     wait_for)

TOKEN = "pipeline-faults-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + TOKEN}


def config(tmp, templates, rport, hport, consumer, rate, outbox, batch=4, claim_idle="2s"):
    return f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{hport}
  clients:
    - {{ name: igate, token: "{TOKEN}" }}
queue:
  backend: redis
  redis: {{ url: "redis://127.0.0.1:{rport}/0", prefix: faults }}
  dedupe_ttl: 1d
  claim_idle: {claim_idle}
  batch: {batch}
  consumer: {consumer}
templates:
  dir: {templates}
routes:
  - {{ status: [result_ready, received], channels: [sms] }}
retry: {{ max_attempts: 3, initial_delay: 100ms, max_delay: 400ms, give_up_after: 1h }}
providers:
  - {{ name: out, channel: sms, type: outbox, path: {outbox}, rate_per_second: {rate} }}
"""


def event(eid):
    return {"event_id": eid, "dossier": {"code": "D-" + eid, "status": "result_ready"},
            "applicant": {"name": "Trần Văn Bình", "phone": "0912345678"}}


def sent_ids(path):
    if not os.path.exists(path):
        return set()
    ids = set()
    with open(path) as f:
        for line in f:
            try:
                ids.add(json.loads(line)["id"])
            except ValueError:
                pass  # a line being written
    return ids


def pending(redis):
    # XPENDING's summary: [count, first id, last id, [[consumer, count], ...]]
    out = redis.cli("XPENDING", "faults:events", "tinbao").split("\n")
    return int(out[0]) if out and out[0].isdigit() else 0


def scenario_takeover(tmp, templates, procs, redis, tinbaod):
    n = 120
    outbox = os.path.join(tmp, "state", "outbox.jsonl")
    # Instance a: 0.5 message a second, so every entry it reads stays pending (waiting on the
    # rate limit) when it dies.
    hport_a = free_port()
    base_a = "http://127.0.0.1:%d" % hport_a
    cfg_a = os.path.join(tmp, "a.yaml")
    with open(cfg_a, "w") as f:
        f.write(config(tmp, templates, redis.port, hport_a, "a", 0.5, outbox))
    a = Daemon(procs, tinbaod, cfg_a, os.path.join(tmp, "a.log"))
    a.start(base_a)
    for i in range(n):
        st = http("POST", base_a + "/v1/events", event("t%03d" % i), AUTH)[0]
        if st != 202:
            check(False, "event t%03d accepted (%s)" % (i, st))
            return
    try:
        wait_for(lambda: pending(redis) + len(sent_ids(outbox)) >= n, 30,
                 "instance a holding every entry")
    except AssertionError:
        print(redis.cli("XPENDING", "faults:events", "tinbao"), redis.cli("XLEN", "faults:events"))
        print(open(os.path.join(tmp, "a.log")).read()[-3000:])
        raise
    a.kill9()
    killed = time.monotonic()
    sent_before = len(sent_ids(outbox))

    # Instance b: no rate limit. It takes a's entries over once they are idle for claim_idle.
    hport_b = free_port()
    base_b = "http://127.0.0.1:%d" % hport_b
    cfg_b = os.path.join(tmp, "b.yaml")
    with open(cfg_b, "w") as f:
        f.write(config(tmp, templates, redis.port, hport_b, "b", 0, outbox))
    b = Daemon(procs, tinbaod, cfg_b, os.path.join(tmp, "b.log"))
    b.start(base_b)
    claim_idle = 2.0
    try:
        wait_for(lambda: len(sent_ids(outbox)) >= n, claim_idle + 30, "every message sent")
    except AssertionError:
        pass
    took = time.monotonic() - killed
    got = len(sent_ids(outbox))
    check(got == n, "every message of the dead instance sent (%d of %d; %d before it died)"
          % (got, n, sent_before))
    # One batch of 4 per claim_idle/4 would need 30 rounds of 0.5 s: 15 s after claim_idle.
    check(took < claim_idle + 8,
          "taken over within claim_idle + a few seconds (%.1f s after the kill)" % took)
    check(pending(redis) == 0, "nothing left pending")
    b.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    templates = os.path.join(src, "tests/integration/fixtures/templates")
    tmp = tempfile.mkdtemp(prefix="tinbao-faults-")
    os.makedirs(os.path.join(tmp, "state"))
    procs = Procs()
    try:
        redis = Redis(procs, tmp)
        redis.start()
        scenario_takeover(tmp, templates, procs, redis, args.tinbaod)
    except AssertionError as e:
        check(False, str(e))
    return finish(tmp, procs, ["a.log", "b.log", "redis.log"])


if __name__ == "__main__":
    sys.exit(main())
