#!/usr/bin/env python3
"""A fake FPT SMS brandname API (FPT Telecom International) for tests, on loopback.

Usage: fake_fpt.py [--port 0] [--client-id I] [--client-secret S] [--brandname B]
                   [--expires-in 3600]

Prints "PORT <n>" as its first stdout line once it listens. Speaks the wire format public
clients of the API use (JSON both ways):
  POST /oauth2/token {"grant_type": "client_credentials", "client_id", "client_secret",
       "scope": "send_brandname_otp", "session_id"}
    -> {"access_token", "expires_in", "token_type": "Bearer", "scope"}
    -> wrong credentials: HTTP 401 {"error": 1008, "error_description": "..."}
  POST /api/push-brandname-otp {"access_token", "session_id", "BrandName", "Phone",
       "Message" (Base64 of the text), "RequestId"}
    -> {"MessageId", "BrandName", "Phone", "Message", "PartnerId", "Telco"}
    -> unknown or expired token: HTTP 401 {"error": 1013, "error_description": "..."}
    -> another BrandName: {"error": 2513, ...}; Message not Base64 of UTF-8: HTTP 400
Scripted failures, consumed in order by the next push requests:
  POST /_control {"fail_next": n, "code": "2518"|"2519"|"2501"|"http500"|"http429"}
  POST /_control {"expire_tokens": true}   every token issued so far is refused from now on
  POST /_control {"token_fail_next": n, "code": "http500"|"1008"}   token endpoint failures
  POST /_control {"reset": true}
GET /_requests: every request received, [{"path", "raw", "body", "text" (the decoded Message)}];
GET /_stats: {"tokens_issued": n}.
"""

import argparse
import base64
import json
import sys
import threading
import uuid

import fakehttp


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.tokens = {}      # token -> session_id
        self.expired = set()
        self.requests = []
        self.failures = []    # [remaining, code]
        self.token_failures = []
        self.tokens_issued = 0
        self.next_id = 1000

    @staticmethod
    def take(queue):
        if not queue:
            return None
        entry = queue[0]
        entry[0] -= 1
        if entry[0] <= 0:
            queue.pop(0)
        return entry[1]


MESSAGES = {
    "1008": "Client authentication failed",
    "1013": "Access token is expired",
    "2501": "Duplicate message in 5 minutes",
    "2513": "Brandname is not registered",
    "2518": "Message does not match the registered template",
    "2519": "Message contains a forbidden keyword",
}


class Handler(fakehttp.JsonHandler):
    server_version = "fake-fpt/1"

    def do_GET(self):
        state = self.server.state
        with state.lock:
            if self.path == "/_requests":
                self.reply(200, list(state.requests))
                return
            if self.path == "/_stats":
                self.reply(200, {"tokens_issued": state.tokens_issued})
                return
        self.reply(404, {"error": "not found"})

    def error(self, status, code):
        self.reply(status, {"error": int(code), "error_description": MESSAGES.get(code, "Error")})

    def do_POST(self):
        state = self.server.state
        raw = self.read_body()
        try:
            body = json.loads(raw.decode("utf-8") or "{}")
        except ValueError:
            body = None
        if self.path == "/_control":
            spec = body or {}
            with state.lock:
                if spec.get("reset"):
                    state.failures.clear()
                    state.token_failures.clear()
                    state.requests.clear()
                if spec.get("expire_tokens"):
                    state.expired.update(state.tokens.keys())
                if int(spec.get("fail_next", 0)) > 0:
                    state.failures.append([int(spec["fail_next"]), str(spec.get("code"))])
                if int(spec.get("token_fail_next", 0)) > 0:
                    state.token_failures.append([int(spec["token_fail_next"]),
                                                 str(spec.get("code"))])
            self.reply(200, {"ok": True})
            return
        entry = {"path": self.path, "raw": raw.decode("utf-8", errors="replace"), "body": body}
        if self.path == "/oauth2/token":
            with state.lock:
                state.requests.append(entry)
                failure = State.take(state.token_failures)
            if failure == "http500":
                self.reply(500, b"Internal Server Error")
                return
            args = state.args
            if (failure == "1008" or not isinstance(body, dict)
                    or body.get("grant_type") != "client_credentials"
                    or body.get("client_id") != args.client_id
                    or body.get("client_secret") != args.client_secret
                    or body.get("scope") != "send_brandname_otp"):
                self.error(401, "1008")
                return
            token = uuid.uuid4().hex
            with state.lock:
                state.tokens[token] = body.get("session_id")
                state.tokens_issued += 1
            self.reply(200, {"access_token": token, "expires_in": args.expires_in,
                             "token_type": "Bearer", "scope": "send_brandname_otp"})
            return
        if self.path != "/api/push-brandname-otp":
            self.reply(404, {"error": "not found"})
            return
        text = None
        if isinstance(body, dict):
            try:
                text = base64.b64decode(body.get("Message") or "", validate=True).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                text = None
        entry["text"] = text
        with state.lock:
            state.requests.append(entry)
            token = body.get("access_token") if isinstance(body, dict) else None
            known = token in state.tokens and token not in state.expired
            failure = State.take(state.failures) if known else None
            message_id = str(state.next_id)
            state.next_id += 1
        if not isinstance(body, dict) or text is None:
            self.reply(400, {"error": 400, "error_description": "Invalid request"})
            return
        if not known:
            self.error(401, "1013")
            return
        if failure == "http500":
            self.reply(500, b"Internal Server Error")
            return
        if failure == "http429":
            self.reply(429, b"Too Many Requests", {"Retry-After": "7"})
            return
        if failure:
            self.error(200, failure)
            return
        if body.get("BrandName") != state.args.brandname:
            self.error(200, "2513")
            return
        self.reply(200, {"MessageId": message_id, "BrandName": body.get("BrandName"),
                         "Phone": body.get("Phone"), "Message": body.get("Message"),
                         "PartnerId": body.get("RequestId"), "Telco": "viettel"})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-id", default="test-client-id")
    parser.add_argument("--client-secret", default="test-client-secret")
    parser.add_argument("--brandname", default="TINBAO")
    parser.add_argument("--expires-in", type=int, default=3600)
    args = parser.parse_args()
    return fakehttp.serve(Handler, State(args), args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
