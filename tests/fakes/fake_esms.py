#!/usr/bin/env python3
"""A fake eSMS.vn for tests: speaks the SendMultipleMessage_V4_post_json wire format on loopback.

Usage: fake_esms.py [--port 0] [--record FILE] [--api-key K] [--secret-key S] [--script FILE]

Prints "PORT <n>" as its first stdout line once it listens. Answers like eSMS (developers.esms.vn):
  - wrong ApiKey/SecretKey                    -> CodeResult "101", ErrorMessage "Authorize Failed"
  - a RequestId already accepted the same day -> CodeResult "124", ErrorMessage "Request exist 1"
  - missing Phone/Content/Brandname, bad JSON -> CodeResult "110", ErrorMessage "Invalid data"
  - otherwise -> {"CodeResult":"100","CountRegenerate":0,"SMSID":"<uuid>"}
Scripted failures, consumed in order by the next send requests:
  POST /_control {"fail_next": n, "code": "103"|"146"|...|"http500"|"http429", "retry_after": 7}
  POST /_control {"reset": true} forgets failures, requests and seen RequestIds.
  --script FILE: a JSON array of such objects, applied at start.
GET /_requests returns every send request received, as a JSON array of
{"path", "method", "content_type", "body"} (body parsed when it is JSON, else the raw text).
"""

import argparse
import datetime
import json
import sys
import threading
import time
import uuid

import fakehttp

SEND_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json"

MESSAGES = {
    "99": "Phone is blocked",
    "101": "Authorize Failed",
    "102": "Account has no price list",
    "103": "Not enough balance",
    "104": "Brand name code is not exist",
    "108": "Phone number is invalid",
    "110": "Invalid data",
    "124": "Request exist 1",
    "140": "IP is not in whitelist",
    "146": "Sai template Brandname CSKH",
    "177": "Brandname not registered for this carrier",
}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.api_key = args.api_key
        self.secret_key = args.secret_key
        self.record_path = args.record
        self.requests = []
        self.failures = []  # list of [remaining, code, retry_after]
        self.seen = set()   # (date, RequestId)
        self.delay_ms = 0   # answer this much later (a slow provider)

    def add_failures(self, spec):
        n = int(spec.get("fail_next", 1))
        code = str(spec.get("code", "103"))
        retry_after = spec.get("retry_after", 7)
        if n > 0:
            self.failures.append([n, code, retry_after])

    def next_failure(self):
        if not self.failures:
            return None
        entry = self.failures[0]
        entry[0] -= 1
        if entry[0] <= 0:
            self.failures.pop(0)
        return entry[1], entry[2]

    def record(self, entry):
        self.requests.append(entry)
        if self.record_path:
            with open(self.record_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry, ensure_ascii=False) + "\n")
                f.flush()


class Handler(fakehttp.JsonHandler):
    server_version = "fake-esms/1"

    def do_GET(self):
        state = self.server.state
        if self.path == "/_requests":
            with state.lock:
                payload = list(state.requests)
            self.reply(200, payload)
            return
        self.reply(404, {"error": "not found"})

    def do_POST(self):
        state = self.server.state
        raw = self.read_body()
        if self.path == "/_control":
            try:
                spec = json.loads(raw.decode("utf-8") or "{}")
            except ValueError:
                self.reply(400, {"error": "bad json"})
                return
            with state.lock:
                if spec.get("reset"):
                    state.failures.clear()
                    state.requests.clear()
                    state.seen.clear()
                if "fail_next" in spec:
                    state.add_failures(spec)
                if "delay_ms" in spec:
                    state.delay_ms = int(spec["delay_ms"])
            self.reply(200, {"ok": True})
            return
        if self.path.rstrip("/") != SEND_PATH:
            self.reply(404, {"error": "not found"})
            return

        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        entry = {
            "path": self.path,
            "method": "POST",
            "content_type": self.headers.get("Content-Type", ""),
            "body": body if body is not None else text,
            "at": time.time(),   # when it arrived, for rate checks
        }
        with state.lock:
            state.record(entry)
            delay = state.delay_ms
            failure = state.next_failure()
            answer = None if failure is not None else self.answer(state, body)
            # What was answered: "100", "124", ..., or "http500"/"http429".
            entry["code"] = failure[0] if failure is not None else answer["CodeResult"]
        if delay > 0:
            time.sleep(delay / 1000.0)
        if failure is not None:
            code, retry_after = failure
            if code == "http500":
                self.reply(500, b"Internal Server Error")
            elif code == "http429":
                self.reply(429, b"Too Many Requests", {"Retry-After": str(retry_after)})
            else:
                self.reply(200, {"CodeResult": code, "ErrorMessage": MESSAGES.get(code, "Error")})
            return
        self.reply(200, answer)

    @staticmethod
    def answer(state, body):
        def error(code):
            return {"CodeResult": code, "ErrorMessage": MESSAGES[code]}

        if not isinstance(body, dict):
            return error("110")
        if body.get("ApiKey") != state.api_key or body.get("SecretKey") != state.secret_key:
            return error("101")
        for field in ("Phone", "Content", "Brandname"):
            if not body.get(field):
                return error("110")
        request_id = body.get("RequestId")
        if request_id:
            key = (datetime.date.today().isoformat(), str(request_id))
            if key in state.seen:
                return error("124")
            state.seen.add(key)
        return {"CodeResult": "100", "CountRegenerate": 0, "SMSID": str(uuid.uuid4())}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--record", default="")
    parser.add_argument("--api-key", default="test-api-key")
    parser.add_argument("--secret-key", default="test-secret-key")
    parser.add_argument("--script", default="")
    args = parser.parse_args()

    state = State(args)
    if args.script:
        with open(args.script, encoding="utf-8") as f:
            for spec in json.load(f):
                state.add_failures(spec)

    # Many senders at once (load and crash tests).
    return fakehttp.serve(Handler, state, args.host, args.port, queue_size=256)

if __name__ == "__main__":
    sys.exit(main())
