#!/usr/bin/env python3
"""Fault injection: tinbaod with a real redis-server and a fake eSMS on loopback.

Retries (HTTP 500, 429 with Retry-After), permanent errors into dead letters and their replay,
provider failover with a circuit breaker, channel fallback, expiry, quiet hours, kill -9 with
messages in flight, Redis stopped and restarted, two instances on one Redis sharing a rate limit.
Counts at the fake by client id (eSMS RequestId = tinbao's message id).
"""

import argparse
import datetime
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, FakeEsms, Procs, Redis, check, failures, finish, free_port,  # noqa
                     http, wait_for)
import prometheus  # noqa: E402

TOKEN = "reliability-test-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + TOKEN}
API_KEY, SECRET_KEY = "k-test", "s-test"


def metric(base, family, **labels):
    """The values of /metrics' series of `family` whose labels include `labels`, read strictly
    (an exposition a strict scraper refuses fails the test)."""
    return prometheus.matching(prometheus.parse(http("GET", base + "/metrics")[1]), family,
                               **labels)


def config(tmp, templates, rport, hport, esms_url, extra_providers="", rate=200, inflight=100,
           quiet="", give_up="8s", consumer=None, max_attempts=4, extra="", prefix="rel"):
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
  redis: {{ url: "redis://127.0.0.1:{rport}/0", prefix: {prefix} }}
  dedupe_ttl: 1d
  claim_idle: 3s
  {"consumer: " + consumer if consumer else ""}
templates:
  dir: {templates}
routes:
  - {{ status: [result_ready, received], channels: [sms] }}
  - {{ status: [processing], channels: [sms, email] }}
{quiet}
{extra}
retry: {{ max_attempts: {max_attempts}, initial_delay: 100ms, max_delay: 400ms, give_up_after: {give_up} }}
providers:
{extra_providers}
  - name: esms
    channel: sms
    type: esms
    base_url: {esms_url}
    api_key: "{API_KEY}"
    secret_key: "{SECRET_KEY}"
    brandname: UBND-TEST
    rate_per_second: {rate}
    max_in_flight: {inflight}
    timeout: 1s
  - {{ name: mail, channel: email, type: outbox, path: {tmp}/state/mail.jsonl }}
"""


def event(eid, status="result_ready", phone="0912345678", email=None, code=None):
    return {"event_id": eid,
            "dossier": {"code": code or ("D-" + eid), "status": status},
            "applicant": {"name": "Trần Văn Bình", "phone": phone, "email": email}}


class Ctx:
    pass


def record(c, eid):
    st, body = http("GET", c.base + "/v1/events/" + eid, headers=AUTH)
    return body if st == 200 else None


def wait_state(c, eid, states, timeout=30):
    return wait_for(lambda: (lambda r: r if r and r.get("state") in states else None)(
        record(c, eid)), timeout, "event %s in %s" % (eid, states))


def at_fake(c, mid):
    return [r for r in c.fake.requests() if r["body"].get("RequestId") == mid]


def post(c, ev, base=None):
    return http("POST", (base or c.base) + "/v1/events", ev, AUTH)[0]


def ctl(c, *args):
    return subprocess.run([c.tinbaoctl, "--url", c.base, "--token", TOKEN, *args],
                          capture_output=True, text=True, timeout=30)


def scenario_retries(c):
    c.fake.control(fail_next=2, code="http500")
    check(post(c, event("r1")) == 202, "r1 accepted")
    rec = wait_state(c, "r1", ("done",))
    m = rec["messages"][0]
    codes = [r["code"] for r in at_fake(c, m["id"])]
    check(m["state"] == "sent" and m["attempts"] == 3 and codes == ["http500", "http500", "100"],
          "HTTP 500 twice, then sent on the 3rd attempt with the same RequestId (%s)" % codes)

    c.fake.control(fail_next=1, code="http429", retry_after=1)
    check(post(c, event("r2")) == 202, "r2 accepted")
    m = wait_state(c, "r2", ("done",))["messages"][0]
    reqs = at_fake(c, m["id"])
    gap = reqs[1]["at"] - reqs[0]["at"] if len(reqs) == 2 else 0
    check(len(reqs) == 2 and gap >= 0.95, "429 with Retry-After: 1 -> next attempt %.2f s later" % gap)


def scenario_timeout(c):
    c.fake.control(delay_ms=1500)  # longer than the provider's 1 s deadline
    check(post(c, event("tmo-1")) == 202, "tmo-1 accepted")
    wait_for(lambda: any(r["body"].get("Phone") and "D-tmo-1" in r["body"].get("Content", "")
                         for r in c.fake.requests()), 10, "the slow first attempt")
    c.fake.control(delay_ms=0)
    m = wait_state(c, "tmo-1", ("done",))["messages"][0]
    retries = metric(c.base, "tinbao_retries_total", provider="esms", reason="timeout")
    check(m["state"] == "sent" and m["attempts"] >= 2 and retries and retries[0] >= 1,
          "a provider past its deadline: timeout, retried, then sent (%d attempts)" % m["attempts"])


def scenario_order(c):
    c.fake.control(fail_next=3, code="http500")
    first, second = event("ord-1", code="ORD-1"), event("ord-2", status="received", code="ORD-1")
    check(post(c, first) == 202 and post(c, second) == 202, "two notices of one dossier accepted")
    r1, r2 = wait_state(c, "ord-1", ("done",)), wait_state(c, "ord-2", ("done",))
    t1 = [r["at"] for r in at_fake(c, r1["messages"][0]["id"]) if r["code"] == "100"]
    t2 = [r["at"] for r in at_fake(c, r2["messages"][0]["id"]) if r["code"] == "100"]
    check(len(t1) == 1 and len(t2) == 1 and t1[0] < t2[0],
          "per-dossier order: the second notice waits for the first one's retries")


def scenario_dead_letters(c):
    c.fake.control(fail_next=1, code="146")
    check(post(c, event("p1")) == 202, "p1 accepted")
    rec = wait_state(c, "p1", ("failed",))
    m = rec["messages"][0]
    check(m["last_error"]["reason"] == "template_not_registered" and m["attempts"] == 1,
          "eSMS 146 -> failed template_not_registered, not retried")
    st, dl = http("GET", c.base + "/v1/dead-letters?reason=template_not_registered", headers=AUTH)
    check(st == 200 and [x["id"] for x in dl["dead_letters"]] == [m["id"]],
          "the failed message is a dead letter, listed by reason")
    out = ctl(c, "dlq", "list")
    check(out.returncode == 0 and m["id"] in out.stdout, "tinbaoctl dlq list shows it")
    out = ctl(c, "dlq", "replay", m["id"])
    check(out.returncode == 0 and '"replayed": 1' in out.stdout, "tinbaoctl dlq replay ID")
    rec = wait_state(c, "p1", ("done",))
    codes = [r["code"] for r in at_fake(c, m["id"])]
    check(rec["messages"][0]["state"] == "sent" and codes == ["146", "100"],
          "the replayed message is sent with the same id (%s)" % codes)
    st, dl = http("GET", c.base + "/v1/dead-letters", headers=AUTH)
    check(st == 200 and m["id"] not in [x["id"] for x in dl["dead_letters"]],
          "a replayed message leaves the dead letters")


def scenario_fallback(c):
    ev = event("f1", status="processing", phone="024 3825 1234", email="binh@example.vn")
    check(post(c, ev) == 202, "f1 accepted")
    rec = wait_state(c, "f1", ("done",))
    by = {m["channel"]: m for m in rec["messages"]}
    check(by.get("sms", {}).get("state") == "superseded" and
          by["sms"]["last_error"]["reason"] == "invalid_phone" and
          by.get("email", {}).get("state") == "sent",
          "sms fails permanently (landline) -> superseded, email sent instead")


def scenario_expiry(c):
    # Run with more attempts than the provider can fail within give_up_after, so the message
    # can only end by expiring, never by running out of attempts.
    c.fake.control(fail_next=100000, code="http500")
    check(post(c, event("x1")) == 202, "x1 accepted")
    rec = wait_state(c, "x1", ("failed",), timeout=40)
    m = rec["messages"][0]
    check(m["state"] == "expired" and m["last_error"]["reason"] == "provider_unavailable",
          "a provider down for longer than give_up_after: expired (%s, %s)" %
          (m["state"], m["last_error"]))
    return m["id"]


def scenario_replay_expired(c, mid):
    # On a restarted daemon: its circuit breaker is closed again, so the replay goes out at once.
    c.fake.control(reset=True)
    st, body = http("POST", c.base + "/v1/dead-letters/replay", {"reason": "provider_unavailable"},
                    AUTH)
    check(st == 200 and body.get("replayed", 0) >= 1, "replay by reason (%s)" % body)
    rec = wait_state(c, "x1", ("done",), timeout=45)
    codes = [r["code"] for r in at_fake(c, mid)]
    check(rec["messages"][0]["id"] == mid and rec["messages"][0]["state"] == "sent" and
          codes == ["100"],
          "the replayed message is sent once the provider is back (%s)" % codes)


def scenario_crash(c):
    c.fake.control(reset=True)
    c.fake.control(delay_ms=300)
    ids = ["k%03d" % i for i in range(100)]
    for eid in ids:
        if post(c, event(eid)) != 202:
            check(False, eid + " not accepted")
    wait_for(lambda: len(c.fake.requests()) >= 20, 20, "sends in flight")
    killed_at = time.time()
    c.daemon.kill9()
    made = c.fake.requests()
    # The fake answers 300 ms after a request arrives: those that came in the last 300 ms were
    # still unanswered when tinbaod died.
    unanswered = [r for r in made if r["at"] > killed_at - 0.3]
    check(c.daemon.proc.returncode == -signal.SIGKILL and len(unanswered) >= 1,
          "kill -9 with sends in flight (%d of 100 requests made, %d unanswered)" %
          (len(made), len(unanswered)))
    c.fake.control(delay_ms=0)
    c.daemon.start(c.base)
    for eid in ids:
        wait_state(c, eid, ("done",), timeout=60)
    reqs = c.fake.requests()
    accepted = {}
    for r in reqs:
        if r["code"] == "100":
            accepted[r["body"]["RequestId"]] = accepted.get(r["body"]["RequestId"], 0) + 1
    check(len(accepted) == 100 and all(n == 1 for n in accepted.values()),
          "after kill -9 and restart: 100 messages, each accepted exactly once at the fake "
          "(%d requests, %d resends answered 124)" % (
              len(reqs), sum(1 for r in reqs if r["code"] == "124")))


def scenario_redis_outage(c):
    c.fake.control(reset=True)
    pid = c.daemon.proc.pid
    ids = ["o%02d" % i for i in range(20)]
    check(all(post(c, event(eid)) == 202 for eid in ids), "20 events accepted before the outage")
    c.redis.stop()
    st, body = http("POST", c.base + "/v1/events", event("o-down"), AUTH)
    check(st == 503 and body["error"]["code"] == "queue_unavailable",
          "Redis down: POST -> 503 queue_unavailable")
    check(wait_for(lambda: http("GET", c.base + "/readyz")[0] == 503, 10, "readyz 503"),
          "Redis down: /readyz 503")
    c.redis.start()
    wait_for(lambda: http("GET", c.base + "/readyz")[0] == 200, 20, "readyz back")
    check(c.daemon.proc.poll() is None and c.daemon.proc.pid == pid,
          "Redis back: /readyz 200 without a restart of tinbaod")
    check(post(c, event("o-up")) == 202, "Redis back: POST -> 202")
    recs = [wait_state(c, eid, ("done",), timeout=40) for eid in ids + ["o-up"]]
    sent = [r["messages"][0]["id"] for r in recs if r["messages"][0]["state"] == "sent"]
    accepted = [r["body"]["RequestId"] for r in c.fake.requests() if r["code"] == "100"]
    check(len(sent) == len(recs) and all(accepted.count(mid) == 1 for mid in sent),
          "every event accepted before the outage was delivered after it, once (%d of %d)" %
          (len(sent), len(recs)))


def scenario_two_instances(c, second):
    c.fake.control(reset=True)
    for base in (c.base, second):
        wait_for(lambda: metric(base, "tinbao_instances") == [2], 20,
                 "both instances know they are two")
    ids = ["t%03d" % i for i in range(60)]
    for i, eid in enumerate(ids):
        post(c, event(eid), base=c.base if i % 2 == 0 else second)
    for eid in ids:
        wait_state(c, eid, ("done",), timeout=60)
    reqs = [r for r in c.fake.requests() if r["code"] == "100"]
    per = {}
    for r in reqs:
        per[r["body"]["RequestId"]] = per.get(r["body"]["RequestId"], 0) + 1
    check(len(per) == 60 and all(n == 1 for n in per.values()),
          "two instances on one Redis: 60 events, each sent once")
    times = sorted(r["at"] for r in reqs)
    # Each instance sends at most 5 in any second (its half of 10). The fake sees them after the
    # way there, which a loaded machine stretches and bunches: a few more than 10 can land in
    # one second there. Were the rate not shared, each instance would send 10 a second: about
    # 20 in one second at the fake, and the 60 over in about 2.5 s instead of 5.
    worst = max(sum(1 for t in times[i:] if t - times[i] < 0.98) for i in range(len(times)))
    span = times[-1] - times[0]
    if not check(worst <= 13 and span >= 4.0,
                 "rate_per_second 10 shared by two instances: at most %d in any second at the "
                 "fake (10, a few more when requests are delayed on the way), 60 sends over %.1f s "
                 "(at least 4)" % (worst, span)):
        print("arrivals (s):", [round(t - times[0], 3) for t in times])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    templates = os.path.join(src, "tests/integration/fixtures/templates")
    tmp = tempfile.mkdtemp(prefix="tinbao-rel-")
    procs = Procs()
    c = Ctx()
    c.tinbaoctl = args.tinbaoctl
    logs = ["tinbaod.log", "tinbaod2.log", "redis.log"]
    try:
        c.redis = Redis(procs, tmp)
        c.redis.start()
        c.fake = FakeEsms(procs, src, API_KEY, SECRET_KEY)
        hport = free_port()
        c.base = "http://127.0.0.1:%d" % hport
        cfg = os.path.join(tmp, "a.yaml")

        def write(text):
            with open(cfg, "w") as f:
                f.write(text)

        # 1. retries, dead letters, fallback, expiry on one instance
        write(config(tmp, templates, c.redis.port, hport, c.fake.url))
        c.daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
        c.daemon.start(c.base)
        scenario_retries(c)
        scenario_timeout(c)
        scenario_order(c)
        scenario_dead_letters(c)
        scenario_fallback(c)
        c.daemon.stop()

        # 1b. expiry: past give_up_after, then the replay on a restarted daemon
        write(config(tmp, templates, c.redis.port, hport, c.fake.url, give_up="3s",
                     max_attempts=1000))
        c.daemon.start(c.base)
        expired = scenario_expiry(c)
        c.daemon.stop()
        write(config(tmp, templates, c.redis.port, hport, c.fake.url))
        c.daemon.start(c.base)
        scenario_replay_expired(c, expired)
        c.daemon.stop()

        # 2. failover: the first provider is a closed port
        down = free_port()
        write(config(tmp, templates, c.redis.port, hport, c.fake.url, max_attempts=2,
                     extra_providers=f"""  - {{ name: esms_down, channel: sms, type: esms, base_url: "http://127.0.0.1:{down}", api_key: a, secret_key: b, brandname: X, timeout: 2s }}"""))
        c.daemon.start(c.base)
        ids = ["v%02d" % i for i in range(8)]
        for eid in ids:
            post(c, event(eid))
        recs = [wait_state(c, eid, ("done",)) for eid in ids]
        check(all(r["messages"][0]["provider"] == "esms" for r in recs),
              "failover: every message sent by the second provider")
        # after the first messages the first provider's circuit is open: no attempts wasted on it
        later = [eid for eid in ids[-2:]]
        post(c, event("v-late"))
        late = wait_state(c, "v-late", ("done",))
        check(late["messages"][0]["attempts"] == 1,
              "circuit open: a later message goes straight to the second provider")
        check(metric(c.base, "tinbao_provider_circuit_open", provider="esms_down") == [1],
              "the open circuit shows in /metrics")
        del later
        c.daemon.stop()

        # 3. quiet hours now: deferred, never dropped
        now = datetime.datetime.utcnow() + datetime.timedelta(hours=7)
        frm = now.strftime("%H:%M")
        to = (now + datetime.timedelta(minutes=3)).strftime("%H:%M")
        write(config(tmp, templates, c.redis.port, hport, c.fake.url, give_up="1h",
                     quiet=f'quiet_hours:\n  - {{ channels: [sms], from: "{frm}", to: "{to}" }}'))
        c.daemon.start(c.base)
        before = len(c.fake.requests())
        post(c, event("q1"))
        rec = wait_for(lambda: (lambda r: r if r and r["messages"] and
                                r["messages"][0]["state"] == "queued" else None)(record(c, "q1")),
                       20, "q1 queued")
        due = c.redis.cli("ZSCORE", "rel:sched", rec["messages"][0]["id"])
        check(rec["state"] == "accepted" and due and float(due) / 1000 > time.time() + 60 and
              len(c.fake.requests()) == before,
              "quiet hours: held (scheduled for the end of the window), nothing sent")
        c.daemon.stop()

        # 3b. coalescing: a status superseded within the window by a newer one is not sent
        write(config(tmp, templates, c.redis.port, hport, c.fake.url, extra="coalesce_window: 1s"))
        c.daemon.start(c.base)
        c.fake.control(reset=True)
        post(c, event("co-1", status="received", code="CO-1"))
        post(c, event("co-2", status="result_ready", code="CO-1"))
        # The coalesced event reads `skipped`: its notice was not sent by choice, not by failure.
        r1, r2 = wait_state(c, "co-1", ("skipped",)), wait_state(c, "co-2", ("done",))
        m1 = r1["messages"][0]
        sent = [r["body"]["RequestId"] for r in c.fake.requests()]
        check(r1["state"] == "skipped" and m1["state"] == "superseded" and
              m1["last_error"]["reason"] == "coalesced" and sent == [r2["messages"][0]["id"]],
              "coalesce_window: the older status is superseded, only the newer one is sent (%s, %s)" % (m1, sent))
        c.daemon.stop()

        # 4. kill -9 with 100 messages in flight, then Redis stopped and restarted
        write(config(tmp, templates, c.redis.port, hport, c.fake.url, consumer="rel-a"))
        c.daemon.start(c.base)
        scenario_crash(c)
        scenario_redis_outage(c)
        c.daemon.stop()

        # 5. two instances sharing one Redis and one provider's rate limit, under a key prefix
        # of their own: the stopped instances of the steps above would count in that prefix's
        # instance set until their last heartbeat is 10 s old.
        write(config(tmp, templates, c.redis.port, hport, c.fake.url, rate=10, consumer="rel-a",
                     prefix="rel2"))
        cfg2 = os.path.join(tmp, "b.yaml")
        hport2 = free_port()
        with open(cfg2, "w") as f:
            f.write(config(tmp, templates, c.redis.port, hport2, c.fake.url, rate=10,
                           consumer="rel-b", prefix="rel2"))
        c.daemon.start(c.base)
        second = Daemon(procs, args.tinbaod, cfg2, os.path.join(tmp, "tinbaod2.log"))
        base2 = "http://127.0.0.1:%d" % hport2
        second.start(base2)
        scenario_two_instances(c, base2)
        check(c.daemon.stop() == 0 and second.stop() == 0, "both instances stop cleanly")
    except AssertionError as e:
        failures.append(str(e))
        print("FAIL " + str(e))
    return finish(tmp, procs, logs)


if __name__ == "__main__":
    sys.exit(main())
