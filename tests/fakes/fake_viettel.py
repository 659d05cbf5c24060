#!/usr/bin/env python3
"""A fake Viettel SMS brandname gateway for tests: the BulkSMS SOAP API (service CcApi,
namespace http://impl.bulkSms.ws/, operation wsCpMt) on loopback.

Usage: fake_viettel.py [--port 0] [--user U] [--password P] [--cp-code C] [--service-id S]
                       [--path /bulkapi]

Prints "PORT <n>" as its first stdout line once it listens. Answers as the gateway does, per
its WSDL (VietOpenCPS/opencps-v2, ws/bulkSms/impl) and the answers integrators record:
  - success: <ns2:wsCpMtResponse><return><message>Insert MT_QUEUE: OK</message>
    <result>1</result></return></ns2:wsCpMtResponse> in a SOAP 1.1 envelope
  - a failed check: result 0 and the check's text in <message>, e.g.
    "Authenticate: WRONG_INFORMATION_AUTHENTICATE" (User/Password), "Authenticate:
    CP_CODE_NOT_FOUND", "Check RequestID: REQUEST_ID_NOT_NUMBER", "UserID_NOT_EQUAL_ReceiverID",
    "Check ReceiverID: FORMAT_ERROR", "Check ServiceID: ALIAS_INVALID:TELCO=VT",
    "Check CommandCode: COMMAND_CODE_ERROR", "Check Content: NULL_OR_BLANK"
    (the value of `result` on failures is not documented publicly; 0 is a guess)
  - not XML, or no wsCpMt in the body: HTTP 500 with a soap:Client fault
Scripted failures, consumed in order by the next wsCpMt requests:
  POST /_control {"fail_next": n, "message": "Check ServiceID: ALIAS_INVALID:TELCO=VT"}
  POST /_control {"fail_next": n, "code": "http500"|"http429"|"fault_server"|"fault_client"}
  POST /_control {"reset": true} forgets failures and requests.
GET /_requests returns every request received, as a JSON array of {"path", "content_type",
"soap_action", "raw" (the body, text), "fields" (the wsCpMt parameters), "answer"}.
"""

import argparse
import json
import sys
import threading
import xml.etree.ElementTree as ET

import fakehttp

NS = "http://impl.bulkSms.ws/"
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
FIELDS = ["User", "Password", "CPCode", "RequestID", "UserID", "ReceiverID", "ServiceID",
          "CommandCode", "Content", "ContentType"]


def envelope(inner):
    return ('<?xml version="1.0" ?><S:Envelope xmlns:S="%s"><S:Body>%s</S:Body></S:Envelope>'
            % (SOAP, inner)).encode("utf-8")


def result(message, code):
    esc = (message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))
    return envelope('<ns2:wsCpMtResponse xmlns:ns2="%s"><return><message>%s</message>'
                    '<result>%d</result></return></ns2:wsCpMtResponse>' % (NS, esc, code))


def fault(code, text):
    return envelope('<S:Fault><faultcode>S:%s</faultcode><faultstring>%s</faultstring>'
                    '</S:Fault>' % (code, text))


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.requests = []
        self.failures = []  # [remaining, spec]

    def next_failure(self):
        if not self.failures:
            return None
        entry = self.failures[0]
        entry[0] -= 1
        if entry[0] <= 0:
            self.failures.pop(0)
        return entry[1]


class Handler(fakehttp.JsonHandler):
    server_version = "fake-viettel/1"

    def do_GET(self):
        state = self.server.state
        if self.path == "/_requests":
            with state.lock:
                payload = list(state.requests)
            self.content_type = "application/json; charset=utf-8"
            self.reply(200, payload)
            return
        if self.path.endswith("?wsdl"):
            self.reply(200, b"<definitions/>")
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
                if "fail_next" in spec and int(spec["fail_next"]) > 0:
                    state.failures.append([int(spec["fail_next"]), spec])
            self.content_type = "application/json; charset=utf-8"
            self.reply(200, {"ok": True})
            return
        self.content_type = "text/xml; charset=utf-8"
        if self.path != state.args.path:
            self.reply(404, b"Not Found")
            return
        text = raw.decode("utf-8", errors="replace")
        fields = None
        try:
            root = ET.fromstring(raw)
            op = root.find("{%s}Body/{%s}wsCpMt" % (SOAP, NS))
            if op is not None:
                fields = {f: (op.findtext(f) or "") for f in FIELDS}
        except ET.ParseError:
            pass
        entry = {"path": self.path, "content_type": self.headers.get("Content-Type", ""),
                 "soap_action": self.headers.get("SOAPAction"), "raw": text, "fields": fields}
        with state.lock:
            state.requests.append(entry)
            failure = state.next_failure()
            if failure is None and fields is not None:
                message = self.check(state.args, fields)
                entry["answer"] = message
        if fields is None:
            entry["answer"] = "fault_client"
            self.reply(500, fault("Client", "Cannot find dispatch method"))
            return
        if failure is not None:
            code = failure.get("code")
            entry["answer"] = code or failure.get("message")
            if code == "http500":
                self.reply(500, b"Internal Server Error")
            elif code == "http429":
                self.reply(429, b"Too Many Requests", {"Retry-After": "7"})
            elif code == "fault_server":
                self.reply(500, fault("Server", "java.lang.NullPointerException"))
            elif code == "fault_client":
                self.reply(500, fault("Client", "Unmarshalling Error"))
            else:
                self.reply(200, result(failure.get("message", "Check information error"), 0))
            return
        ok = message == "Insert MT_QUEUE: OK"
        self.reply(200, result(message, 1 if ok else 0))

    @staticmethod
    def check(args, f):
        if f["User"] != args.user or f["Password"] != args.password:
            return "Authenticate: WRONG_INFORMATION_AUTHENTICATE"
        if f["CPCode"] != args.cp_code:
            return "Authenticate: CP_CODE_NOT_FOUND"
        if not f["RequestID"]:
            return "Check RequestID: NULL_OR_BLANK"
        if not f["RequestID"].isdigit():
            return "Check RequestID: REQUEST_ID_NOT_NUMBER"
        if f["UserID"] != f["ReceiverID"]:
            return "UserID_NOT_EQUAL_ReceiverID"
        if not (f["ReceiverID"].startswith("84") and f["ReceiverID"].isdigit()
                and len(f["ReceiverID"]) == 11):
            return "Check ReceiverID: FORMAT_ERROR"
        if f["ServiceID"] != args.service_id:
            return "Check ServiceID: ALIAS_INVALID:TELCO=VT"
        if f["CommandCode"] != "bulksms":
            return "Check CommandCode: COMMAND_CODE_ERROR"
        if not f["Content"]:
            return "Check Content: NULL_OR_BLANK"
        if f["ContentType"] not in ("0", "1"):
            return "Check information error"
        return "Insert MT_QUEUE: OK"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--path", default="/bulkapi")
    parser.add_argument("--user", default="smsbrand_test")
    parser.add_argument("--password", default="test-password")
    parser.add_argument("--cp-code", default="TESTCP")
    parser.add_argument("--service-id", default="TINBAO")
    args = parser.parse_args()
    return fakehttp.serve(Handler, State(args), args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
