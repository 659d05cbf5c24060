#!/usr/bin/env python3
"""The client examples of docs/clients/ against a live tinbaod: each posts an event signed with
version 2, reads its record, and checks the fixed sample call-back's Standard Webhooks signature
(valid as sent, invalid once the body is changed). The event each posted is then read back with
another client's token, so an example that only printed the right words would still fail. Then
each example checks, the same way, a call-back that tinbaod itself sent to a receiver in this
test (given in CALLBACK_* variables), so the examples and the daemon cannot disagree.

Each toolchain comes from scripts/install-deps.sh (bash with curl and openssl, python3, php-cli,
openjdk-17-jdk-headless, mono-mcs); a missing one fails the test and names its package.
"""

import argparse
import base64
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Procs, check, finish, free_port, http, wait_for  # noqa

TOKEN = "example-token-0123456789abcdef"
SECRET = "example-hmac-secret-0123456789"
OPS = "ops-token-0123456789abcdef"
CALLBACK_SECRET = "whsec_" + base64.b64encode(b"clients-test-callback-secret-32b").decode()


class Receiver:
    """Keeps every call-back POSTed to it: (headers, raw body); answers 204."""

    def __init__(self):
        self.got = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d/hooks" % self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def config(tmp, source, port, callback_url):
    return f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{port}
  clients:
    - name: onestop
      token: "{TOKEN}"
      hmac_secret: "{SECRET}"
      signature: v2
      scopes: [events:write, events:read]
    - name: ops
      token: "{OPS}"
      scopes: [events:read:all]
      callbacks: {{ url: "{callback_url}", secret: "{CALLBACK_SECRET}", kinds: [message.sent] }}
queue:
  backend: sqlite
templates:
  dir: {source}/templates
routes:
  - {{ status: [received], channels: [sms] }}
providers:
  - {{ name: outbox-sms, channel: sms, type: outbox, path: {tmp}/outbox.jsonl }}
"""


def examples(source, tmp):
    """(name, package, [commands]) for each example; the last command runs it."""
    d = os.path.join(source, "docs/clients")
    exe = os.path.join(tmp, "TinbaoClient.exe")
    return [
        ("shell", "curl, openssl", [["bash", os.path.join(d, "tinbao-client.sh")]]),
        ("python", "python3", [[sys.executable, os.path.join(d, "tinbao_client.py")]]),
        ("php", "php-cli", [["php", os.path.join(d, "tinbao_client.php")]]),
        ("java", "openjdk-17-jdk-headless", [["java", os.path.join(d, "TinbaoClient.java")]]),
        ("csharp", "mono-mcs",
         [["mcs", "-nologo", "-out:" + exe, os.path.join(d, "TinbaoClient.cs")], ["mono", exe]]),
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl")
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--only", help="run only this example")
    args = ap.parse_args()
    source = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-clients-")
    procs = Procs()
    port = free_port()
    receiver = Receiver()
    cfg = os.path.join(tmp, "tinbao.yaml")
    with open(cfg, "w") as f:
        f.write(config(tmp, source, port, receiver.url))
    base = "http://127.0.0.1:%d" % port
    daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
    try:
        daemon.start(base)
        for name, package, commands in examples(source, tmp):
            if args.only and name != args.only:
                continue
            run_example(name, package, commands, base, tmp)
        # A call-back tinbaod sent (message.sent of an example's event), checked by each example.
        headers, body = wait_for(lambda: receiver.got[:1] and receiver.got[0], 30,
                                 "a call-back from tinbaod")
        check(headers.get("webhook-id", "").startswith("msg_") and
              headers.get("webhook-signature", "").startswith("v1,"),
              "tinbaod's call-back has the headers the examples read: " + str(headers))
        sent = {"CALLBACK_SECRET": CALLBACK_SECRET, "CALLBACK_ID": headers["webhook-id"],
                "CALLBACK_TIMESTAMP": headers["webhook-timestamp"],
                "CALLBACK_SIGNATURE": headers["webhook-signature"],
                "CALLBACK_BODY": body.decode()}
        for name, package, commands in examples(source, tmp):
            if args.only and name != args.only:
                continue
            run_example(name, package, commands, base, tmp, sent)
    except AssertionError as e:
        check(False, str(e))
    finally:
        receiver.server.shutdown()
    return finish(tmp, procs, ["tinbaod.log"])


def run_example(name, package, commands, base, tmp, callback=None):
    """Runs one example; with `callback` (CALLBACK_* variables) it checks that call-back in
    place of the fixed sample."""
    missing = [c[0] for c in commands if shutil.which(c[0]) is None]
    if not check(not missing, "%s: %s found (package %s; scripts/install-deps.sh installs it)" %
                 (name, ", ".join(missing) or "the toolchain", package)):
        return
    event_id = "example-%s-%d%s" % (name, os.getpid(), "-cb" if callback else "")
    env = dict(os.environ, TINBAO_URL=base, TINBAO_TOKEN=TOKEN, TINBAO_HMAC_SECRET=SECRET,
               EVENT_ID=event_id, **(callback or {}))
    what = "tinbaod's call-back" if callback else "the sample call-back"
    out = ""
    for cmd in commands:
        try:
            p = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=120)
        except subprocess.TimeoutExpired:
            check(False, "%s: %s finished within 120 s" % (name, cmd[0]))
            return
        out = p.stdout
        if not check(p.returncode == 0, "%s: %s exits 0 (%d)" % (name, cmd[0], p.returncode)):
            print(p.stdout[-2000:], p.stderr[-2000:])
            return
    print(out.rstrip())
    check("POST /v1/events: 202" in out, "%s: the signed event is accepted" % name)
    check("GET /v1/events/%s: 200 state=" % event_id in out, "%s: its record is read" % name)
    check("sample call-back: valid; altered body: invalid" in out,
          "%s: %s verifies, and not once altered" % (name, what))
    status, record = http("GET", base + "/v1/events/" + event_id,
                          headers={"Authorization": "Bearer " + OPS})
    check(status == 200 and record.get("dossier_code") == "000.00.12.H62-261120-0007",
          "%s: tinbaod has the event it posted (%d)" % (name, status))


if __name__ == "__main__":
    sys.exit(main())
