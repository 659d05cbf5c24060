#!/usr/bin/env python3
"""inbound.received (docs/callbacks.md): a citizen's SMS reply reaches the API client.

The fake SMSC (tests/fakes/smsc) sends tinbaod's smpp adapter a deliver_sm that is not a receipt
(a citizen's reply to the brandname); a call-back receiver in this test must get one
inbound.received document for it, signed as Standard Webhooks says (checked here with hmac and
base64, not with tinbao's code), with the sender's number masked and the text as sent. A
delivery receipt is no citizen's reply: it makes no inbound.received.
"""

import argparse
import base64
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Procs, Redis, check, finish, free_port, wait_for  # noqa: E402
from test_client_callbacks import Receiver, verify  # noqa: E402
from test_smpp import (PASSWORD, SENDER, TEMPLATES, TOKEN, Smsc, config, event,  # noqa: E402
                       message_state, post, receipt, settled, wait_bound)

SECRET = "whsec_" + base64.b64encode(bytes(range(7, 39))).decode()
CITIZEN = "84987654321"


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
        text = config(tmp, hport, smsc.port, pw, args.backend, redis_port)
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
    except AssertionError as e:
        check(False, str(e))
    finally:
        receiver.close()
    return finish(tmp, procs, ["tinbaod.log", "smsc.log"])


if __name__ == "__main__":
    sys.exit(main())
