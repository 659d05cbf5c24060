#!/usr/bin/env python3
"""feedback.received (docs/callbacks.md): a citizen's rating of the service reaches the client.

tinbaod sends a ZNS message through the zalo_zns adapter to the fake Zalo; the fake then plays
the citizen who rates it: it POSTs Zalo's signed `user_feedback` webhook (X-ZEvent-Signature) to
tinbaod's /v1/callbacks/zalo, as Zalo does. The call-back receiver in this test must get one
feedback.received, signed as Standard Webhooks says (checked here with hmac and base64), naming
the event, dossier, message and rating; GET /v1/dossiers/{code}/feedback lists it; the same
webhook again (Zalo retrying) stores nothing new and makes no second call-back; a forged or
unsigned one is refused; a rating of a message tinbao does not know is answered 200 and not
kept. On Redis, a rating that comes while Redis is down is answered 503 with Retry-After (Zalo
sends it again) and is kept when it comes again.
"""

import argparse
import base64
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Procs, Redis, check, finish, free_port, http, wait_for  # noqa: E402
from test_client_callbacks import Receiver, verify  # noqa: E402
import prometheus  # noqa: E402

TOKEN = "feedback-test-token-0123456789abcdef"
APP_ID = "fb-app"
APP_SECRET = "fb-app-secret"
OA_SECRET = "fb-oa-secret"
SECRET = "whsec_" + base64.b64encode(bytes(range(11, 43))).decode()
PHONE = "0912345678"
CODE = "000.00.12.H62-261204-0042"

TEMPLATE = """zalo:
  template_id: "301207"
  params:
    customer_name: "{{ applicant.name }}"
    dossier_code: "{{ dossier.code }}"
"""


def config(tmp, port, zalo_url, receiver_url, backend, redis_port):
    queue = ('backend: redis\n  redis: { url: "redis://127.0.0.1:%d/0", prefix: fb }'
             % redis_port if backend == "redis" else "backend: sqlite")
    return f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{port}
  clients:
    - {{ name: igate, token: "{TOKEN}", callbacks: {{ url: "{receiver_url}", secret: "{SECRET}",
         kinds: [feedback.received] }} }}
queue:
  {queue}
templates:
  dir: {tmp}/templates
statuses:
  aliases: {{ "DA_CO_KET_QUA": result_ready }}
routes:
  - {{ status: [result_ready], channels: [zalo] }}
retry: {{ max_attempts: 3, initial_delay: 100ms, max_delay: 1s, give_up_after: 1h }}
providers:
  - name: zalo
    channel: zalo
    type: zalo_zns
    base_url: {zalo_url}
    oauth_url: {zalo_url}
    app_id: {APP_ID}
    secret_key: "{APP_SECRET}"
    refresh_token: RT-initial
    webhook_secret: "{OA_SECRET}"
    timeout: 5s
"""


def event(event_id):
    return {
        "event_id": event_id,
        "occurred_at": "2026-12-04T08:15:00+07:00",
        "dossier": {
            "code": CODE, "status": "DA_CO_KET_QUA",
            "procedure": {"code": "1.001612", "name": "Cấp Phiếu lý lịch tư pháp"},
            "agency": {"code": "000.00.12.H62", "name": "Sở Tư pháp tỉnh Vĩnh Long"},
        },
        "applicant": {"name": "Nguyễn Thị Ánh Tuyết", "phone": PHONE, "email": None,
                      "zalo_user_id": None},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl")
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "redis"])
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-feedback-")
    os.makedirs(os.path.join(tmp, "state"))
    os.makedirs(os.path.join(tmp, "templates"))
    with open(os.path.join(tmp, "templates", "result_ready.yaml"), "w") as f:
        f.write(TEMPLATE)
    procs = Procs()
    receiver = Receiver()
    try:
        redis = None
        if args.backend == "redis":
            redis = Redis(procs, tmp)
            redis.start()
        fake = procs.start([sys.executable, os.path.join(src, "tests/fakes/fake_zalo.py"),
                            "--app-id", APP_ID, "--secret-key", APP_SECRET,
                            "--refresh-token", "RT-initial"],
                           stdout=subprocess.PIPE, text=True)
        line = fake.stdout.readline().split()
        assert line and line[0] == "PORT", "fake Zalo did not print its port"
        zalo = "http://127.0.0.1:" + line[1]
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(config(tmp, port, zalo, receiver.url, args.backend,
                           redis.port if redis else 0))
        chk = subprocess.run([args.tinbaod, "--config", cfg, "--check"], capture_output=True,
                             text=True, timeout=60)
        check(chk.returncode == 0, "tinbaod --check passes: " + (chk.stdout + chk.stderr)[-600:])
        daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
        daemon.start(base)
        auth = {"Authorization": "Bearer " + TOKEN}
        webhook = base + "/v1/callbacks/zalo"

        def rate(**spec):
            spec.setdefault("webhook", webhook)
            spec.setdefault("oa_secret", OA_SECRET)
            st, got = http("POST", zalo + "/_control", {"rate": spec})
            assert st == 200, "the fake's rate control: %s %s" % (st, got)
            return got

        def brief(got):
            return "%s %s" % (got["status"], got["body"][:200])

        def feedback_list():
            st, body = http("GET", base + "/v1/dossiers/%s/feedback" % CODE, headers=auth)
            assert st == 200, "GET feedback: %s %s" % (st, body)
            return body["feedback"]

        def counter(outcome):
            st, text = http("GET", base + "/metrics")
            samples = prometheus.parse(text).get("tinbao_feedback_total", {}).get("samples", {})
            key = ("tinbao_feedback_total", (("outcome", outcome), ("provider", "zalo")))
            return samples.get(key, 0)

        # --- the ZNS message, sent ---
        st, _ = http("POST", base + "/v1/events", event("fb-ev-1"), auth)
        check(st == 202, "event accepted (%s)" % st)

        def sent():
            st, rec = http("GET", base + "/v1/events/fb-ev-1", headers=auth)
            msgs = rec.get("messages", []) if st == 200 and isinstance(rec, dict) else []
            return msgs[0] if msgs and msgs[0].get("state") == "sent" else None
        msg = wait_for(sent, 20, "the Zalo message sent")
        check(msg["provider_message_id"], "the record keeps Zalo's msg_id")

        # --- a forged or unsigned rating is refused, nothing kept ---
        for how in ("bad", "none"):
            got = rate(tracking_id=msg["id"], rate=1, signature=how)
            check(got["status"] == 401, "a %s signature is refused 401 (%s)" % (how, brief(got)))
        check(feedback_list() == [], "nothing kept from refused webhooks")

        # --- the citizen's rating ---
        submit = 1796000000000
        note = "Cán bộ hướng dẫn tận tình, trả kết quả đúng hẹn"
        ticks = ["Nhân viên nhiệt tình", "Thủ tục nhanh gọn"]
        got = rate(tracking_id=msg["id"], rate=5, note=note, feedbacks=ticks, submit_time=submit)
        check(got["status"] == 200 and got["msg_id"] == msg["provider_message_id"],
              "the signed user_feedback for the sent message is taken (%s)" % brief(got))
        docs = wait_for(lambda: receiver.delivered("feedback.received"), 20,
                        "feedback.received at the receiver")
        h, d, raw = docs[0]
        check(verify(SECRET, h, raw) and h["webhook-id"].startswith("msg_"),
              "feedback.received is signed (Standard Webhooks, checked here)")
        want_id = "zalo:%s:%d" % (msg["provider_message_id"], submit)
        check(d["kind"] == "feedback.received" and d["feedback_id"] == want_id and
              d["event_id"] == "fb-ev-1" and d["dossier_code"] == CODE and
              d["message_id"] == msg["id"] and d["channel"] == "zalo" and
              d["provider"] == "zalo" and d["provider_message_id"] == msg["provider_message_id"],
              "the document names the feedback, event, dossier, message, channel and provider: "
              + str(d))
        check(d["rating"] == 5 and d["note"] == note and d["comments"] == ticks and
              d["submitted_at"].startswith("2026-11-30T") and isinstance(d.get("received_at"), str)
              and isinstance(d.get("at"), str),
              "the document carries the rating, the note and ticked comments, the times: " + str(d))
        check("912345678" not in raw.decode(), "no phone number in the document")
        listed = feedback_list()
        check(len(listed) == 1 and listed[0]["id"] == want_id and listed[0]["rating"] == 5 and
              listed[0]["message_id"] == msg["id"] and listed[0]["event_id"] == "fb-ev-1" and
              listed[0]["note"] == note and listed[0]["comments"] == ticks,
              "GET /v1/dossiers/{code}/feedback lists it: %s" % listed)
        check(counter("stored") == 1, "tinbao_feedback_total{outcome=stored} 1")

        # --- Zalo retries the same webhook: stored once, one call-back ---
        again = rate(tracking_id=msg["id"], rate=5, note=note, feedbacks=ticks, submit_time=submit)
        check(again["status"] == 200, "the repeat is answered 200 (%s)" % brief(again))
        check(counter("repeat") == 1, "tinbao_feedback_total{outcome=repeat} 1")
        check(len(feedback_list()) == 1, "the repeat is not stored twice")
        # A second rating of the same message (the citizen rates again later) is another answer;
        # its call-back shows the repeat's would have come before it.
        rate(tracking_id=msg["id"], rate=3, submit_time=submit + 60000)
        wait_for(lambda: len(receiver.delivered("feedback.received")) >= 2, 20,
                 "the second rating's feedback.received")
        ids = [d["feedback_id"] for _, d, _ in receiver.delivered("feedback.received")]
        check(ids.count(want_id) == 1 and len(ids) == 2,
              "one feedback.received per answer, none for the repeat: %s" % ids)
        check([f["rating"] for f in feedback_list()] == [3, 5], "both listed, newest first")

        # --- a rating of a message tinbao does not know: answered, logged, not kept ---
        unknown = rate(tracking_id="m-not-ours", msg_id="zmsg-other", rate=2)
        check(unknown["status"] == 200, "a rating of an unknown message is answered 200")
        check(counter("unknown_message") == 1, "tinbao_feedback_total{outcome=unknown_message} 1")
        check("does not know" in daemon.log_text(), "the unknown message's rating is logged")
        check(note not in daemon.log_text(), "what the citizen wrote is not in the log")

        # --- Redis down: 503, so that Zalo sends it again; kept when it comes again ---
        if redis:
            redis.stop()
            later = submit + 120000
            down = rate(tracking_id=msg["id"], rate=4, submit_time=later)
            check(down["status"] == 503,
                  "a rating while the queue is down is answered 503 (%s)" % brief(down))
            check(down["retry_after"] is not None and int(down["retry_after"]) >= 1,
                  "the 503 says when to send it again: Retry-After %s" % down["retry_after"])
            redis.start()
            wait_for(lambda: http("GET", base + "/readyz")[0] == 200, 30, "tinbaod ready again")
            back = wait_for(lambda: (lambda g: g if g["status"] == 200 else None)(
                rate(tracking_id=msg["id"], rate=4, submit_time=later)), 30,
                "the rating taken once Redis is back")
            check(back["status"] == 200, "Zalo's retry is taken once the queue is back")
            wait_for(lambda: len(receiver.delivered("feedback.received")) >= 3, 20,
                     "the third rating's feedback.received")
            check(len(feedback_list()) == 3, "the rating that came during the outage is kept")
    except AssertionError as e:
        check(False, str(e))
    finally:
        receiver.close()
    return finish(tmp, procs, ["tinbaod.log", "redis.log"])


if __name__ == "__main__":
    sys.exit(main())
