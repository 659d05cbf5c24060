#!/usr/bin/env python3
"""Call-backs to API clients (docs/callbacks.md), end to end, on Redis or SQLite.

A call-back receiver runs in this process (a small HTTP server) and checks every document's
Standard Webhooks signature on its own (hmac, base64), with both secrets of a rotation. For an
event whose SMS is sent and then reported delivered, it must see message.sent, message.delivered
and event.settled; a 500 is retried with the same webhook-id; call-backs queued when tinbaod is
killed with SIGKILL arrive after its restart; a receiver that never answers holds only its own
call-backs (its in-flight limit saturated, every SMS of a later batch is still sent, and the
other receiver still gets theirs); a 400 makes a dead letter that `tinbaoctl callbacks list`
shows and `tinbaoctl callbacks replay` sends again. On Redis, the status stream holds the same
documents.
"""

import argparse
import base64
import hashlib
import hmac
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, FakeEsms, Procs, Redis, check, failures, finish, free_port,  # noqa
                     http, wait_for)
import prometheus  # noqa: E402

TOKEN = "callbacks-test-token-0123456789abcdef"
ADMIN_TOKEN = "callbacks-admin-token-0123456789abcd"
API_KEY = "esms-test-key"
SECRET_KEY = "esms-test-secret"
REPORT_TOKEN = "esms-report-token-0123456789"
# Standard Webhooks secrets: whsec_ + base64 of random bytes (fixed here, for the test).
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
PREVIOUS = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()
STALLED_SECRET = "whsec_" + base64.b64encode(bytes(range(50, 82))).decode()
PHONE = "0912345678"


def verify(secret, headers, body):
    """The receiver's check, written from the Standard Webhooks spec: HMAC-SHA256 keyed with
    the base64 after whsec_, over id.timestamp.body, compared with each v1 signature."""
    key = base64.b64decode(secret[len("whsec_"):])
    msg_id, ts = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    signed = ("%s.%s." % (msg_id, ts)).encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for sig in headers.get("webhook-signature", "").split(" "):
        version, _, value = sig.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


class Receiver:
    """A call-back receiver on a free port. `answers[kind]` lists statuses to answer, in order,
    before 200; `down` answers 503 to everything; `stall` never answers (until released)."""

    def __init__(self, stall=False):
        self.lock = threading.Lock()
        self.got = []        # (headers, body bytes, status answered)
        self.answers = {}
        self.down = False
        self.stall = stall
        self.release = threading.Event()
        self.in_flight = 0
        self.max_in_flight = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with outer.lock:
                    outer.in_flight += 1
                    outer.max_in_flight = max(outer.max_in_flight, outer.in_flight)
                if outer.stall:
                    outer.got.append((headers, body, None))
                    outer.release.wait(120)
                    with outer.lock:
                        outer.in_flight -= 1
                    return
                try:
                    kind = json.loads(body).get("kind")
                except ValueError:
                    kind = None
                with outer.lock:
                    queue = outer.answers.get(kind) or []
                    status = 503 if outer.down else (queue.pop(0) if queue else 200)
                    outer.got.append((headers, body, status))
                    outer.in_flight -= 1
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hooks" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def docs(self, status=None):
        """(headers, document, raw body) of each request answered `status` (None: all)."""
        with self.lock:
            got = list(self.got)
        return [(h, json.loads(b), b) for h, b, s in got if status is None or s == status]

    def delivered(self, kind, pred=lambda d: True):
        return [(h, d, b) for h, d, b in self.docs(200) if d["kind"] == kind and pred(d)]

    def close(self):
        self.release.set()
        self.server.shutdown()


def event(event_id, code):
    return {
        "event_id": event_id,
        "occurred_at": "2026-11-27T08:15:00+07:00",
        "dossier": {"code": code, "status": "DA_CO_KET_QUA",
                    "procedure": {"code": "1.001612", "name": "Cấp Phiếu lý lịch tư pháp"},
                    "agency": {"code": "000.00.12.H62", "name": "Sở Tư pháp tỉnh Vĩnh Long"}},
        "applicant": {"name": "Nguyễn Thị Ánh Tuyết", "phone": PHONE},
        "data": {"counter": "Quầy số 5"},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--backend", default="redis", choices=["redis", "sqlite"])
    args = ap.parse_args()
    source = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-callbacks-")
    procs = Procs()
    good, stalled = Receiver(), Receiver(stall=True)
    try:
        if args.backend == "redis":
            redis = Redis(procs, tmp)
            redis.start()
            queue = ("backend: redis\n  redis: { url: \"redis://127.0.0.1:%d/0\", prefix: cbt }\n"
                     "  status_stream: { enabled: true, max_len: 1000 }" % redis.port)
        else:
            queue = "backend: sqlite"
        esms = FakeEsms(procs, source, API_KEY, SECRET_KEY)
        hport = free_port()
        base = "http://127.0.0.1:%d" % hport
        templates = os.path.join(source, "tests/integration/fixtures/templates")
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{hport}
  clients:
    - name: onestop
      token: "{TOKEN}"
      callbacks:
        url: {good.url}
        secret: "{SECRET}"
        previous_secret: "{PREVIOUS}"
        kinds: [message.sent, message.delivered, message.failed, event.settled]
        max_in_flight: 4
        timeout: 2s
    - name: stalled
      token: "{ADMIN_TOKEN}"
      callbacks: {{ url: "{stalled.url}", secret: "{STALLED_SECRET}", kinds: [message.sent],
                   max_in_flight: 1, timeout: 5m }}
queue:
  {queue}
templates:
  dir: {templates}
statuses:
  aliases: {{ "DA_CO_KET_QUA": result_ready }}
routes:
  - {{ status: [result_ready], channels: [sms] }}
retry: {{ max_attempts: 3, initial_delay: 100ms, max_delay: 1s, give_up_after: 1h,
         callback_initial_delay: 100ms, callback_max_delay: 500ms,
         callback_give_up_after: 1h }}
providers:
  - name: esms
    channel: sms
    type: esms
    base_url: {esms.url}
    api_key: "{API_KEY}"
    secret_key: "{SECRET_KEY}"
    brandname: UBND-VLONG
    callback_url: {base}/v1/callbacks/esms
    callback_token: "{REPORT_TOKEN}"
    rate_per_second: 200
    max_in_flight: 20
    timeout: 5s
""")
        chk = subprocess.run([args.tinbaod, "--config", cfg, "--check"], capture_output=True,
                             text=True, timeout=60)
        check(chk.returncode == 0, "tinbaod --check accepts the call-back config: " +
              (chk.stdout + chk.stderr)[-400:])
        daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
        daemon.start(base)
        auth = {"Authorization": "Bearer " + TOKEN}

        def record(event_id):
            st, rec = http("GET", base + "/v1/events/" + event_id, headers=auth)
            return rec if st == 200 else None

        # --- 1. sent (a 500 first), settled, delivered: signed, same id on the retry ---
        good.answers["message.sent"] = [500]
        st, _ = http("POST", base + "/v1/events", event("cb-1", "DOSSIER-CB-1"), auth)
        check(st == 202, "event cb-1 accepted")
        rec = wait_for(lambda: (lambda r: r if r and r["state"] == "done" else None)(
            record("cb-1")), 20, "cb-1 done")
        msg_id = rec["messages"][0]["id"]
        sent = wait_for(lambda: good.delivered("message.sent",
                                               lambda d: d["message_id"] == msg_id),
                        20, "message.sent answered 200")
        tries = [(h, d) for h, d, _ in good.docs()
                 if d["kind"] == "message.sent" and d["message_id"] == msg_id]
        check([s for _, _, s in good.got if s == 500][:1] == [500] and len(tries) >= 2,
              "the receiver answered 500 once, and the call-back came again")
        check(len({h["webhook-id"] for h, _ in tries}) == 1 and
              tries[0][0]["webhook-id"].startswith("msg_"),
              "the retry carries the same webhook-id: " + tries[0][0].get("webhook-id", "?"))
        h, d, raw = sent[0]
        check(verify(SECRET, h, raw) and verify(PREVIOUS, h, raw),
              "message.sent: the signature verifies with the secret and the previous one")
        check(len(h["webhook-signature"].split(" ")) == 2,
              "two v1 signatures while two secrets are valid")
        check(not verify(STALLED_SECRET, h, raw), "another client's secret does not verify it")
        check(abs(int(h["webhook-timestamp"]) - time.time()) < 300,
              "webhook-timestamp is the current Unix time in seconds")
        data = d
        check(data["event_id"] == "cb-1" and data["dossier_code"] == "DOSSIER-CB-1" and
              data["channel"] == "sms" and data["provider"] == "esms" and
              data["state"] == "sent" and data["segments"] >= 1 and data["sequence"] > 0,
              "message.sent document: event, dossier, message, channel, provider, state, "
              "segments, sequence: " + json.dumps(data))
        check(data["to"] == "0912***678" and PHONE[3:] not in raw.decode() and
              "84912345678" not in raw.decode(), "the phone number is masked as in the logs")
        settled = wait_for(lambda: good.delivered("event.settled",
                                                  lambda d: d["event_id"] == "cb-1"),
                           20, "event.settled")
        check(settled[0][1]["state"] == "done" and verify(SECRET, *settled[0][::2]),
              "event.settled: state done, signed")
        # eSMS reports the delivery (its GET call-back, as docs/providers/esms.md describes).
        st, _ = http("GET", base + "/v1/callbacks/esms?token=%s&RequestId=%s&SMSID=s-1"
                     "&SendStatus=5&SendSuccess=1&SendFailed=0" % (REPORT_TOKEN, msg_id))
        check(st == 200, "eSMS delivery report accepted")
        delivered = wait_for(lambda: good.delivered(
            "message.delivered", lambda d: d["message_id"] == msg_id), 20,
            "message.delivered")
        hd, dd, rawd = delivered[0]
        check(verify(SECRET, hd, rawd) and dd["state"] == "delivered" and
              dd["sequence"] > data["sequence"] and hd["webhook-id"] != h["webhook-id"],
              "message.delivered: signed, a higher sequence than message.sent, its own id")

        # --- 2. a stalled receiver holds only its own call-backs ---
        wait_for(lambda: len(stalled.got) >= 1, 20, "the stalled receiver's first request")
        batch = ["cb-batch-%d" % i for i in range(12)]
        for i, e in enumerate(batch):
            st, _ = http("POST", base + "/v1/events", event(e, "DOSSIER-B-%d" % i), auth)
            check(st == 202, "batch event %s accepted" % e)
        wait_for(lambda: all((lambda r: r and r["state"] == "done")(record(e)) for e in batch),
                 30, "every SMS of the batch sent")
        check(True, "every SMS of a later batch is sent while the stalled receiver holds "
              "its in-flight limit")
        wait_for(lambda: all(good.delivered("message.sent",
                                            lambda d, e=e: d["event_id"] == e)
                             for e in batch), 30, "the other client's call-backs for the batch")
        check(True, "the other client got message.sent for every event of the batch")
        check(stalled.max_in_flight == 1 and len(stalled.got) == 1,
              "the stalled receiver has one call-back in flight, no more (its limit): %d, %d"
              % (stalled.max_in_flight, len(stalled.got)))
        metrics = prometheus.parse(http("GET", base + "/metrics")[1])
        check(prometheus.value(metrics, "tinbao_client_callbacks_in_flight",
                               client="stalled") == 1,
              "/metrics: tinbao_client_callbacks_in_flight{client=stalled} 1")
        check((prometheus.value(metrics, "tinbao_client_callbacks_total",
                                client="onestop", outcome="retry") or 0) >= 1 and
              (prometheus.value(metrics, "tinbao_client_callbacks_total",
                                client="onestop", outcome="delivered") or 0) >= 14,
              "/metrics: tinbao_client_callbacks_total by client and outcome")

        # --- 3. kill -9 between the send and the call-back: nothing lost ---
        good.down = True
        st, _ = http("POST", base + "/v1/events", event("cb-kill", "DOSSIER-KILL"), auth)
        rec = wait_for(lambda: (lambda r: r if r and r["state"] == "done" else None)(
            record("cb-kill")), 20, "cb-kill sent")
        kill_msg = rec["messages"][0]["id"]
        wait_for(lambda: any(d["kind"] == "message.sent" and
                             d["message_id"] == kill_msg for _, d, _ in good.docs(503)),
                 20, "a refused attempt of cb-kill's message.sent")
        first_id = [h["webhook-id"] for h, d, _ in good.docs(503)
                    if d.get("message_id") == kill_msg][0]
        daemon.kill9()
        good.down = False
        daemon.start(base)
        got = wait_for(lambda: good.delivered("message.sent",
                                              lambda d: d["message_id"] == kill_msg),
                       60, "cb-kill's message.sent after the restart")
        check(got[0][0]["webhook-id"] == first_id and verify(SECRET, got[0][0], got[0][2]),
              "after kill -9 the queued call-back arrives, same webhook-id, signed")
        wait_for(lambda: good.delivered("event.settled",
                                        lambda d: d["event_id"] == "cb-kill"),
                 60, "cb-kill's event.settled after the restart")
        check(True, "event.settled of cb-kill arrives after the restart")
        check(len([r for r in esms.requests() if r["body"].get("RequestId") == kill_msg]) == 1,
              "the SMS itself was sent once")

        # --- 4. a 400 makes a dead letter; tinbaoctl lists and replays it ---
        good.answers["message.sent"] = [400]
        http("POST", base + "/v1/events", event("cb-dead", "DOSSIER-DEAD"), auth)
        rec = wait_for(lambda: (lambda r: r if r and r["state"] == "done" else None)(
            record("cb-dead")), 20, "cb-dead sent")
        dead_msg = rec["messages"][0]["id"]
        env = dict(os.environ, TINBAO_TOKEN=ADMIN_TOKEN)
        ctl = [args.tinbaoctl, "--config", cfg, "--url", base, "--json"]

        def dead_list():
            p = subprocess.run(ctl + ["callbacks", "list", "--client", "onestop"], env=env,
                               capture_output=True, text=True, timeout=30)
            if p.returncode != 0:
                return None
            return [x for x in json.loads(p.stdout)["dead_letters"]
                    if x["document"].get("message_id") == dead_msg]
        dead = wait_for(dead_list, 20, "the dead call-back listed")
        check(dead[0]["kind"] == "message.sent" and dead[0]["last_error"] == "http 400" and
              dead[0]["attempts"] == 1, "tinbaoctl callbacks list: kind, attempts, last error")
        p = subprocess.run(ctl + ["callbacks", "replay", dead[0]["id"]], env=env,
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "tinbaoctl callbacks replay ID: " + p.stdout + p.stderr)
        again = wait_for(lambda: good.delivered("message.sent",
                                                lambda d: d["message_id"] == dead_msg),
                         20, "the replayed call-back delivered")
        check(again[0][0]["webhook-id"] == dead[0]["id"], "the replay keeps the webhook-id")
        check(dead_list() == [], "a delivered replay leaves the dead letters")
        p = subprocess.run(ctl + ["callbacks", "replay", dead[0]["id"]], env=env,
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 1, "replaying an id that is no dead call-back exits 1")

        if args.backend == "redis":
            entries = redis.cli("XRANGE", "cbt:status", "-", "+")
            check("message.delivered" in entries and "event.settled" in entries and
                  PHONE not in entries, "the status stream holds the documents, phone masked")
    finally:
        good.close()
        stalled.close()
        rc = finish(tmp, procs, ["tinbaod.log"])
    return rc


if __name__ == "__main__":
    sys.exit(main())
