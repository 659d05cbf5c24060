#!/usr/bin/env python3
"""Hostile inputs against a real tinbaod, one check per row of the table in docs/security.md.

Each probe is black-box: HTTP on loopback, the provider fakes of tests/fakes, the daemon's log
and state folder, tinbaoctl's command line. Every row fails on commit 9a7ac44 (the daemon the
table was found on) and passes now; the table in docs/security.md ("Hostile inputs, before and after") says how each one
failed there and the commands that showed it.

Phase 1 runs a config that both daemons load (SQLite queue, eSMS, Zalo and SMTP fakes). Phase 2
needs keys 9a7ac44 did not have (TLS, client scopes and rates): that daemon refuses the config,
which counts as the row failing there.
"""

import argparse
import hashlib
import hmac
import http.client as httpclient
import json
import os
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Procs, check, finish, free_port, http, wait_for  # noqa: E402

TOKEN = "hostile-igate-token-0123456789abcdef"
SIGNED = "hostile-signed-token-0123456789abcdef"
SECRET = "hostile-hmac-secret-0123456789"
API_KEY, SECRET_KEY = "esms-key", "esms-secret"
CB_TOKEN = "esms-callback-token-0123456789"
ZALO_APP, ZALO_SECRET, ZALO_REFRESH = "4242", "zalo-app-secret", "zalo-refresh-0"
ZALO_HOOK = "zalo-webhook-secret-0123456789"
SMTP_USER, SMTP_PASSWORD = "tinbao", "smtp-password-in-clear"
MAX_CONNECTIONS = 8
READ_TIMEOUT = 20  # s: long, so that a daemon reading a body first is caught waiting for it
INT64_MAX = 9223372036854775807  # the largest Retry-After the adapters parse; * 1000 overflowed
ZALO_EXPIRES_IN = INT64_MAX // 1000 + 1  # OAuth expires_in whose milliseconds overflowed

TEMPLATES = {
    # F3, F12: every field from outside in one SMS.
    "received.yaml": 'sms: "Ho so {{ dossier.code }} cua {{ applicant.name }}: '
                     '{{ dossier.note | default(\\"-\\") }}."\n',
    # F14
    "result_ready.yaml": 'sms: "Ho so {{ dossier.code }} da co ket qua."\n',
    # F14 (Zalo's expires_in)
    "overdue.yaml": 'zalo:\n  template_id: "301201"\n'
                    '  params: { dossier_code: "{{ dossier.code }}" }\n',
    # F10, F13
    "processing.yaml": 'email:\n  subject: "Ho so {{ dossier.code }}"\n'
                       '  text: "Ho so {{ dossier.code }} dang duoc xu ly."\n',
}

SETTLED = ("sent", "delivered", "failed", "expired", "superseded", "skipped")


def common_config(tmp, port, esms, zalo, smtp_port):
    # smtp://0.0.0.0: connecting to 0.0.0.0 reaches this machine (Linux), but the name is not
    # a loopback address, so the daemon must treat it as a server across a network.
    return f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{port}
  read_timeout: {READ_TIMEOUT}s
  max_connections: {MAX_CONNECTIONS}
  clients:
    - {{ name: igate, token: "{TOKEN}" }}
    - {{ name: signed, token: "{SIGNED}", hmac_secret: "{SECRET}" }}
queue:
  backend: sqlite
templates:
  dir: {tmp}/templates
routes:
  - {{ status: [received, result_ready], channels: [sms] }}
  - {{ status: [processing], channels: [email] }}
  - {{ status: [overdue], channels: [zalo] }}
retry: {{ max_attempts: 2, initial_delay: 300ms, max_delay: 1s, give_up_after: 1h }}
providers:
  - name: esms
    channel: sms
    type: esms
    base_url: {esms}
    api_key: {API_KEY}
    secret_key: {SECRET_KEY}
    brandname: TEST
    callback_token: "{CB_TOKEN}"
  - name: zalo
    channel: zalo
    type: zalo_zns
    base_url: {zalo}
    oauth_url: {zalo}
    app_id: "{ZALO_APP}"
    secret_key: {ZALO_SECRET}
    refresh_token: {ZALO_REFRESH}
    webhook_secret: "{ZALO_HOOK}"
  - name: mail
    channel: email
    type: smtp
    url: smtp://0.0.0.0:{smtp_port}
    username: {SMTP_USER}
    password: {SMTP_PASSWORD}
    from: "Mot cua <noreply@example.vn>"
"""


READER, FLOOD, ADMIN = ("hostile-reader-token-0123456789ab", "hostile-flood-token-0123456789abc",
                        "hostile-admin-token-0123456789abc")


def tls_config(tmp, port):
    return f"""
state_dir: {tmp}/state2
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{port}
  tls: {{ cert: {tmp}/server.crt, key: {tmp}/server.key }}
  clients:
    - {{ name: reader, token: "{READER}", scopes: [events:read] }}
    - {{ name: flood, token: "{FLOOD}", rate_per_second: 0.01, burst: 2 }}
    - {{ name: admin, token: "{ADMIN}" }}
queue:
  backend: sqlite
templates:
  dir: {tmp}/templates
routes:
  - {{ status: [received], channels: [sms] }}
providers:
  - {{ name: outbox-sms, channel: sms, type: outbox }}
"""


def start_provider_fake(procs, src, script, *args):
    # Debian's interpreter carries python3-aiosmtpd (smtp_server.py); another python3 may not.
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    p = procs.start([python, os.path.join(src, "tests/fakes", script), *args],
                    stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().split()
    assert line and line[0] == "PORT", script + " did not print its port"
    return int(line[1])


def start_daemon(procs, tinbaod, cfg, log_path, base, scheme="http", ctx=None):
    """Starts tinbaod with umask 022 (as outside systemd). Returns (process, None) once it is
    ready, or (process, its output lines) when it exited first: a config it refuses."""
    log = open(log_path, "ab")
    p = procs.start([tinbaod, "--config", cfg], stdout=log, stderr=subprocess.STDOUT,
                    preexec_fn=lambda: os.umask(0o022))

    def ready():
        if p.poll() is not None:
            return "exited"
        if scheme == "https":
            return raw_tls_status(base, ctx) == 200 or None
        return http("GET", base + "/readyz", timeout=2)[0] == 200 or None

    state = wait_for(ready, 20, "tinbaod " + cfg)
    if state == "exited":
        with open(log_path, "rb") as f:
            text = f.read().decode("utf-8", "replace").strip().splitlines()
        return p, text or ["exit status %s" % p.poll()]
    return p, None


def raw_tls_status(port, ctx):
    try:
        c = httpclient.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        c.request("GET", "/healthz")
        return c.getresponse().status
    except (OSError, ssl.SSLError, httpclient.HTTPException):
        return 0


class Raw:
    """A raw connection: send bytes as they are, read HTTP/1.1 responses one by one."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def send(self, data):
        self.sock.sendall(data)

    def response(self):
        """(status, headers, body), or None when the connection ends or goes quiet."""
        try:
            line = self.file.readline()
            if not line:
                return None
            status = int(line.split()[1])
            headers = {}
            while True:
                h = self.file.readline()
                if h in (b"\r\n", b"\n", b""):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            body = self.file.read(int(headers.get("content-length", "0")))
            return status, headers, body
        except (OSError, ValueError, IndexError):
            return None

    def close(self):
        try:
            self.file.close()
            self.sock.close()
        except OSError:
            pass


def event(eid, status, code, name="Tran Van Binh", phone="0912345678", email=None, **extra):
    ev = {"event_id": eid, "dossier": {"code": code, "status": status},
          "applicant": {"name": name, "phone": phone, "email": email}}
    ev.update(extra)
    return ev


def post(base, ev, token=TOKEN):
    return http("POST", base + "/v1/events", ev, {"Authorization": "Bearer " + token})


def record(base, eid):
    st, j = http("GET", base + "/v1/events/" + eid, headers={"Authorization": "Bearer " + TOKEN})
    return j if st == 200 and isinstance(j, dict) else None


def messages(rec):
    return (rec or {}).get("messages") or []


def settled(base, eid):
    ms = messages(record(base, eid))
    return ms if ms and all(m.get("state") in SETTLED for m in ms) else None


def tried(base, eid):
    """The messages once each has been tried at least once."""
    ms = messages(record(base, eid))
    return ms if ms and all(m.get("attempts", 0) >= 1 or m.get("state") in SETTLED
                            for m in ms) else None


def log_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def metric_sum(text, name):
    total, seen = 0.0, False
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            total += float(line.rsplit(" ", 1)[1])
            seen = True
    return total if seen else None


def v2_headers(method, target, body=b""):
    ts, nonce = str(int(time.time())), uuid.uuid4().hex
    text = "\n".join(["v2", method, target, ts, nonce, hashlib.sha256(body).hexdigest()])
    sig = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    return {"Authorization": "Bearer " + SIGNED, "X-Tinbao-Timestamp": ts,
            "X-Tinbao-Nonce": nonce, "X-Tinbao-Signature": "v2=" + sig}


def v1_headers(body=b""):
    ts = str(int(time.time()))
    sig = hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Authorization": "Bearer " + SIGNED, "X-Tinbao-Timestamp": ts,
            "X-Tinbao-Signature": "sha256=" + sig}


def phase1(tmp, src, procs, tinbaod, tinbaoctl):
    for name, text in TEMPLATES.items():
        os.makedirs(os.path.join(tmp, "templates"), exist_ok=True)
        with open(os.path.join(tmp, "templates", name), "w") as f:
            f.write(text)
    esms_port = start_provider_fake(procs, src, "fake_esms.py", "--api-key", API_KEY,
                                    "--secret-key", SECRET_KEY)
    esms = "http://127.0.0.1:%d" % esms_port
    # Zalo's access tokens last INT64_MAX / 1000 + 1 s: in milliseconds that overflows int64.
    zalo = "http://127.0.0.1:%d" % start_provider_fake(
        procs, src, "fake_zalo.py", "--app-id", ZALO_APP, "--secret-key", ZALO_SECRET,
        "--refresh-token", ZALO_REFRESH, "--expires-in", str(ZALO_EXPIRES_IN))
    mail_dir = os.path.join(tmp, "mail")
    smtp_port = start_provider_fake(procs, src, "smtp_server.py", "--dir", mail_dir,
                                    "--user", SMTP_USER, "--password", SMTP_PASSWORD)
    port = free_port()
    base = "http://127.0.0.1:%d" % port
    cfg = os.path.join(tmp, "common.yaml")
    with open(cfg, "w") as f:
        f.write(common_config(tmp, port, esms, zalo, smtp_port))
    log_path = os.path.join(tmp, "common.log")
    _, refused = start_daemon(procs, tinbaod, cfg, log_path, base)
    if refused:
        raise AssertionError("the common config must load on every version: " + refused)
    auth = "Authorization: Bearer %s\r\n" % TOKEN

    # obs-fold: a header continued on the next line (RFC 9112 section 5.2) is refused.
    r = Raw(port)
    r.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n")
    got = r.response()
    r.close()
    check(got is not None and got[0] == 400,
          "obs-fold: a folded header line gets 400 (got %s)" % (got and got[0]))

    # F4: Transfer-Encoding gzip without Content-Length; the "body" is a second request.
    smuggled = json.dumps(event("hostile-f4-smuggled", "received", "F4")).encode()
    inner = (b"POST /v1/events HTTP/1.1\r\nHost: t\r\n" + auth.encode() +
             b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(smuggled) +
             smuggled)
    r = Raw(port)
    r.send(b"POST /v1/events HTTP/1.1\r\nHost: t\r\n" + auth.encode() +
           b"Content-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n" + inner)
    answers = []
    while len(answers) < 2:
        got = r.response()
        if got is None:
            break
        answers.append(got[0])
    r.close()
    st, _ = http("GET", base + "/v1/events/hostile-f4-smuggled",
                 headers={"Authorization": "Bearer " + TOKEN})
    check(answers[:1] in ([400], [501]) and len(answers) == 1 and st == 404,
          "F4: Transfer-Encoding gzip is refused and the smuggled request not run "
          "(answers %s, smuggled event %s)" % (answers, st))

    # F8: an unknown token with a 60,000-byte body announced and not sent: answered at once,
    # well before read_timeout, so the body was not waited for.
    r = Raw(port, timeout=READ_TIMEOUT / 4)
    r.send(b"POST /v1/events HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer not-a-valid-token-0000"
           b"\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n")
    got = r.response()
    r.close()
    check(got is not None and got[0] == 401,
          "F8: unauthenticated with a body announced: 401 before the body is read (got %s)"
          % (got[0] if got else "nothing within %d s" % (READ_TIMEOUT / 4)))

    # F2: max_connections idle keep-alive sockets on /healthz, then a client with a token.
    holders = []
    for _ in range(MAX_CONNECTIONS):
        h = Raw(port)
        h.send(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
        holders.append((h, h.response()))
    held = sum(1 for _, got in holders if got and got[0] == 200)
    st, _ = http("GET", base + "/v1/events/none", headers={"Authorization": "Bearer " + TOKEN},
                 timeout=5)
    for h, _ in holders:
        h.close()
    check(held == MAX_CONNECTIONS and st == 404,
          "F2: with %d idle keep-alive connections held, another client is served (got %s)"
          % (held, st))

    # F1: a number no double holds, in a field tinbao does not read.
    ev = event("hostile-f1", "received", "F1", x=json.loads("1e400", parse_float=str))
    raw = json.dumps(ev).replace('"x": "1e400"', '"x": 1e400').encode()
    st, j = http("POST", base + "/v1/events", raw=raw,
                 headers={"Authorization": "Bearer " + TOKEN})
    check(st == 400, "F1: an event with 1e400 in an extra field gets 400, not 202 then lost "
                     "(got %s %s)" % (st, j))

    # F6: a signature bound to method and target (v2, with a nonce): the signed GET works once,
    # and neither a copy on another path nor the same request again is accepted.
    h2 = v2_headers("GET", "/v1/events/hostile-f6-a")
    first = http("GET", base + "/v1/events/hostile-f6-a", headers=h2)[0]
    other = http("GET", base + "/v1/events/hostile-f6-b", headers=h2)[0]
    again = http("GET", base + "/v1/events/hostile-f6-a", headers=h2)[0]
    h1 = v1_headers()
    v1a = http("GET", base + "/v1/events/hostile-f6-a", headers=h1)[0]
    v1b = http("GET", base + "/v1/events/hostile-f6-b", headers=h1)[0]
    print("     (v1 signature, kept for clients configured for it: /a %s, copied to /b %s)"
          % (v1a, v1b))
    check(first == 404 and other == 401 and again == 401,
          "F6: a v2-signed GET is served (%s), replayed to another path 401 (%s), "
          "replayed as it is 401 (%s)" % (first, other, again))

    # F3 and F12: CR/LF, ESC and NUL from outside, into an SMS and the log.
    forged = "FORGED-LINE 2026-01-01 [error] tinbao: forged"
    f3 = event("hostile-f3", "received", "F3\n" + forged + "\x1b[31m\x00")
    f12 = event("hostile-f12", "received", "F12-a\r\nb", name="Tran\r\nVan Binh")
    f12["dossier"]["note"] = "ghi\nchu\rmot"
    st3, j3 = post(base, f3)
    st12, j12 = post(base, f12)
    for eid, st in (("hostile-f3", st3), ("hostile-f12", st12)):
        if st == 202:
            wait_for(lambda: settled(base, eid), 15, eid + " settled")
    log = log_bytes(log_path)
    lines = log.split(b"\n")
    check(st3 == 202 and b"\x1b" not in log and b"\x00" not in log and
          not any(line.startswith(b"FORGED-LINE") for line in lines) and b"hostile-f3" in log,
          "F3: LF, ESC and NUL in dossier.code: no raw ESC/NUL and no forged line in the log "
          "(post %s; ESC %s, NUL %s, forged line %s)"
          % (st3, b"\x1b" in log, b"\x00" in log,
             any(line.startswith(b"FORGED-LINE") for line in lines)))
    sms = [q["body"].get("Content", "") for q in http("GET", esms + "/_requests")[1]
           if "F12" in q["body"].get("Content", "")]
    check(st12 == 202 and len(sms) == 1 and "\r" not in sms[0] and "\n" not in sms[0],
          "F12: CR/LF in name, code and note do not reach the SMS (post %s, sent %r)"
          % (st12, sms))

    # tinbaoctl: a token from a file, never on the command line where `ps` shows it; --token
    # itself still works but warns. (TINBAO_TOKEN, in the environment, was there before.)
    token_file = os.path.join(tmp, "token")
    with open(token_file, "w") as f:
        f.write(TOKEN + "\n")
    args = [tinbaoctl, "--config", cfg, "--url", base, "--token-file", token_file,
            "status", "hostile-f12"]
    by_file = subprocess.run(args, capture_output=True, text=True, timeout=30)
    by_flag = subprocess.run([tinbaoctl, "--config", cfg, "--url", base, "--token", TOKEN,
                              "status", "hostile-f12"], capture_output=True, text=True, timeout=30)
    check(TOKEN not in " ".join(args) and by_file.returncode == 0 and
          "hostile-f12" in by_file.stdout and "ps" in by_flag.stderr,
          "tinbaoctl: --token-file keeps the token out of ps (exit %s: %s), --token warns (%s)"
          % (by_file.returncode, by_file.stderr.strip()[:100],
             by_flag.stderr.strip()[:100]))

    # F14: a 429 with a Retry-After whose milliseconds overflow int64.
    http("POST", esms + "/_control", {"fail_next": 1, "code": "http429",
                                      "retry_after": str(INT64_MAX)})
    st14, _ = post(base, event("hostile-f14", "result_ready", "F14"))
    def sends():
        return len([q for q in http("GET", esms + "/_requests")[1]
                    if "F14" in q["body"].get("Content", "")])

    ms = wait_for(lambda: settled(base, "hostile-f14") or (sends() >= 2 and [{}]), 15,
                  "hostile-f14 settled or sent twice")
    check(st14 == 202 and sends() == 1 and [m.get("state") for m in ms] == ["expired"],
          "F14: Retry-After %d s is honoured, not an immediate retry: expired, sent once "
          "(sends %d, states %s)" % (INT64_MAX, sends(), [m.get("state") for m in ms]))

    # F14, the other half: an OAuth expires_in whose end overflowed int64. Two ZNS sends need
    # at most one token refresh, not one each.
    for n in (1, 2):
        eid = "hostile-f14-zalo-%d" % n
        st, _ = post(base, event(eid, "overdue", "F14Z-%d" % n))
        if st == 202:
            wait_for(lambda: settled(base, eid), 15, eid + " settled")
    zreq = http("GET", zalo + "/_requests")[1]
    refreshes = len([q for q in zreq if q["path"].startswith("/v4/oa/access_token")])
    zsent = [m.get("state") for n in (1, 2)
             for m in messages(record(base, "hostile-f14-zalo-%d" % n))]
    check(zsent == ["sent", "sent"] and refreshes == 1,
          "F14: Zalo expires_in %d s: two sends, one token refresh (states %s, refreshes %d)"
          % (ZALO_EXPIRES_IN, zsent, refreshes))

    # F10: an SMTP server that offers no STARTTLS, not on a loopback name: nothing is sent,
    # so the password never crosses in clear.
    st10, _ = post(base, event("hostile-f10", "processing", "F10", phone=None,
                               email="tuyet@example.vn"))
    # F13: an address whose first letter is not ASCII, into the log lines about its message.
    st13, _ = post(base, event("hostile-f13", "processing", "F13", phone=None,
                               email="Ánh.nguyen@example.vn"))
    ms10 = wait_for(lambda: tried(base, "hostile-f10"), 15, "hostile-f10 tried") \
        if st10 == 202 else []
    delivered = []
    if os.path.isdir(mail_dir):
        for name in sorted(os.listdir(mail_dir)):
            if name.endswith(".json"):
                with open(os.path.join(mail_dir, name)) as f:
                    delivered.append(json.load(f))
    clear = [d for d in delivered if "tuyet@example.vn" in d["rcpt_tos"]]
    check(st10 == 202 and not clear and [m.get("state") for m in ms10] != ["sent"],
          "F10: no STARTTLS offered by a server not on loopback: no mail, no password in clear "
          "(states %s, last error %s, mails logged in with the password %d)"
          % ([m.get("state") for m in ms10], [m.get("last_error") for m in ms10], len(clear)))
    if st13 == 202:
        wait_for(lambda: tried(base, "hostile-f13"), 15, "hostile-f13 tried")
        wait_for(lambda: b"hostile-f13 dossier" in log_bytes(log_path), 5, "hostile-f13 logged")
    f13_lines = [line for line in log_bytes(log_path).split(b"\n") if b"hostile-f13" in line]
    bad = []
    for line in f13_lines:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            bad.append(line)
    check(st13 == 202 and f13_lines and not bad and
          any("Á***@".encode() in line for line in f13_lines),
          "F13: the log lines about a recipient 'Ánh...' are valid UTF-8, masked Á*** (%d lines, "
          "%d invalid%s)"
          % (len(f13_lines), len(bad), ": %r" % bad[0][:120] if bad else ""))

    # F11: a Zalo webhook signed correctly but captured a day ago.
    old_ms = int(time.time() * 1000) - 24 * 3600 * 1000
    body = json.dumps({"app_id": ZALO_APP, "event_name": "user_received_message",
                       "timestamp": str(old_ms),
                       "message": {"msg_id": "zmsg-1", "tracking_id": "m-unknown",
                                   "delivery_time": str(old_ms)}}).encode()
    mac = hashlib.sha256(ZALO_APP.encode() + body + str(old_ms).encode() +
                         ZALO_HOOK.encode()).hexdigest()
    st, j = http("POST", base + "/v1/callbacks/zalo", raw=body,
                 headers={"X-ZEvent-Signature": "mac=" + mac})
    check(st == 401, "F11: a signed Zalo webhook from a day ago gets 401 (got %s %s)" % (st, j))

    # A forged call-back is counted as rejected, not as a report (F11's webhook was one too).
    before = metric_sum(http("GET", base + "/metrics")[1] or "",
                        "tinbao_callbacks_rejected_total")
    st = http("GET", base + "/v1/callbacks/esms?token=forged-token-000000&RequestId=x")[0]
    _, text = http("GET", base + "/metrics")
    text = text if isinstance(text, str) else ""
    rejected = metric_sum(text, "tinbao_callbacks_rejected_total")
    counted = metric_sum(text, "tinbao_callbacks_total")
    check(st == 403 and before is not None and rejected == before + 1 and counted == 0,
          "callbacks counted apart: a forged call-back (%s) in tinbao_callbacks_rejected_total "
          "(%s), not tinbao_callbacks_total (%s)" % (st, rejected, counted))

    # F9: under umask 022, what the daemon created is its own alone.
    state = os.path.join(tmp, "state")
    loose = []
    for folder, dirs, files in os.walk(state):
        for name in [folder] + [os.path.join(folder, n) for n in files]:
            mode = stat.S_IMODE(os.stat(name).st_mode)
            if mode & 0o077:
                loose.append("%s %o" % (os.path.relpath(name, tmp), mode))
    check(os.path.exists(os.path.join(state, "tinbao.db")) and not loose,
          "F9: with umask 022 the state folder is 0700 and its files 0600 (too open: %s)"
          % (", ".join(loose) or "none"))


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def phase2(tmp, src, procs, tinbaod, tinbaoctl):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "server.key", "-out", "server.crt", "-days", "2",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", cwd=tmp)
    ctx = ssl.create_default_context(cafile=os.path.join(tmp, "server.crt"))
    port = free_port()
    cfg = os.path.join(tmp, "tls.yaml")
    with open(cfg, "w") as f:
        f.write(tls_config(tmp, port))
    _, refused = start_daemon(procs, tinbaod, cfg, os.path.join(tmp, "tls.log"), port, "https",
                              ctx)
    rows = {"F5: TLS on the listener": "key 'tls'",
            "F7: 429 for a flood, 403 without admin": "key 'scopes'"}
    if refused:
        for row, key in rows.items():
            why = [line for line in refused if key in line] or refused
            check(False, "%s (the daemon refuses the config: %s)" % (row, why[0]))
        return

    def get(path, token):
        c = httpclient.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        try:
            c.request("GET", path, headers={"Authorization": "Bearer " + token})
            r = c.getresponse()
            return r.status, r.getheader("Retry-After"), r.read()
        except (OSError, ssl.SSLError, httpclient.HTTPException) as e:
            return 0, None, str(e)
        finally:
            c.close()

    # F5: the API over TLS with a certificate made here; plain HTTP is not served.
    tls_ok = get("/v1/events/none", ADMIN)[0] == 404
    try:
        plain = httpclient.HTTPConnection("127.0.0.1", port, timeout=5)
        plain.request("GET", "/healthz")
        plain_status = plain.getresponse().status
    except (OSError, httpclient.HTTPException):
        plain_status = 0
    check(tls_ok and plain_status != 200,
          "F5: the API is served over TLS (%s) and not in clear (plain HTTP %s)"
          % (tls_ok, plain_status))

    # F7: a client past its rate gets 429 with Retry-After while another is served; a token
    # without admin gets 403 on the dead letters.
    flood = [get("/v1/events/none", FLOOD) for _ in range(4)]
    limited = [f for f in flood if f[0] == 429]
    other = get("/v1/events/none", ADMIN)[0]
    scoped = get("/v1/dead-letters", READER)[0]
    check(len(limited) == 2 and limited[0][1] and other == 404 and scoped == 403,
          "F7: flood %s (Retry-After %s), another client %s, dead letters without admin %s"
          % ([f[0] for f in flood], limited and limited[0][1], other, scoped))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-hostile-")
    procs = Procs()
    for phase in (phase1, phase2):
        try:
            phase(tmp, src, procs, os.path.abspath(args.tinbaod),
                  os.path.abspath(args.tinbaoctl))
        except Exception as e:  # noqa: BLE001 - one failed phase, then the processes stop
            check(False, "%s: %s: %s" % (phase.__name__, type(e).__name__, e))
    return finish(tmp, procs, ["common.log", "tls.log"])


if __name__ == "__main__":
    sys.exit(main())
