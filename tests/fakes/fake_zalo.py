#!/usr/bin/env python3
"""A fake Zalo for tests: the OA OAuth token endpoint, the ZNS send-by-phone API, and ratings.

Usage: fake_zalo.py [--port 0] [--app-id A] [--secret-key S] [--refresh-token R]
                    [--expires-in 90000]

Prints "PORT <n>" as its first stdout line once it listens. Speaks docs/providers/zalo_zns.md:
  POST /v4/oa/access_token  (form: app_id, grant_type=refresh_token, refresh_token;
                             header secret_key)
    -> {"access_token": "...", "refresh_token": "...", "expires_in": "90000"}
    Each refresh token is SINGLE USE: a reused, unknown or expired one gets
    {"error": -14014, "error_name": "Invalid refresh token", ...}; every refresh returns a new
    refresh token. A wrong app_id or secret_key gets an error too (code -14002: assumed, not
    documented). `--refresh-token` is the one valid token at start.
  POST /message/template  (header access_token; JSON phone, template_id, template_data,
                           tracking_id[, mode])
    -> {"error":0,"message":"Success","data":{"msg_id":"...","sent_time":"...",
        "sending_mode":"1","quota":{"dailyQuota":"500","remainingQuota":"499"}}}
    The quota counts down: remainingQuota is the daily quota (500, or "daily_quota" set by
    /_control) less the messages sent so far, as Zalo reports it after each send.
    An unknown or expired access token -> {"error":-124,"message":"Access token is invalid"};
    a phone not in 84... form -> -108; missing template_id -> -109; template_data not an
    object -> -111; missing tracking_id -> -112.
Control:
  POST /_control {"fail_next": n, "code": -133}   the next n template sends answer that code
                 ("code": "http500" answers HTTP 500)
  POST /_control {"oauth_fail_next": n}           the next n refreshes fail with -14014
  POST /_control {"expire_access_tokens": true}   every issued access token becomes invalid
  POST /_control {"expires_in": 100}              lifetime of tokens issued from now on
  POST /_control {"daily_quota": 2000}             the daily quota reported from now on
  POST /_control {"reset": true}                  forgets failures and recorded requests
  POST /_control {"rate": {"tracking_id": "...", "rate": 5, "note": "...", "feedbacks": [...],
                           "webhook": "<url>", "oa_secret": "...", "oa_id": "...",
                           "submit_time": ms, "signature": "good" | "bad" | "none"}}
                 the citizen who got the message sent with that tracking_id rates it: the fake
                 POSTs Zalo's `user_feedback` webhook for it (msg_id: the one it answered for the
                 send) to `webhook`, signed X-ZEvent-Signature: mac=<hex sha256(app_id + body +
                 timestamp + oa_secret)> (or wrongly, or not at all), and answers
                 {"status": <tinbaod's HTTP status>, "body": <its answer>, "retry_after": <its
                 Retry-After header, or null>, "sent": <the body>}.
                 The same submit_time again repeats the same answer (a webhook retry).
GET /_requests returns every API request received, as a JSON array of
{"path", "method", "content_type", "access_token", "secret_key", "body"}; body is the parsed
JSON (template) or the form as an object (OAuth).
"""

import argparse
import hashlib
import json
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import fakehttp

OAUTH_PATH = "/v4/oa/access_token"
SEND_PATH = "/message/template"

MESSAGES = {
    -100: "Unknown error, please try again later",
    -108: "Phone number invalid",
    -109: "Template ID invalid",
    -110: "Zalo version unsupported",
    -111: "Template data empty",
    -112: "Template data invalid",
    -114: "User is inactive, or reject the message, or using an outdated Zalo version, "
          "or other internal errors",
    -115: "Out of quota",
    -118: "Zalo account not existed",
    -119: "Account can not receive message",
    -124: "Access token is invalid",
    -133: "Can not send message at night",
    -139: "User refused to receive this type of message",
    -141: "User refused to receive ZNS from this OA",
    -144: "OA has exceeded the daily quota",
    -147: "Template has exceeded its daily quota",
    -216: "Access token is invalid",
    -220: "access_token is expired or removed",
}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.app_id = args.app_id
        self.secret_key = args.secret_key
        self.expires_in = args.expires_in
        self.refresh_tokens = {args.refresh_token}  # valid, unused
        self.used_refresh_tokens = set()
        self.access_tokens = {}  # token -> expiry (epoch seconds)
        self.requests = []
        self.failures = []  # [remaining, code]
        self.oauth_failures = 0
        self.daily_quota = 500
        self.sent = 0
        self.msg_ids = {}  # tracking_id -> msg_id answered

    def next_failure(self):
        if not self.failures:
            return None
        entry = self.failures[0]
        entry[0] -= 1
        if entry[0] <= 0:
            self.failures.pop(0)
        return entry[1]


class Handler(fakehttp.JsonHandler):
    server_version = "fake-zalo/1"

    def do_GET(self):
        state = self.server.state
        if self.path == "/_requests":
            with state.lock:
                payload = list(state.requests)
            self.reply(200, payload)
            return
        self.reply(404, {"error": "not found"})

    def record(self, body):
        self.server.state.requests.append({
            "path": self.path,
            "method": self.command,
            "content_type": self.headers.get("Content-Type", ""),
            "access_token": self.headers.get("access_token"),
            "secret_key": self.headers.get("secret_key"),
            "body": body,
        })

    def do_POST(self):
        state = self.server.state
        raw = self.read_body()
        if self.path == "/_control":
            self.control(state, raw)
            return
        if self.path == OAUTH_PATH:
            self.oauth(state, raw)
            return
        if self.path == SEND_PATH:
            self.send_template(state, raw)
            return
        self.reply(404, {"error": "not found"})

    def control(self, state, raw):
        try:
            spec = json.loads(raw.decode("utf-8") or "{}")
        except ValueError:
            self.reply(400, {"error": "bad json"})
            return
        if "rate" in spec:
            self.reply(200, self.rate(state, spec["rate"]))
            return
        with state.lock:
            if spec.get("reset"):
                state.failures.clear()
                state.requests.clear()
                state.oauth_failures = 0
            if "fail_next" in spec:
                n = int(spec["fail_next"])
                code = spec.get("code", -100)
                if n > 0:
                    state.failures.append([n, code])
            if "oauth_fail_next" in spec:
                state.oauth_failures = int(spec["oauth_fail_next"])
            if spec.get("expire_access_tokens"):
                state.access_tokens.clear()
            if "expires_in" in spec:
                state.expires_in = int(spec["expires_in"])
            if "daily_quota" in spec:
                state.daily_quota = int(spec["daily_quota"])
        self.reply(200, {"ok": True})

    def oauth(self, state, raw):
        form = {k: v[0] for k, v in
                urllib.parse.parse_qs(raw.decode("utf-8"), keep_blank_values=True).items()}
        with state.lock:
            self.record(form)

            def error(code, name, description):
                self.reply(200, {"error": code, "error_name": name,
                                 "error_reason": description,
                                 "error_description": description})

            if (self.headers.get("secret_key") != state.secret_key
                    or form.get("app_id") != state.app_id):
                error(-14002, "Invalid app", "app_id or secret_key is invalid")
                return
            if form.get("grant_type") != "refresh_token":
                error(-14003, "Invalid grant type", "grant_type must be refresh_token")
                return
            token = form.get("refresh_token", "")
            if state.oauth_failures > 0:
                state.oauth_failures -= 1
                error(-14014, "Invalid refresh token", "refresh token is invalid")
                return
            if token not in state.refresh_tokens:
                why = ("refresh token was already used" if token in state.used_refresh_tokens
                       else "refresh token is invalid")
                error(-14014, "Invalid refresh token", why)
                return
            state.refresh_tokens.discard(token)
            state.used_refresh_tokens.add(token)
            access = "AT-" + secrets.token_hex(12)
            refresh = "RT-" + secrets.token_hex(12)
            state.refresh_tokens.add(refresh)
            state.access_tokens[access] = time.time() + state.expires_in
            self.reply(200, {"access_token": access, "refresh_token": refresh,
                             "expires_in": str(state.expires_in)})

    def send_template(self, state, raw):
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        with state.lock:
            self.record(body if body is not None else text)
            token = self.headers.get("access_token") or ""
            expiry = state.access_tokens.get(token)
            if expiry is None or expiry <= time.time():
                self.reply(200, {"error": -124, "message": MESSAGES[-124]})
                return
            failure = state.next_failure()
            if failure is not None:
                if failure == "http500":
                    self.reply(500, b"Internal Server Error")
                else:
                    code = int(failure)
                    self.reply(200, {"error": code, "message": MESSAGES.get(code, "Error")})
                return
            self.reply(200, self.answer(state, body))

    @staticmethod
    def rate(state, spec):
        """Posts the user_feedback webhook, as the spec (see the module's docstring) says."""
        with state.lock:
            msg_id = state.msg_ids.get(spec.get("tracking_id"), spec.get("msg_id", "unknown"))
        now = str(int(time.time() * 1000))
        body = json.dumps({
            "event_name": "user_feedback", "app_id": state.app_id,
            "oa_id": spec.get("oa_id", "579745863508352884"),
            "message": {"note": spec.get("note", ""), "rate": spec.get("rate", 5),
                        "submit_time": str(spec.get("submit_time", now)), "msg_id": msg_id,
                        "feedbacks": spec.get("feedbacks", []),
                        "tracking_id": spec.get("tracking_id", "")},
            "timestamp": now}, ensure_ascii=False, separators=(",", ":"))
        mac = hashlib.sha256((state.app_id + body + now + spec.get("oa_secret", "")).encode(
            "utf-8")).hexdigest()
        headers = {"Content-Type": "application/json", "X-ZEvent-Server": "ZNS"}
        how = spec.get("signature", "good")
        if how == "good":
            headers["X-ZEvent-Signature"] = "mac=" + mac
        elif how == "bad":
            headers["X-ZEvent-Signature"] = "mac=" + hashlib.sha256(b"forged").hexdigest()
        req = urllib.request.Request(spec["webhook"], data=body.encode("utf-8"), method="POST",
                                     headers=headers)
        retry_after = None
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                status, answer = r.status, r.read().decode("utf-8", errors="replace")
                retry_after = r.headers.get("Retry-After")
        except urllib.error.HTTPError as e:
            status, answer = e.code, e.read().decode("utf-8", errors="replace")
            retry_after = e.headers.get("Retry-After")
        except OSError as e:
            status, answer = 0, str(e)
        return {"status": status, "body": answer, "retry_after": retry_after,
                "sent": json.loads(body), "msg_id": msg_id}

    @staticmethod
    def answer(state, body):
        def error(code):
            return {"error": code, "message": MESSAGES.get(code, "Error")}

        if not isinstance(body, dict):
            return error(-112)
        phone = str(body.get("phone", ""))
        if not (phone.startswith("84") and phone.isdigit() and 10 <= len(phone) <= 12):
            return error(-108)
        if not body.get("template_id"):
            return error(-109)
        if not isinstance(body.get("template_data"), dict) or not body["template_data"]:
            return error(-111)
        if not body.get("tracking_id"):
            return error(-112)
        state.sent += 1
        remaining = max(0, state.daily_quota - state.sent)
        msg_id = secrets.token_hex(10)
        state.msg_ids[str(body["tracking_id"])] = msg_id
        return {"error": 0, "message": "Success",
                "data": {"msg_id": msg_id,
                         "sent_time": str(int(time.time() * 1000)),
                         "sending_mode": "1",
                         "quota": {"dailyQuota": str(state.daily_quota),
                                   "remainingQuota": str(remaining)}}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--app-id", default="test-app-id")
    parser.add_argument("--secret-key", default="test-secret-key")
    parser.add_argument("--refresh-token", default="RT-initial")
    parser.add_argument("--expires-in", type=int, default=90000)
    args = parser.parse_args()

    return fakehttp.serve(Handler, State(args), args.host, args.port)

if __name__ == "__main__":
    sys.exit(main())
