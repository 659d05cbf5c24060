#!/usr/bin/env python3
"""A fake VNPT brandname SMS gateway for tests: speaks the send_sms_list JSON wire format.

Usage: fake_vnpt.py [--port 0] [--api-user U] [--api-pass P] [--templates 3101:2,3100:1]

Prints "PORT <n>" as its first stdout line once it listens. A send is a POST (any path but the
control ones) of {"RQST": {"name": "send_sms_list", "REQID", "LABELID", "CONTRACTTYPEID",
"CONTRACTID", "TEMPLATEID", "PARAMS": [{"NUM": "1", "CONTENT": "..."}], "SCHEDULETIME",
"MOBILELIST", "ISTELCOSUB", "AGENTID", "APIUSER", "APIPASS", "USERNAME", "DATACODING"}} (the body
public integrators send; docs/providers/vnpt.md). Success is
{"RPLY": {"name": "send_sms_list", "ERROR": "0", "ERROR_DESC": "success"}}.

VNPT's error table is not public, so the codes of refusals below are this fake's own:
  - not JSON, no RQST, name not send_sms_list, a field missing -> ERROR "2" "invalid request"
  - APIUSER/APIPASS not the configured ones                       -> ERROR "1" "authentication failed"
  - TEMPLATEID not in --templates, or a count of PARAMS unlike its
    registered one (NUM must run 1..n)                              -> ERROR "3" "template not found"
Scripted failures, consumed in order by the next send requests:
  POST /_control {"fail_next": n, "code": "7", "desc": "..."} (an ERROR answer, HTTP 200), or
  "code": "http500" | "http429" (with "retry_after"); {"reset": true} forgets them and the requests.
GET /_requests returns every send received, as a JSON array of {"path", "content_type",
"raw" (the body's exact text), "body" (parsed, or null), "answer"}.
"""

import argparse
import json
import sys
import threading

import fakehttp

FIELDS = ("name", "REQID", "LABELID", "CONTRACTTYPEID", "CONTRACTID", "TEMPLATEID", "PARAMS",
          "SCHEDULETIME", "MOBILELIST", "ISTELCOSUB", "AGENTID", "APIUSER", "APIPASS",
          "USERNAME", "DATACODING")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.api_user = args.api_user
        self.api_pass = args.api_pass
        self.templates = {}
        for item in filter(None, args.templates.split(",")):
            tid, _, count = item.partition(":")
            self.templates[tid] = int(count or 0)
        self.requests = []
        self.failures = []  # [remaining, code, desc, retry_after]

    def next_failure(self):
        if not self.failures:
            return None
        entry = self.failures[0]
        entry[0] -= 1
        if entry[0] <= 0:
            self.failures.pop(0)
        return entry[1:]


def reply_body(code, desc):
    return {"RPLY": {"name": "send_sms_list", "ERROR": code, "ERROR_DESC": desc}}


class Handler(fakehttp.JsonHandler):
    server_version = "fake-vnpt/1"

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
            spec = json.loads(raw.decode("utf-8") or "{}")
            with state.lock:
                if spec.get("reset"):
                    state.failures.clear()
                    state.requests.clear()
                if "fail_next" in spec:
                    state.failures.append([int(spec["fail_next"]), str(spec.get("code", "7")),
                                           spec.get("desc", "error"),
                                           str(spec.get("retry_after", 7))])
            self.reply(200, {"ok": True})
            return
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        entry = {"path": self.path, "content_type": self.headers.get("Content-Type", ""),
                 "raw": text, "body": body}
        with state.lock:
            state.requests.append(entry)
            failure = state.next_failure()
            if failure is None:
                answer = self.answer(state, body)
                entry["answer"] = answer["RPLY"]["ERROR"]
            else:
                entry["answer"] = failure[0]
        if failure is not None:
            code, desc, retry_after = failure
            if code == "http500":
                self.reply(500, b"Internal Server Error")
            elif code == "http429":
                self.reply(429, b"Too Many Requests", {"Retry-After": retry_after})
            else:
                self.reply(200, reply_body(code, desc))
            return
        self.reply(200, answer)

    @staticmethod
    def answer(state, body):
        rqst = body.get("RQST") if isinstance(body, dict) else None
        if not isinstance(rqst, dict) or rqst.get("name") != "send_sms_list" or \
                any(f not in rqst for f in FIELDS):
            return reply_body("2", "invalid request")
        if rqst["APIUSER"] != state.api_user or rqst["APIPASS"] != state.api_pass:
            return reply_body("1", "authentication failed")
        params = rqst["PARAMS"]
        expected = state.templates.get(str(rqst["TEMPLATEID"]))
        if expected is None or not isinstance(params, list) or len(params) != expected or \
                [p.get("NUM") for p in params] != [str(i + 1) for i in range(expected)]:
            return reply_body("3", "template not found")
        return reply_body("0", "success")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-user", default="test-api-user")
    parser.add_argument("--api-pass", default="test-api-pass")
    parser.add_argument("--templates", default="3101:2",
                        help="registered templates: id:number of params, comma separated")
    args = parser.parse_args()
    return fakehttp.serve(Handler, State(args), args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
