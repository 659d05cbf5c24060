#!/usr/bin/env python3
"""docs/openapi.yaml against a running tinbaod, so that the two cannot drift apart.

1. Every route the server matches is in the document, and every path and method of the document
   is a route of the server. The server's routes are read from the one place they are decided:
   the `is({...})` lines of match() in daemon/http/api.cpp (a route written any other way there
   fails this test, so it cannot slip past), and each is then requested from the live server to
   see that it is not `404 no such path`.
2. Every response status the document gives an operation is produced by a real request below
   (a table of cases per operationId), and its body matches the documented schema (checked by
   Ajv in tests/openapi/check.mjs); the documented headers (WWW-Authenticate, Allow,
   Retry-After) are there. A documented status with no case here fails the test, unless it is
   in UNREACHABLE with the reason it cannot be produced on a healthy daemon (and where another
   test covers it).
3. Every request example of the document is sent, and answered with the operation's success.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Procs, check, failures, finish, free_port, wait_for  # noqa

IGATE, IGATE_SECRET = "igate-token-0123456789abcdef", "igate-hmac-secret-0123456789"
OPS = "ops-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"
WRITER = "writer-token-0123456789abcdef"
FLOOD = "flood-token-0123456789abcdef"
METRICS = "metrics-token-0123456789abcdef"
CB_TOKEN = "esms-callback-token-0123456789"

# Documented statuses no request can produce on a healthy daemon, and why.
UNREACHABLE = {
    "503": "queue_unavailable needs the queue down (test_reliability.py stops Redis under load); "
           "readyz's 503 needs the queue down or the daemon stopping",
}


def config(tmp, source, port):
    return f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{port}
  metrics_token: "{METRICS}"
  clients:
    - name: igate
      token: "{IGATE}"
      hmac_secret: "{IGATE_SECRET}"
      signature: v2
      scopes: [events:write, events:read]
    - {{ name: ops, token: "{OPS}" }}
    - {{ name: reader, token: "{READER}", scopes: [events:read] }}
    - {{ name: writer, token: "{WRITER}", scopes: [events:write] }}
    - {{ name: flood, token: "{FLOOD}", rate_per_second: 0.001, burst: 1 }}
queue:
  backend: sqlite
  consumer: drift
templates:
  dir: {source}/templates
routes:
  - {{ status: [result_ready, received], channels: [sms] }}
providers:
  - {{ name: outbox-sms, channel: sms, type: outbox, path: {tmp}/outbox.jsonl }}
  - name: esms
    channel: sms
    type: esms
    base_url: http://127.0.0.1:9
    api_key: k
    secret_key: s
    brandname: TEST
    callback_token: "{CB_TOKEN}"
"""


class Client:
    """Raw HTTP/1.1 to tinbaod, signing for the client with an hmac_secret (version 2)."""

    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None, token=None, sign=False, headers=None):
        raw = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        if raw is not None:
            h.setdefault("Content-Type", "application/json")
        if sign:
            ts, nonce = str(int(time.time())), uuid.uuid4().hex
            text = "\n".join(["v2", method, path, ts, nonce,
                              hashlib.sha256(raw or b"").hexdigest()])
            mac = hmac.new(IGATE_SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
            h.update({"X-Tinbao-Timestamp": ts, "X-Tinbao-Nonce": nonce,
                      "X-Tinbao-Signature": "v2=" + mac})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=raw, headers=h)
            r = conn.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            conn.close()

    def oversized(self, path, token):
        """Announces a body over http.max_body_bytes; tinbaod answers before reading it."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall((f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
                       "Content-Type: application/json\r\nContent-Length: 70000\r\n\r\n").encode())
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {ln.split(":", 1)[0].lower(): ln.split(":", 1)[1].strip() for ln in lines[1:]}
        return status, hdrs, body


def server_routes(source):
    """(method, path with {} for parameters) of every route match() in api.cpp decides."""
    text = open(os.path.join(source, "daemon/http/api.cpp")).read()
    body = text[text.index("Route match("):]
    body = body[:body.index("\n}\n")]
    found = re.findall(r'if \(is\(\{([^}]*)\}\)\) return \{RouteKind::\w+, "([^"]+)"', body)
    check(len(found) == body.count("is({"),
          "every is({...}) line of match() in api.cpp is read (%d of %d)" %
          (len(found), body.count("is({")))
    routes = set()
    for segs, methods in found:
        parts = [p.strip().strip('"') for p in segs.split(",")]
        path = "/" + "/".join("{}" if p == "" else p for p in parts)
        for m in methods.split(","):
            routes.add((m.strip(), path))
    return routes


def shape(path):
    return re.sub(r"\{[^}]+\}", "{}", path)


def pointer(*parts):
    return "#/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl")
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    source = os.path.abspath(args.source_dir)
    checker = os.path.join(source, "tests/openapi/check.mjs")
    spec_file = os.path.join(source, "docs/openapi.yaml")
    out = subprocess.run(["node", checker, "json", spec_file], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        print(out.stderr)
        print("FAIL node tests/openapi/check.mjs (run npm ci in tests/openapi; "
              "scripts/install-deps.sh does)")
        return 1
    spec = json.loads(out.stdout)

    tmp = tempfile.mkdtemp(prefix="tinbao-openapi-")
    procs = Procs()
    port = free_port()
    cfg = os.path.join(tmp, "tinbao.yaml")
    with open(cfg, "w") as f:
        f.write(config(tmp, source, port))
    daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
    base = "http://127.0.0.1:%d" % port
    try:
        daemon.start(base)
        run(spec, source, Client(port), checker, spec_file, tmp)
    except AssertionError as e:
        check(False, str(e))
    return finish(tmp, procs, ["tinbaod.log"])


def run(spec, source, c, checker, spec_file, tmp):
    # 1. The routes, both ways.
    documented = set()
    for path, item in spec["paths"].items():
        for method in ("get", "post", "put", "delete", "patch"):
            if method in item:
                documented.add((method.upper(), shape(path)))
    served = server_routes(source)
    for r in sorted(served - documented):
        check(False, "the server's route %s %s is in docs/openapi.yaml" % r)
    for r in sorted(documented - served):
        check(False, "docs/openapi.yaml's %s %s is a route of the server" % r)
    check(served == documented, "docs/openapi.yaml has the server's %d routes, no more" %
          len(served))
    for method, path in sorted(served):
        concrete = path.replace("{}", "x")
        status, _, body = c.request(method, concrete, body=b"{}" if method == "POST" else None,
                                    token=OPS)
        check(not (status == 404 and b"no such path" in body),
              "%s %s is served (answered %d)" % (method, concrete, status))

    # An event, settled, for the read routes.
    example = spec["components"]["examples"]["ResultReadyEvent"]["value"]
    status, _, _ = c.request("POST", "/v1/events", example, token=IGATE, sign=True)
    check(status == 202, "the example event is accepted (%d)" % status)
    event_id = example["event_id"]
    code = urllib.parse.quote(example["dossier"]["code"], safe="")

    def settled():
        s, _, b = c.request("GET", "/v1/events/" + event_id, token=OPS)
        rec = json.loads(b) if s == 200 else {}
        return rec if rec.get("state") in ("done", "failed") else None
    record = wait_for(settled, 20, "the example event settled")
    message_id = record["messages"][0]["id"]

    # The flood client's only request; every later one is 429.
    c.request("GET", "/v1/events/none", token=FLOOD)

    ex = lambda op, name: example_of(spec, op, name)  # noqa: E731
    big = lambda p: lambda: c.oversized(p, OPS)  # noqa: E731
    r = c.request
    cases = {
        "postEvent": {
            "202": lambda: r("POST", "/v1/events", ex("postEvent", "result_ready") | {
                "event_id": "drift-2"}, token=IGATE, sign=True),
            "200": lambda: r("POST", "/v1/events", ex("postEvent", "result_ready"), token=IGATE,
                             sign=True),
            "400": lambda: r("POST", "/v1/events", b"{", token=OPS),
            "401": lambda: r("POST", "/v1/events", example),
            "403": lambda: r("POST", "/v1/events", example, token=READER),
            "405": lambda: r("PUT", "/v1/events", example, token=OPS),
            "413": big("/v1/events"),
            "429": lambda: r("POST", "/v1/events", example, token=FLOOD),
        },
        "getEvent": {
            "200": lambda: r("GET", "/v1/events/" + event_id, token=IGATE, sign=True),
            "401": lambda: r("GET", "/v1/events/" + event_id),
            "403": lambda: r("GET", "/v1/events/" + event_id, token=WRITER),
            "404": lambda: r("GET", "/v1/events/no-such-event", token=OPS),
            "405": lambda: r("POST", "/v1/events/" + event_id, b"{}", token=OPS),
            "429": lambda: r("GET", "/v1/events/" + event_id, token=FLOOD),
        },
        "getMessage": {
            "200": lambda: r("GET", "/v1/messages/" + message_id, token=IGATE, sign=True),
            "401": lambda: r("GET", "/v1/messages/" + message_id),
            "403": lambda: r("GET", "/v1/messages/" + message_id, token=WRITER),
            "404": lambda: r("GET", "/v1/messages/mnosuchmessage", token=OPS),
            "405": lambda: r("POST", "/v1/messages/" + message_id, b"{}", token=OPS),
            "429": lambda: r("GET", "/v1/messages/" + message_id, token=FLOOD),
        },
        "getDossierMessages": {
            "200": lambda: r("GET", "/v1/dossiers/%s/messages" % code, token=READER),
            "401": lambda: r("GET", "/v1/dossiers/%s/messages" % code),
            "403": lambda: r("GET", "/v1/dossiers/%s/messages" % code, token=WRITER),
            "405": lambda: r("POST", "/v1/dossiers/%s/messages" % code, b"{}", token=OPS),
            "429": lambda: r("GET", "/v1/dossiers/%s/messages" % code, token=FLOOD),
        },
        "getDossierFeedback": {
            "200": lambda: r("GET", "/v1/dossiers/%s/feedback" % code, token=READER),
            "401": lambda: r("GET", "/v1/dossiers/%s/feedback" % code),
            "403": lambda: r("GET", "/v1/dossiers/%s/feedback" % code, token=WRITER),
            "405": lambda: r("POST", "/v1/dossiers/%s/feedback" % code, b"{}", token=OPS),
            "429": lambda: r("GET", "/v1/dossiers/%s/feedback" % code, token=FLOOD),
        },
        "render": {
            "200": lambda: r("POST", "/v1/render", ex("render", "result_ready"), token=OPS),
            "400": lambda: r("POST", "/v1/render", {"event_id": ""}, token=OPS),
            "401": lambda: r("POST", "/v1/render", example),
            "403": lambda: r("POST", "/v1/render", example, token=READER),
            "405": lambda: r("GET", "/v1/render", token=OPS),
            "413": big("/v1/render"),
            "429": lambda: r("POST", "/v1/render", example, token=FLOOD),
        },
        "listDeadLetters": {
            "200": lambda: r("GET", "/v1/dead-letters?reason=auth_failed&limit=5", token=OPS),
            "401": lambda: r("GET", "/v1/dead-letters"),
            "403": lambda: r("GET", "/v1/dead-letters", token=READER),
            "405": lambda: r("POST", "/v1/dead-letters", b"{}", token=OPS),
            "429": lambda: r("GET", "/v1/dead-letters", token=FLOOD),
        },
        "replayDeadLetters": {
            "200": [lambda: r("POST", "/v1/dead-letters/replay",
                              ex("replayDeadLetters", "by_reason"), token=OPS),
                    lambda: r("POST", "/v1/dead-letters/replay",
                              ex("replayDeadLetters", "by_id"), token=OPS)],
            "400": lambda: r("POST", "/v1/dead-letters/replay", {}, token=OPS),
            "401": lambda: r("POST", "/v1/dead-letters/replay", {"reason": "x"}),
            "403": lambda: r("POST", "/v1/dead-letters/replay", {"reason": "x"}, token=READER),
            "405": lambda: r("GET", "/v1/dead-letters/replay", token=OPS),
            "429": lambda: r("POST", "/v1/dead-letters/replay", {"reason": "x"}, token=FLOOD),
        },
        "discardDeadLetters": {
            "200": lambda: r("POST", "/v1/dead-letters/discard",
                             ex("discardDeadLetters", "by_id"), token=OPS),
            "400": lambda: r("POST", "/v1/dead-letters/discard", {"ids": []}, token=OPS),
            "401": lambda: r("POST", "/v1/dead-letters/discard", {"ids": ["x"]}),
            "403": lambda: r("POST", "/v1/dead-letters/discard", {"ids": ["x"]}, token=READER),
            "405": lambda: r("GET", "/v1/dead-letters/discard", token=OPS),
            "429": lambda: r("POST", "/v1/dead-letters/discard", {"ids": ["x"]}, token=FLOOD),
        },
        "listReminders": {
            "200": lambda: r("GET", "/v1/reminders?dossier=D-1&limit=5", token=OPS),
            "401": lambda: r("GET", "/v1/reminders"),
            "403": lambda: r("GET", "/v1/reminders", token=READER),
            "405": lambda: r("POST", "/v1/reminders", b"{}", token=OPS),
            "429": lambda: r("GET", "/v1/reminders", token=FLOOD),
        },
        "cancelReminders": {
            "200": lambda: r("POST", "/v1/reminders/cancel", ex("cancelReminders", "by_id"),
                             token=OPS),
            "400": lambda: r("POST", "/v1/reminders/cancel", {"ids": []}, token=OPS),
            "401": lambda: r("POST", "/v1/reminders/cancel", {"ids": ["x"]}),
            "403": lambda: r("POST", "/v1/reminders/cancel", {"ids": ["x"]}, token=READER),
            "405": lambda: r("GET", "/v1/reminders/cancel", token=OPS),
            "429": lambda: r("POST", "/v1/reminders/cancel", {"ids": ["x"]}, token=FLOOD),
        },
        "listDeadCallbacks": {
            "200": lambda: r("GET", "/v1/webhooks/dead-letters?client=igate&limit=5", token=OPS),
            "401": lambda: r("GET", "/v1/webhooks/dead-letters"),
            "403": lambda: r("GET", "/v1/webhooks/dead-letters", token=READER),
            "405": lambda: r("POST", "/v1/webhooks/dead-letters", b"{}", token=OPS),
            "429": lambda: r("GET", "/v1/webhooks/dead-letters", token=FLOOD),
        },
        "replayDeadCallbacks": {
            "200": [lambda: r("POST", "/v1/webhooks/replay",
                              ex("replayDeadCallbacks", "by_client"), token=OPS),
                    lambda: r("POST", "/v1/webhooks/replay",
                              ex("replayDeadCallbacks", "by_id"), token=OPS)],
            "400": lambda: r("POST", "/v1/webhooks/replay", {}, token=OPS),
            "401": lambda: r("POST", "/v1/webhooks/replay", {"client": "x"}),
            "403": lambda: r("POST", "/v1/webhooks/replay", {"client": "x"}, token=READER),
            "405": lambda: r("GET", "/v1/webhooks/replay", token=OPS),
            "429": lambda: r("POST", "/v1/webhooks/replay", {"client": "x"}, token=FLOOD),
        },
        "usageReport": {
            # format=csv (text/csv) is checked by test_usage.py.
            "200": lambda: r("GET", "/v1/reports/usage?from=2026-12-01&to=2026-12-31"
                             "&group_by=agency,channel", token=OPS),
            "400": lambda: r("GET", "/v1/reports/usage?group_by=colour", token=OPS),
            "401": lambda: r("GET", "/v1/reports/usage"),
            "403": lambda: r("GET", "/v1/reports/usage", token=READER),
            "405": lambda: r("POST", "/v1/reports/usage", b"{}", token=OPS),
            "429": lambda: r("GET", "/v1/reports/usage", token=FLOOD),
        },
        "providerCallbackGet": {
            "200": lambda: r("GET", "/v1/callbacks/esms?token=" + CB_TOKEN),
            "4XX": lambda: r("GET", "/v1/callbacks/esms?token=wrong"),
            "404": lambda: r("GET", "/v1/callbacks/outbox-sms"),
            "405": lambda: r("PUT", "/v1/callbacks/esms", b"{}"),
        },
        "providerCallbackPost": {
            "200": lambda: r("POST", "/v1/callbacks/esms?token=" + CB_TOKEN, b"{}"),
            "4XX": lambda: r("POST", "/v1/callbacks/esms?token=wrong", b"{}"),
            "404": lambda: r("POST", "/v1/callbacks/no-such-provider", b"{}"),
            "405": lambda: r("DELETE", "/v1/callbacks/esms"),
        },
        "healthz": {
            "200": lambda: r("GET", "/healthz"),
            "405": lambda: r("POST", "/healthz", b"{}"),
        },
        "readyz": {
            "200": lambda: r("GET", "/readyz"),
            "405": lambda: r("POST", "/readyz", b"{}"),
        },
        "metrics": {
            "200": lambda: r("GET", "/metrics", token=METRICS),
            "401": lambda: r("GET", "/metrics"),
            "405": lambda: r("POST", "/metrics", b"{}", token=METRICS),
        },
    }

    # 2. Every documented status of every operation, from a real request.
    bodies = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            op_id = op.get("operationId")
            mine = cases.get(op_id)
            if not check(mine is not None,
                         "operation %s (%s %s) has cases in this test" % (op_id, method, path)):
                continue
            for status_key, resp in op["responses"].items():
                where = "%s %s -> %s" % (method.upper(), path, status_key)
                if status_key not in mine:
                    check(status_key in UNREACHABLE,
                          "%s: a case produces it (or UNREACHABLE says why none can)" % where)
                    continue
                makers = mine[status_key]
                for make in (makers if isinstance(makers, list) else [makers]):
                    bodies.extend(answer(spec, path, method, op, status_key, resp, make()))
            for name in cases.get(op_id, {}):
                check(name in op["responses"],
                      "%s %s: case %s is a documented status" % (method.upper(), path, name))

    # 3. Every request example was sent above (by example_of).
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "requestBody" not in op:
                continue
            for media in op["requestBody"].get("content", {}).values():
                for name in media.get("examples", {}):
                    check((op.get("operationId"), name) in USED_EXAMPLES,
                          "request example %s of %s is sent" % (name, op.get("operationId")))

    cases_file = os.path.join(tmp, "bodies.json")
    with open(cases_file, "w") as f:
        json.dump(bodies, f)
    res = subprocess.run(["node", checker, "bodies", spec_file, cases_file], capture_output=True,
                         text=True, timeout=60)
    for line in res.stdout.splitlines():
        check(False, "body matches its schema: " + line)
    check(res.returncode == 0 and not res.stderr.strip(),
          "%d response bodies match their documented schemas %s" % (len(bodies), res.stderr))


def answer(spec, path, method, op, status_key, resp, got):
    """Checks one answer against the documented response: status, headers, Content-Type; the
    JSON body to check against its schema, as a list of at most one case."""
    status, hdrs, raw = got
    where = "%s %s -> %s" % (method.upper(), path, status_key)
    want = status_key
    got_ok = (str(status) == want or
              (want.endswith("XX") and str(status)[0] == want[0] and
               str(status) not in op["responses"]))
    check(got_ok, "%s: answered %d" % (where, status))
    resp_ptr = pointer("paths", path, method, "responses", status_key)
    if "$ref" in resp:
        resp_ptr = resp["$ref"]
        resp = resolve(spec, resp["$ref"])
    for h in resp.get("headers", {}):
        check(h.lower() in hdrs, "%s: header %s is there" % (where, h))
    content = resp.get("content", {})
    ctype = hdrs.get("content-type", "")
    if "application/json" in content:
        check(ctype.startswith("application/json"),
              "%s: Content-Type %s" % (where, ctype))
        try:
            body = json.loads(raw)
        except ValueError:
            check(False, "%s: a JSON body (%r)" % (where, raw[:100]))
            return []
        return [{"what": where, "body": body,
                 "schema": resp_ptr + "/content/application~1json/schema"}]
    elif "text/plain" in content:
        check(ctype.startswith("text/plain") and len(raw) > 0,
              "%s: a text/plain body" % where)
    return []


USED_EXAMPLES = set()


def resolve(spec, ref):
    node = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def example_of(spec, op_id, name):
    for item in spec["paths"].values():
        for op in item.values():
            if isinstance(op, dict) and op.get("operationId") == op_id:
                media = op["requestBody"]["content"]["application/json"]
                ex = media["examples"][name]
                if "$ref" in ex:
                    ex = resolve(spec, ex["$ref"])
                USED_EXAMPLES.add((op_id, name))
                return json.loads(json.dumps(ex["value"]))
    raise AssertionError("no example %s of %s" % (name, op_id))


if __name__ == "__main__":
    sys.exit(main())
