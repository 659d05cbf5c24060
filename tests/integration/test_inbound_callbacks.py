#!/usr/bin/env python3
"""inbound.received (docs/callbacks.md): a citizen's SMS reply reaches the API client.

The fake SMSC (tests/fakes/smsc) sends tinbaod's smpp adapter a deliver_sm that is not a receipt
(a citizen's reply to the brandname); a call-back receiver in this test must get one
inbound.received document for it, signed as Standard Webhooks says (checked here with hmac and
base64, not with tinbao's code), with the sender's number masked and the text as sent. A
delivery receipt is no citizen's reply: it makes no inbound.received. The SMSC sending the same
reply twice makes one call-back.

SpeedSMS's webhook (docs/providers/speedsms.md) posts `incoming` documents: without the
callback token they are refused; with it each becomes one inbound.received, also when SpeedSMS
posts it twice (with its id, and without one). On Redis, a webhook that comes while the queue is
down is answered 503 (SpeedSMS sends it again), and makes its call-back once the queue is back.
"""

import argparse
import base64
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Daemon, Procs, Redis, check, finish, free_port, http,  # noqa: E402
                     wait_for)
import prometheus  # noqa: E402
from test_client_callbacks import Receiver, verify  # noqa: E402
from test_smpp import (PASSWORD, SENDER, TEMPLATES, TOKEN, Smsc, config, event,  # noqa: E402
                       message_state, post, receipt, settled, wait_bound)

SECRET = "whsec_" + base64.b64encode(bytes(range(7, 39))).decode()
CITIZEN = "84987654321"
HOOK_TOKEN = "speedsms-hook-token-0123456789"
SPEEDSMS = """  - name: speedsms
    channel: sms
    type: speedsms
    base_url: http://127.0.0.1:9
    access_token: the-access-token
    sender: UBND-VLONG
    callback_token: "%s"
    inbound_dedupe_window: 10m
""" % HOOK_TOKEN


def with_texts(receiver, text):
    return [d for _, d, _ in receiver.delivered("inbound.received", lambda d: d["text"] == text)]


def incoming(base, body, token=HOOK_TOKEN):
    """POSTs a SpeedSMS webhook body (a dict as JSON, bytes as they are); the status answered."""
    url = base + "/v1/callbacks/speedsms" + ("?token=" + token if token is not None else "")
    if isinstance(body, bytes):
        return http("POST", url, raw=body)[0]
    return http("POST", url, body)[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl")
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--node", default="node")
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "redis"])
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-inbound-")
    os.makedirs(os.path.join(tmp, "state"))
    os.makedirs(os.path.join(tmp, "templates"))
    for name, text in TEMPLATES.items():
        with open(os.path.join(tmp, "templates", name), "w") as f:
            f.write(text)
    procs = Procs()
    receiver = Receiver()
    try:
        redis_port = 0
        if args.backend == "redis":
            redis = Redis(procs, tmp)
            redis.start()
            redis_port = redis.port
        smsc = Smsc(procs, args.node, src, tmp)
        hport = free_port()
        base = "http://127.0.0.1:%d" % hport
        pw = os.path.join(tmp, "smpp_pass")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        client = '- { name: igate, token: "%s" }' % TOKEN
        text = config(tmp, hport, smsc.port, pw, args.backend, redis_port, extra=SPEEDSMS)
        assert client in text, "test_smpp.config() names its client as expected"
        text = text.replace(client, '- { name: igate, token: "%s", callbacks: { url: "%s", '
                            'secret: "%s", kinds: [inbound.received] } }'
                            % (TOKEN, receiver.url, SECRET))
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(text)
        chk = subprocess.run([args.tinbaod, "--config", cfg, "--check"], capture_output=True,
                             text=True, timeout=60)
        check(chk.returncode == 0, "tinbaod --check passes: " + (chk.stdout + chk.stderr)[-600:])
        daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
        daemon.start(base)
        wait_bound(smsc)

        got = smsc.control(mo={"source_addr": CITIZEN, "to": SENDER, "text": "Cam on, da nhan"})
        check(got.get("sent") == {"mo": True}, "the fake sent a citizen's deliver_sm")
        docs = wait_for(lambda: receiver.delivered("inbound.received"), 20,
                        "inbound.received at the receiver")
        h, d, raw = docs[0]
        check(verify(SECRET, h, raw) and h["webhook-id"].startswith("msg_"),
              "inbound.received is signed (Standard Webhooks, checked here)")
        check(d["provider"] == "smsc" and d["channel"] == "sms" and d["to"] == SENDER and
              d["text"] == "Cam on, da nhan" and isinstance(d.get("at"), str),
              "the document names the provider, channel, brandname and text: " + str(d))
        check("***" in d["from"] and d["from"].endswith("321") and
              "987654321" not in raw.decode(),
              "the citizen's number is masked as in the logs: " + d["from"])
        check("987654321" not in daemon.log_text(), "the citizen's number is not in the log")

        # A receipt is no reply: a message sent, its receipt, then another reply; the receiver
        # gets the two replies only (the second shows the receipt was handled before it).
        ctx = dict(base=base, smsc=smsc)
        post(ctx, event("inbound-1", "H12.34-261204-0009"))
        m = settled(ctx, "inbound-1", states=("sent",))
        smsc_id = [p["body"]["message_id"] for p in smsc.pdus("submit_sm_resp", "out")][-1]
        receipt(ctx, smsc_id)
        wait_for(lambda: message_state(ctx, m["id"]) == "delivered", 15, "the message delivered")
        smsc.control(mo={"source_addr": CITIZEN, "to": SENDER, "text": "Lan hai"})
        wait_for(lambda: len(receiver.delivered("inbound.received")) >= 2, 20,
                 "the second reply's inbound.received")
        kinds = [d["kind"] for _, d, _ in receiver.docs()]
        texts = [d["text"] for _, d, _ in receiver.delivered("inbound.received")]
        check(kinds.count("inbound.received") == 2 and texts == ["Cam on, da nhan", "Lan hai"],
              "one inbound.received per reply, none for the receipt: %s" % texts)

        # --- the SMSC sends the same reply twice (each deliver_sm answered ESME_ROK) ---
        resp_before = smsc.stats()["deliver_sm_resp"]
        smsc.control(mo={"source_addr": CITIZEN, "to": SENDER, "text": "Gui hai lan", "times": 2})
        wait_for(lambda: smsc.stats()["deliver_sm_resp"] >= resp_before + 2, 20,
                 "both deliver_sm answered")
        answers = [p["command_status"] for p in smsc.pdus("deliver_sm_resp", "in")][-2:]
        check(answers == [0, 0], "both copies answered ESME_ROK: %s" % answers)
        # Once its call-back was delivered (nothing of it left in the call-back queue), the SMSC
        # sends it once more: still recognised.
        wait_for(lambda: with_texts(receiver, "Gui hai lan"), 20, "the reply's call-back")
        smsc.control(mo={"source_addr": CITIZEN, "to": SENDER, "text": "Gui hai lan"})
        # A later reply, once delivered, shows the copies were handled before it.
        smsc.control(mo={"source_addr": CITIZEN, "to": SENDER, "text": "Sau do"})
        wait_for(lambda: with_texts(receiver, "Sau do"), 20, "the later reply's call-back")
        check(len(with_texts(receiver, "Gui hai lan")) == 1,
              "the SMSC's two copies of one reply make one inbound.received: %d"
              % len(with_texts(receiver, "Gui hai lan")))

        # --- SpeedSMS's webhook: the token, then `incoming` posted twice ---
        first = {"type": "incoming", "phone": "0987654321", "content": "Speed co id",
                 "smsId": "ss-1"}
        check(incoming(base, first, token=None) == 403 and
              incoming(base, first, token="wrong-token-0123456789") == 403,
              "an incoming webhook without the callback token is refused (403)")
        check(incoming(base, b"not json") == 400, "a body that is not JSON is refused (400)")
        no_id = {"type": "incoming", "phone": "84987654321", "content": "Speed khong id"}
        check(incoming(base, first) == 200 and incoming(base, no_id) == 200,
              "SpeedSMS's incoming answered 200, with an id and without")
        # Posted again once their call-backs were delivered (SpeedSMS retrying a webhook whose
        # answer it did not get): recognised, answered 200.
        wait_for(lambda: with_texts(receiver, "Speed co id") and
                 with_texts(receiver, "Speed khong id"), 20, "the two webhooks' call-backs")
        check(incoming(base, first) == 200 and incoming(base, no_id) == 200,
              "the same two posted again: answered 200")
        check(incoming(base, {"type": "report", "tranId": 1, "phone": CITIZEN, "status": 0})
              == 200, "a delivery report is answered 200 (not applied)")
        incoming(base, {"type": "incoming", "phone": CITIZEN, "content": "Speed sau", "smsId": "ss-2"})
        wait_for(lambda: with_texts(receiver, "Speed sau"), 20, "the later webhook's call-back")
        got = with_texts(receiver, "Speed co id")
        check(len(got) == 1 and got[0]["provider"] == "speedsms" and
              got[0]["provider_message_id"] == "ss-1" and got[0]["from"].endswith("321") and
              "***" in got[0]["from"], "one inbound.received for ss-1 posted twice: %s" % got)
        check(len(with_texts(receiver, "Speed khong id")) == 1,
              "one inbound.received for a document without an id posted twice")
        h, _, raw = receiver.delivered("inbound.received", lambda d: d["text"] == "Speed co id")[0]
        check(verify(SECRET, h, raw) and h["webhook-id"].startswith("msg_"),
              "the SpeedSMS reply's call-back is signed: " + h["webhook-id"])

        if args.backend == "redis":
            # --- the queue is down: 503 (SpeedSMS sends it again), then once it is back, 200 ---
            down = {"type": "incoming", "phone": CITIZEN, "content": "Speed luc hong",
                    "smsId": "ss-down"}
            redis.stop()
            wait_for(lambda: incoming(base, down) == 503, 30,
                     "the webhook answered 503 while the queue is down")
            check(True, "SpeedSMS's incoming is answered 503 while the queue is down")
            redis.start()
            wait_for(lambda: incoming(base, down) == 200, 60, "the webhook taken once Redis is back")
            wait_for(lambda: with_texts(receiver, "Speed luc hong"), 30, "its call-back")
            check(incoming(base, down) == 200, "posted once more: answered 200")
            incoming(base, {"type": "incoming", "phone": CITIZEN, "content": "Speed cuoi",
                            "smsId": "ss-3"})
            wait_for(lambda: with_texts(receiver, "Speed cuoi"), 30, "the last call-back")
            check(len(with_texts(receiver, "Speed luc hong")) == 1,
                  "the message refused while the queue was down makes one call-back once it "
                  "is back")

        metrics = prometheus.parse(http("GET", base + "/metrics")[1])
        check((prometheus.value(metrics, "tinbao_inbound_messages_total", provider="speedsms")
               or 0) >= 3, "/metrics counts the SpeedSMS replies")
        log = daemon.log_text()
        check("987654321" not in log and "Speed co id" not in log,
              "neither the citizen's number nor the text is in the log")
    except AssertionError as e:
        check(False, str(e))
    finally:
        receiver.close()
    return finish(tmp, procs, ["tinbaod.log", "smsc.log"])


if __name__ == "__main__":
    sys.exit(main())
