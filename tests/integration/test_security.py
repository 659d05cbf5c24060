#!/usr/bin/env python3
"""The listeners' security with a real tinbaod: TLS with a certificate made here by the openssl
CLI, a client that must present its own certificate (mutual TLS), scopes, a per-client rate,
version 2 signatures whose nonce two instances sharing one Redis both refuse the second time,
the public listener's narrow paths and /metrics behind a token, and a certificate renewed by
SIGHUP while a connection made with the old one stays open.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Procs, Redis, check, finish, free_port, wait_for  # noqa

IGATE = "igate-token-0123456789abcdef"
OPS = "ops-token-0123456789abcdef"
FLOOD = "flood-token-0123456789abcdef"
SECRET = "igate-hmac-secret-0123456789"
METRICS = "metrics-token-0123456789abcdef"
CB_TOKEN = "esms-callback-token-0123456789"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=30)


def make_certs(d):
    """A CA, a server certificate for 127.0.0.1 and a client certificate, all P-256."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=tinbao test CA", cwd=d)
    issue(d, "server", "/CN=127.0.0.1", "subjectAltName=IP:127.0.0.1")
    issue(d, "client", "/CN=igate", "extendedKeyUsage=clientAuth")


def issue(d, name, subject, ext):
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", *ec, "-keyout", name + ".key", "-out", name + ".csr", "-subj", subject, cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write(ext + "\n")
    openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", name + ".ext", "-out", name + ".crt",
            cwd=d)


def fingerprint(path):
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    return hashlib.sha256(der).hexdigest()


def config(tmp, templates, rport, port, public_port, consumer, client_fp):
    return f"""
state_dir: {tmp}/state-{consumer}
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{port}
  tls: {{ cert: {tmp}/server.crt, key: "${{file:{tmp}/server.key}}", client_ca: {tmp}/ca.crt }}
  public:
    listen: 127.0.0.1:{public_port}
    tls: {{ cert: {tmp}/server.crt, key: {tmp}/server.key }}
  metrics_token: "{METRICS}"
  clients:
    - name: igate
      token: "{IGATE}"
      hmac_secret: "{SECRET}"
      signature: v2
      scopes: [events:write, events:read]
      client_cert_sha256: ["{client_fp}"]
    - {{ name: ops, token: "{OPS}", scopes: [events:read:all] }}
    - {{ name: flood, token: "{FLOOD}", rate_per_second: 0.01, burst: 3 }}
queue:
  backend: redis
  redis: {{ url: "redis://127.0.0.1:{rport}/0", prefix: sec }}
  consumer: {consumer}
templates:
  dir: {templates}
routes:
  - {{ status: [result_ready, received], channels: [sms] }}
providers:
  - name: esms
    channel: sms
    type: esms
    base_url: http://127.0.0.1:9
    api_key: k
    secret_key: s
    brandname: TEST
    callback_token: "{CB_TOKEN}"
"""


class Tls:
    def __init__(self, tmp, cert=True):
        self.ctx = ssl.create_default_context(cafile=os.path.join(tmp, "ca.crt"))
        if cert:
            self.ctx.load_cert_chain(os.path.join(tmp, "client.crt"),
                                     os.path.join(tmp, "client.key"))

    def conn(self, port):
        return http.client.HTTPSConnection("127.0.0.1", port, context=self.ctx, timeout=10)


def request(conn, method, path, body=None, headers=None):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    h = dict(headers or {})
    if data is not None:
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    text = r.read().decode()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = text
    return r.status, parsed, r


def once(tls, port, method, path, body=None, headers=None):
    c = tls.conn(port)
    try:
        status, parsed, r = request(c, method, path, body, headers)
        return status, parsed, r
    except (OSError, ssl.SSLError, http.client.HTTPException) as e:
        return 0, str(e), None
    finally:
        c.close()


def v2_headers(method, target, body, nonce=None):
    ts = str(int(time.time()))
    nonce = nonce or uuid.uuid4().hex
    text = "\n".join(["v2", method, target, ts, nonce, hashlib.sha256(body).hexdigest()])
    sig = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    return {"Authorization": "Bearer " + IGATE, "X-Tinbao-Timestamp": ts,
            "X-Tinbao-Nonce": nonce, "X-Tinbao-Signature": "v2=" + sig}


def event(eid):
    return json.dumps({"event_id": eid, "dossier": {"code": "D-" + eid, "status": "result_ready"},
                       "applicant": {"name": "Trần Văn Bình", "phone": "0912345678"}}).encode()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def peer_fingerprint(tls, port):
    c = tls.conn(port)
    c.connect()
    der = c.sock.getpeercert(binary_form=True)
    c.close()
    return hashlib.sha256(der).hexdigest()


def run(tmp, src, procs, redis, tinbaod, tinbaoctl):
    templates = os.path.join(src, "tests/integration/fixtures/templates")
    make_certs(tmp)
    client_fp = fingerprint(os.path.join(tmp, "client.crt"))
    ports = {}
    daemons = {}
    for name in ("a", "b"):
        port, public_port = free_port(), free_port()
        ports[name] = (port, public_port)
        cfg = os.path.join(tmp, name + ".yaml")
        with open(cfg, "w") as f:
            f.write(config(tmp, templates, redis.port, port, public_port, name, client_fp))
        log = open(os.path.join(tmp, name + ".log"), "a")
        daemons[name] = procs.start([tinbaod, "--config", cfg], stdout=log,
                                    stderr=subprocess.STDOUT)
    tls, bare = Tls(tmp), Tls(tmp, cert=False)
    for name in ("a", "b"):
        wait_for(lambda: once(bare, ports[name][0], "GET", "/readyz")[0] == 200, 20,
                 "tinbaod %s /readyz over TLS" % name)
    a, a_public = ports["a"]
    b = ports["b"][0]

    # TLS 1.2 and 1.3 only; plain HTTP on the TLS port gets nowhere.
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.load_verify_locations(os.path.join(tmp, "ca.crt"))
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    c = http.client.HTTPSConnection("127.0.0.1", a, context=old, timeout=10)
    check(request(c, "GET", "/healthz")[0] == 200, "TLS 1.2 is served")
    c.close()
    try:
        old11 = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old11.load_verify_locations(os.path.join(tmp, "ca.crt"))
        old11.minimum_version = ssl.TLSVersion.TLSv1
        old11.maximum_version = ssl.TLSVersion.TLSv1_1
        old11.set_ciphers("ALL:@SECLEVEL=0")
        c = http.client.HTTPSConnection("127.0.0.1", a, context=old11, timeout=10)
        c.request("GET", "/healthz")
        c.getresponse()
        check(False, "TLS 1.1 is refused")
    except (ssl.SSLError, OSError, ValueError):
        check(True, "TLS 1.1 is refused")
    plain = http.client.HTTPConnection("127.0.0.1", a, timeout=10)
    try:
        plain.request("GET", "/healthz")
        st = plain.getresponse().status
    except (OSError, http.client.HTTPException):
        st = 0
    check(st != 200, "plain HTTP on the TLS listener is not served")

    # mTLS: igate's token without its certificate is refused; with it, a signed event goes in.
    body = event("sec-1")
    st, j, _ = once(bare, a, "POST", "/v1/events", body, v2_headers("POST", "/v1/events", body))
    check(st == 401 and j["error"]["code"] == "client_certificate_required",
          "igate without its client certificate: 401 (%s %s)" % (st, j))
    headers = v2_headers("POST", "/v1/events", body)
    st, j, _ = once(tls, a, "POST", "/v1/events", body, headers)
    check(st == 202, "igate with its certificate and a v2 signature: 202 (%s %s)" % (st, j))
    # The same signed request again, to the other instance: its nonce is known through Redis.
    st, j, _ = once(tls, b, "POST", "/v1/events", body, headers)
    check(st == 401 and j["error"]["code"] == "replayed",
          "the replayed v2 request on the other instance: 401 replayed (%s %s)" % (st, j))

    # tinbaoctl on the TLS listener: https:// from the config's http.tls, the private CA given.
    env = dict(os.environ, TINBAO_TOKEN=OPS)
    ctl = [tinbaoctl, "--config", os.path.join(tmp, "a.yaml")]
    r = subprocess.run(ctl + ["--cacert", os.path.join(tmp, "ca.crt"), "status", "sec-1"],
                       env=env, capture_output=True, text=True, timeout=60)
    check(r.returncode == 0 and '"event_id": "sec-1"' in r.stdout,
          "tinbaoctl reads an event over TLS with --cacert (%s)" % r.stderr.strip())
    r = subprocess.run(ctl + ["status", "sec-1"], env=env, capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 1 and "--cacert" in r.stderr,
          "without the CA, tinbaoctl says to give --cacert (%s)" % r.stderr.strip())

    # Scopes.
    st, j, _ = once(bare, a, "GET", "/v1/dead-letters", None, {"Authorization": "Bearer " + OPS})
    check(st == 403 and j["error"]["scope"] == "admin",
          "a token without admin: 403 on dead letters naming admin (%s %s)" % (st, j))

    # A flood from one client gets 429 while another is served.
    flood = {"Authorization": "Bearer " + FLOOD}
    statuses = [once(bare, a, "GET", "/v1/events/none", None, flood) for _ in range(5)]
    limited = [s for s in statuses if s[0] == 429]
    check(len(limited) == 2 and int(limited[0][2].getheader("Retry-After")) >= 1,
          "the flooding client gets 429 with Retry-After after its burst of 3 (%s)"
          % [s[0] for s in statuses])
    st, j, _ = once(bare, a, "GET", "/v1/events/none", None, {"Authorization": "Bearer " + OPS})
    check(st == 404, "another client is served meanwhile (%s)" % st)

    # The public listener: call-backs and /healthz only.
    check(once(bare, a_public, "GET", "/healthz")[0] == 200, "public /healthz")
    st = once(bare, a_public, "GET", "/v1/events/sec-1", None,
              {"Authorization": "Bearer " + OPS})[0]
    check(st == 404, "public listener: no API (%s)" % st)
    check(once(bare, a_public, "GET", "/metrics")[0] == 404, "public listener: no /metrics")
    st = once(bare, a_public, "GET", "/v1/callbacks/esms?token=forged&RequestId=x")[0]
    check(st == 403, "a forged call-back is refused (%s)" % st)

    # /metrics needs its token; the forged call-back is counted as rejected, not as a report.
    check(once(bare, a, "GET", "/metrics")[0] == 401, "/metrics without its token: 401")
    st, text, _ = once(bare, a, "GET", "/metrics", None, {"Authorization": "Bearer " + METRICS})
    check(st == 200 and metric(text, "tinbao_callbacks_rejected_total") == 1 and
          metric(text, "tinbao_callbacks_total") == 0,
          "the forged call-back counts in tinbao_callbacks_rejected_total only")

    # A renewed certificate: new connections get it after SIGHUP, an open one keeps working.
    before = peer_fingerprint(bare, a)
    keep = tls.conn(a)
    check(request(keep, "GET", "/healthz")[0] == 200, "a keep-alive connection before the reload")
    issue(tmp, "server", "/CN=127.0.0.1 renewed", "subjectAltName=IP:127.0.0.1")
    renewed = fingerprint(os.path.join(tmp, "server.crt"))
    check(renewed != before, "the certificate was renewed")
    daemons["a"].send_signal(signal.SIGHUP)
    wait_for(lambda: peer_fingerprint(bare, a) == renewed, 10, "the renewed certificate")
    check(True, "new connections get the renewed certificate after SIGHUP")
    check(request(keep, "GET", "/healthz")[0] == 200,
          "the connection made before the reload still serves")
    keep.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-security-")
    procs = Procs()
    try:
        redis = Redis(procs, tmp)
        redis.start()
        run(tmp, src, procs, redis, args.tinbaod, args.tinbaoctl)
    except (AssertionError, subprocess.CalledProcessError) as e:
        check(False, str(e))
    return finish(tmp, procs, ["a.log", "b.log", "redis.log"])


if __name__ == "__main__":
    sys.exit(main())
