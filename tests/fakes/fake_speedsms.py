#!/usr/bin/env python3
"""A fake SpeedSMS.vn for tests: speaks POST /index.php/sms/send on loopback (speedsms.vn/sms-api).

Usage: fake_speedsms.py [--port 0] [--token T]

Prints "PORT <n>" as its first stdout line once it listens. Answers like SpeedSMS:
  - Authorization not HTTP Basic "<token>:x"   -> HTTP 401 {"name":"Unauthorized",...,"status":401}
  - body not JSON, "to" not a non-empty list, "content" empty, "sms_type" not 1..8, or no
    "sender" with sms_type 3 -> {"status":"error","code":"101","message":"..."}
  - a number in "to" that is not 84 + 9 digits -> {"status":"error","code":"105",
    "message":"phone invalid","invalidPhone":[...]}
  - otherwise {"status":"success","code":"00","data":{"tranId":n,"totalSMS":k,"totalPrice":p,
    "invalidPhone":[]}}
Scripted failures, consumed in order by the next send requests:
  POST /_control {"fail_next": n, "code": "300"|"113"|...|"http500"|"http429", "reset_after": 7}
  (http429 answers like the rate limiter, with X-Rate-Limit-Reset) and {"reset": true}.
GET /_requests returns every request received on any other path, as a JSON array of
{"path", "method", "content_type", "authorization", "body"} (body parsed when it is JSON).
"""

import argparse
import base64
import json
import re
import sys
import threading

import fakehttp

SEND_PATH = "/index.php/sms/send"

MESSAGES = {
    "007": "IP locked",
    "008": "Account blocked",
    "009": "Account not allowed to call API",
    "101": "Invalid or missing parameters",
    "105": "Phone number invalid",
    "110": "Content encoding not supported",
    "113": "Content too long",
    "300": "Not enough balance",
    "500": "Internal error",
}


class State:
    def __init__(self, token):
        self.lock = threading.Lock()
        self.token = token
        self.requests = []
        self.failures = []  # [remaining, code, reset_after]
        self.tran_id = 1000


class Handler(fakehttp.JsonHandler):
    content_type = "application/json; charset=UTF-8"
    server_version = "fake-speedsms/1"

    def do_GET(self):
        state = self.server.state
        if self.path == "/_requests":
            with state.lock:
                self.reply(200, list(state.requests))
            return
        self.handle_send(b"")

    def do_POST(self):
        state = self.server.state
        raw = self.read_body()
        if self.path == "/_control":
            spec = json.loads(raw.decode("utf-8") or "{}")
            with state.lock:
                if spec.get("reset"):
                    state.failures.clear()
                    state.requests.clear()
                if int(spec.get("fail_next", 0)) > 0:
                    state.failures.append([int(spec["fail_next"]), str(spec.get("code", "300")),
                                           spec.get("reset_after", 7)])
            self.reply(200, {"ok": True})
            return
        self.handle_send(raw)

    def do_PUT(self):
        self.handle_send(self.read_body())

    def handle_send(self, raw):
        state = self.server.state
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text) if text else None
        except ValueError:
            body = None
        with state.lock:
            state.requests.append({
                "path": self.path,
                "method": self.command,
                "content_type": self.headers.get("Content-Type", ""),
                "authorization": self.headers.get("Authorization", ""),
                "body": body if body is not None else text,
            })
            if self.path != SEND_PATH or self.command != "POST":
                self.reply(404, {"name": "Not Found", "message": "Page not found.", "code": 0,
                                 "status": 404})
                return
            if not self.authorized(state):
                self.reply(401, {"name": "Unauthorized", "code": 0, "status": 401,
                                 "message": "Your request was made with invalid credentials."})
                return
            failure = None
            if state.failures:
                entry = state.failures[0]
                entry[0] -= 1
                if entry[0] <= 0:
                    state.failures.pop(0)
                failure = entry
            if failure is not None:
                code = failure[1]
                if code == "http500":
                    self.reply(500, b"Internal Server Error")
                elif code == "http429":
                    self.reply(429, {"name": "Too Many Requests",
                                     "message": "Rate limit exceeded.", "code": 0, "status": 429},
                               {"X-Rate-Limit-Limit": "60", "X-Rate-Limit-Remaining": "0",
                                "X-Rate-Limit-Reset": str(failure[2])})
                else:
                    self.reply(200, {"status": "error", "code": code,
                                     "message": MESSAGES.get(code, "Error")})
                return
            self.reply(200, self.answer(state, body))

    def authorized(self, state):
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except ValueError:
            return False
        return user == state.token and password == "x"

    @staticmethod
    def answer(state, body):
        def error(code, **extra):
            out = {"status": "error", "code": code, "message": MESSAGES[code]}
            out.update(extra)
            return out

        if not isinstance(body, dict):
            return error("101")
        to = body.get("to")
        if not isinstance(to, list) or not to or not all(isinstance(n, str) for n in to):
            return error("101")
        if not isinstance(body.get("content"), str) or not body["content"]:
            return error("101")
        sms_type = body.get("sms_type")
        if not isinstance(sms_type, int) or not 1 <= sms_type <= 8:
            return error("101")
        if sms_type == 3 and not body.get("sender"):
            return error("101")
        invalid = [n for n in to if not re.fullmatch(r"84\d{9}", n)]
        if invalid:
            return error("105", invalidPhone=invalid)
        state.tran_id += 1
        return {"status": "success", "code": "00",
                "data": {"tranId": state.tran_id, "totalSMS": len(to),
                         "totalPrice": 600 * len(to), "invalidPhone": []}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="test-access-token")
    args = parser.parse_args()

    return fakehttp.serve(Handler, State(args.token), args.host, args.port)

if __name__ == "__main__":
    sys.exit(main())
