#!/usr/bin/env python3
"""The state telcos' gateways end to end: tinbaod on a real redis-server sends Vietnamese notices
through the `viettel` adapter (SOAP, tests/fakes/fake_viettel.py), the `fpt` adapter (OAuth2 and
Base64, tests/fakes/fake_fpt.py) and the generic `http` adapter in XML mode (a second SOAP fake),
and the test checks the exact bytes each fake received; then a retryable and a permanent provider
error of each, and failover to the channel's next provider; registered_templates and
forbidden_characters per provider; FPT delivery reports matched after a restart; the preview;
`tinbaod --check` on bad keys. Loopback only; every wait polls a condition with a deadline.
"""

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Procs, Redis, check, finish, free_port, http, wait_for  # noqa: E402

TOKEN = "telcos-test-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + TOKEN}
CALLBACK_TOKEN = "fpt-callback-token-0123456789"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"

TEMPLATES = {
    # Accented (UCS-2), with the characters XML must escape and the '&' Viettel refuses.
    "result_ready": 'sms: "Hồ sơ {{ dossier.code }} của {{ applicant.name }} đã có kết quả & '
                    '<nhận> tại \\"{{ data.counter }}\\"."\n',
    # Unaccented (GSM-7).
    "received": 'sms: "Ho so {{ dossier.code }} da duoc tiep nhan."\n',
    # Not registered with the Viettel brandname: FPT takes it. '#' is forbidden at FPT.
    "rejected": 'sms: "Ho so {{ dossier.code }} bi tu choi #1. Lien he Bo phan Mot cua."\n',
}


def event(eid, status, code, name="Nguyễn Thị Ánh Tuyết"):
    return {"event_id": eid, "occurred_at": "2026-11-27T08:15:00+07:00",
            "dossier": {"code": code, "status": status},
            "applicant": {"name": name, "phone": "0912 345 678"},
            "data": {"counter": "Quầy số 5"}}


def request_id(message_id):
    h = 14695981039346656037
    for b in message_id.encode():
        h ^= b
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return str(h % 1000000000)


def xml_escape(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&apos;"))


def viettel_envelope(message_id, to, text, content_type):
    fields = [("User", "smsbrand_test"), ("Password", "test-password"), ("CPCode", "TESTCP"),
              ("RequestID", request_id(message_id)), ("UserID", to), ("ReceiverID", to),
              ("ServiceID", "TINBAO"), ("CommandCode", "bulksms"), ("Content", text),
              ("ContentType", content_type)]
    inner = "".join("<%s>%s</%s>" % (k, xml_escape(v), k) for k, v in fields)
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="%s" '
            'xmlns:impl="http://impl.bulkSms.ws/"><soapenv:Header/><soapenv:Body><impl:wsCpMt>'
            '%s</impl:wsCpMt></soapenv:Body></soapenv:Envelope>' % (SOAP_NS, inner))


class Fake:
    def __init__(self, procs, source_dir, script, *extra):
        p = procs.start([sys.executable, os.path.join(source_dir, "tests/fakes", script), *extra],
                        stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline().split()
        assert line and line[0] == "PORT", script + " did not print its port"
        self.url = "http://127.0.0.1:" + line[1]

    def requests(self):
        return http("GET", self.url + "/_requests")[1]

    def control(self, **spec):
        st, _ = http("POST", self.url + "/_control", spec)
        assert st == 200


def config(tmp, hport, redis_port, viettel, fpt, soap):
    return f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{hport}
  clients:
    - {{ name: igate, token: "{TOKEN}" }}
queue:
  backend: redis
  redis: {{ url: "redis://127.0.0.1:{redis_port}/0", prefix: telcos }}
  dedupe_ttl: 1d
templates:
  dir: {tmp}/templates
routes:
  - {{ status: [result_ready, received, rejected], channels: [sms] }}
sms: {{ unicode: auto, max_segments: 3 }}
retry: {{ max_attempts: 2, initial_delay: 100ms, max_delay: 400ms, give_up_after: 1h }}
providers:
  - name: viettel
    channel: sms
    type: viettel
    url: {viettel}/bulkapi
    user: smsbrand_test
    password: "${{file:{tmp}/viettel_password}}"
    cp_code: TESTCP
    service_id: TINBAO
    timeout: 5s
    registered_templates:
      - 'Hồ sơ {{{{ a }}}} của {{{{ b }}}} đã có kết quả va <nhận> tại "{{{{ c }}}}".'
      - "Ho so {{{{ a }}}} da duoc tiep nhan."
  - name: fpt
    channel: sms
    type: fpt
    base_url: {fpt}
    client_id: test-client-id
    client_secret: test-client-secret
    brandname: TINBAO
    callback_token: "{CALLBACK_TOKEN}"
    forbidden_characters: "#"
    timeout: 5s
  - name: soap
    channel: sms
    type: http
    url: {soap}/bulkapi
    content_type: xml
    headers: {{ SOAPAction: '""' }}
    body: '<?xml version="1.0" encoding="UTF-8"?><s:Envelope xmlns:s="{SOAP_NS}"><s:Body><w:wsCpMt xmlns:w="http://impl.bulkSms.ws/"><User>smsbrand_test</User><Password>test-password</Password><CPCode>TESTCP</CPCode><RequestID>7</RequestID><UserID>{{{{ to }}}}</UserID><ReceiverID>{{{{ to }}}}</ReceiverID><ServiceID>TINBAO</ServiceID><CommandCode>bulksms</CommandCode><Content>{{{{ text }}}}</Content><ContentType>{{{{ unicode }}}}</ContentType></w:wsCpMt></s:Body></s:Envelope>'
    success: {{ xml_element: result, equals: "1" }}
    timeout: 5s
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-telcos-")
    procs = Procs()
    try:
        run(args, src, tmp, procs)
    except AssertionError as e:
        check(False, str(e))
    return finish(tmp, procs, ["tinbaod.log", "redis.log"])


def run(args, src, tmp, procs):
    os.makedirs(os.path.join(tmp, "templates"))
    for status, text in TEMPLATES.items():
        with open(os.path.join(tmp, "templates", status + ".yaml"), "w") as f:
            f.write(text)
    with open(os.path.join(tmp, "viettel_password"), "w") as f:
        f.write("test-password\n")
    redis = Redis(procs, tmp)
    redis.start()
    viettel = Fake(procs, src, "fake_viettel.py")
    fpt = Fake(procs, src, "fake_fpt.py")
    soap = Fake(procs, src, "fake_viettel.py")
    hport = free_port()
    base = "http://127.0.0.1:%d" % hport
    cfg = os.path.join(tmp, "tinbao.yaml")
    with open(cfg, "w") as f:
        f.write(config(tmp, hport, redis.port, viettel.url, fpt.url, soap.url))
    daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
    daemon.start(base)

    def post(ev):
        st, body = http("POST", base + "/v1/events", ev, AUTH)
        assert st == 202, "event %s accepted (%s %s)" % (ev["event_id"], st, body)

    def settled(eid):
        def done():
            st, rec = http("GET", base + "/v1/events/" + eid, headers=AUTH)
            if st == 200 and rec.get("state") in ("done", "failed"):
                return rec
            return None
        return wait_for(done, 30, "event " + eid + " settled")["messages"][0]

    def sent_to(fake, pred):
        return [r for r in fake.requests() if pred(r)]

    # --- Viettel: the exact envelope, escaping, '&' replaced, accented -> ContentType 1 ---
    post(event("vt-1", "result_ready", "D-VT-1"))
    m = settled("vt-1")
    text = ('Hồ sơ D-VT-1 của Nguyễn Thị Ánh Tuyết đã có kết quả va <nhận> tại "Quầy số 5".')
    check(m["state"] == "sent" and m["provider"] == "viettel" and m["encoding"] == "ucs2"
          and m["body"] == text,
          "viettel: sent, UCS-2, the record's body is the text with '&' replaced (%s)" % m)
    got = sent_to(viettel, lambda r: r["fields"] and r["fields"]["RequestID"] ==
                  request_id(m["id"]))
    check(len(got) == 1, "viettel: one wsCpMt request for the message")
    if got:
        check(got[0]["raw"] == viettel_envelope(m["id"], "84912345678", text, "1"),
              "viettel: the exact SOAP envelope, values XML-escaped: " + got[0]["raw"])
        check(got[0]["content_type"] == "text/xml; charset=utf-8" and
              got[0]["soap_action"] == '""', "viettel: text/xml and SOAPAction \"\"")

    # Unaccented -> ContentType 0.
    post(event("vt-2", "received", "D-VT-2"))
    m = settled("vt-2")
    got = sent_to(viettel, lambda r: r["fields"] and r["fields"]["RequestID"] ==
                  request_id(m["id"]))
    check(m["state"] == "sent" and m["encoding"] == "gsm7" and len(got) == 1 and
          got[0]["raw"] == viettel_envelope(m["id"], "84912345678",
                                            "Ho so D-VT-2 da duoc tiep nhan.", "0"),
          "viettel: GSM-7 text goes with ContentType 0")

    # Retryable: HTTP 500 once, then sent on the retry.
    viettel.control(fail_next=1, code="http500")
    post(event("vt-3", "received", "D-VT-3"))
    m = settled("vt-3")
    check(m["state"] == "sent" and m["provider"] == "viettel" and m["attempts"] == 2,
          "viettel: HTTP 500 is retried, then sent (%s)" % m)

    # Permanent: a blacklisted word fails the message; no other provider is asked.
    before = len(fpt.requests())
    viettel.control(fail_next=1, message="Check Content: MSG_ERROR_CONTAIN_BLACKLIST")
    post(event("vt-4", "received", "D-VT-4"))
    m = settled("vt-4")
    check(m["state"] == "failed" and m["last_error"]["reason"] == "rejected_content" and
          m["attempts"] == 1, "viettel: a refused content fails permanently (%s)" % m)
    check(len(fpt.requests()) == before, "viettel: no failover after a permanent refusal")

    # Failover: Viettel down for every attempt -> FPT, which sends the text without the
    # Viettel rewriting ('&' stays), Base64.
    viettel.control(fail_next=2, code="fault_server")
    post(event("vt-5", "result_ready", "D-VT-5"))
    m = settled("vt-5")
    original = ('Hồ sơ D-VT-5 của Nguyễn Thị Ánh Tuyết đã có kết quả & <nhận> tại "Quầy số 5".')
    check(m["state"] == "sent" and m["provider"] == "fpt" and m["body"] == original,
          "viettel down (SOAP faults): the next provider, fpt, sends it (%s)" % m)
    got = sent_to(fpt, lambda r: r["path"] == "/api/push-brandname-otp" and
                  r["body"].get("RequestId") == m["id"])
    check(len(got) == 1 and got[0]["body"]["Message"] ==
          base64.b64encode(original.encode()).decode(),
          "fpt: Message is the Base64 of the original text")

    # An account refusal hands the message over at once.
    viettel.control(fail_next=1, message="Authenticate: WRONG_INFORMATION_AUTHENTICATE")
    post(event("vt-6", "received", "D-VT-6"))
    m = settled("vt-6")
    check(m["state"] == "sent" and m["provider"] == "fpt" and m["attempts"] == 2,
          "viettel: auth_failed fails over to fpt at once (%s)" % m)

    # --- FPT: registered_templates send 'rejected' past Viettel; exact JSON; '#' replaced ---
    post(event("fp-1", "rejected", "D-FP-1"))
    m = settled("fp-1")
    text = "Ho so D-FP-1 bi tu choi 1. Lien he Bo phan Mot cua."
    check(m["state"] == "sent" and m["provider"] == "fpt" and m["body"] == text,
          "fpt: a text Viettel's brandname has not registered goes to fpt, '#' replaced (%s)"
          % m)
    check(not sent_to(viettel, lambda r: r["fields"] and
                      "D-FP-1" in r["fields"]["Content"]),
          "viettel: never asked for a text it has not registered")
    got = sent_to(fpt, lambda r: r["path"] == "/api/push-brandname-otp" and
                  r["body"].get("RequestId") == m["id"])
    tokens = [r for r in fpt.requests() if r["path"] == "/oauth2/token"]
    check(len(got) == 1 and len(tokens) == 1, "fpt: one push, and one token for all sends")
    if got and tokens:
        b = got[0]["body"]
        expected = {"access_token": b["access_token"],
                    "session_id": tokens[0]["body"]["session_id"], "BrandName": "TINBAO",
                    "Phone": "84912345678",
                    "Message": base64.b64encode(text.encode()).decode(), "RequestId": m["id"]}
        check(b == expected, "fpt: the exact push-brandname-otp body: %s" % b)
        check(json.loads(got[0]["raw"]) == b and "\\u" not in got[0]["raw"],
              "fpt: plain JSON on the wire")
        t = tokens[0]["body"]
        check(t["grant_type"] == "client_credentials" and t["client_id"] == "test-client-id" and
              t["client_secret"] == "test-client-secret" and t["scope"] == "send_brandname_otp",
              "fpt: the client-credentials token request")
    fpt_message, fpt_provider_id = m["id"], m["provider_message_id"]

    # Retryable, then sent.
    fpt.control(fail_next=1, code="http500")
    post(event("fp-2", "rejected", "D-FP-2"))
    m = settled("fp-2")
    check(m["state"] == "sent" and m["provider"] == "fpt" and m["attempts"] == 2,
          "fpt: HTTP 500 is retried, then sent (%s)" % m)
    # Permanent.
    fpt.control(fail_next=1, code="2519")
    post(event("fp-3", "rejected", "D-FP-3"))
    m = settled("fp-3")
    check(m["state"] == "failed" and m["last_error"]["reason"] == "rejected_content",
          "fpt: error 2519 (forbidden keyword) fails permanently (%s)" % m)
    # A token FPT stops accepting is renewed once within the send.
    fpt.control(expire_tokens=True)
    post(event("fp-4", "rejected", "D-FP-4"))
    m = settled("fp-4")
    check(m["state"] == "sent" and m["attempts"] == 1 and
          http("GET", fpt.url + "/_stats")[1]["tokens_issued"] == 2,
          "fpt: an expired token is refreshed and the message sent in one attempt (%s)" % m)
    # Failover to the generic XML adapter.
    fpt.control(fail_next=2, code="http500")
    post(event("fp-5", "rejected", "D-FP-5"))
    m = settled("fp-5")
    check(m["state"] == "sent" and m["provider"] == "soap",
          "fpt down: the next provider, the http adapter in XML mode, sends it (%s)" % m)
    got = soap.requests()
    check(len(got) == 1 and got[0]["fields"]["Content"] == m["body"] and
          got[0]["fields"]["ContentType"] == "0" and
          got[0]["fields"]["ReceiverID"] == "84912345678",
          "http xml: the SOAP fake read the values back")

    # --- FPT delivery reports, after a restart: matched through the state store ---
    assert daemon.stop() == 0
    daemon.start(base)
    st, _ = http("POST", base + "/v1/callbacks/fpt?token=wrong-token-0123456789",
                 {"smsid": fpt_provider_id, "Status": 1})
    check(st == 403, "fpt report with a wrong token: 403")
    st, _ = http("POST", base + "/v1/callbacks/fpt?token=" + CALLBACK_TOKEN,
                 {"smsid": fpt_provider_id, "Status": 2, "Telco": "viettel"})
    check(st == 200, "fpt pending report: 200")
    st, _ = http("POST", base + "/v1/callbacks/fpt?token=" + CALLBACK_TOKEN,
                 {"smsid": fpt_provider_id, "Status": 1, "Telco": "viettel", "Error": "0",
                  "mt_count": 1})
    check(st == 200, "fpt delivered report: 200")
    try:
        wait_for(lambda: http("GET", base + "/v1/messages/" + fpt_message,
                              headers=AUTH)[1].get("state") == "delivered", 15,
                 "message delivered")
        check(True, "fpt: the report found its message after a restart: delivered")
    except AssertionError as e:
        check(False, str(e))
    # A send after the restart uses the token kept in Redis.
    post(event("fp-6", "rejected", "D-FP-6"))
    check(settled("fp-6")["state"] == "sent", "fpt: sent after the restart")
    check(http("GET", fpt.url + "/_stats")[1]["tokens_issued"] == 2,
          "fpt: the token survived the restart (kept in Redis)")

    # --- The preview shows each provider's own text ---
    st, pv = http("POST", base + "/v1/render", event("pv-1", "result_ready", "D-PV-1"), AUTH)
    sms = pv["messages"][0] if st == 200 else {}
    provs = {p["provider"]: p for p in sms.get("providers", [])}
    check(st == 200 and "&" in sms.get("text", "") and
          provs.get("viettel", {}).get("text", "").count(" va ") == 1 and
          "text" not in provs.get("fpt", {"text": 1}),
          "preview: viettel's text has 'va', fpt sends the text as it is (%s)" % sms)
    st, pv = http("POST", base + "/v1/render", event("pv-2", "rejected", "D-PV-2"), AUTH)
    provs = {p["provider"]: p for p in pv["messages"][0].get("providers", [])} if st == 200 \
        else {}
    check(provs.get("viettel", {}).get("error", {}).get("reason") == "template_not_registered"
          and "#" not in provs.get("fpt", {}).get("text", "#"),
          "preview: viettel passes the text over, fpt replaces '#' (%s)" % provs)

    # --- tinbaod --check names each bad key with its file and line ---
    bad = os.path.join(tmp, "bad.yaml")
    with open(cfg) as f:
        text = f.read()
    text = text.replace("    service_id: TINBAO\n", "    request_id: uuid\n")
    text = text.replace("    client_secret: test-client-secret\n", "")
    text = text.replace("success: { xml_element: result, equals: \"1\" }",
                        "success: { xml_element: result }")
    with open(bad, "w") as f:
        f.write(text)
    out = subprocess.run([args.tinbaod, "--config", bad, "--check"], capture_output=True,
                         text=True, timeout=60)
    both = out.stdout + out.stderr
    for what in (r"bad\.yaml:\d+: providers\[0\]\.service_id",
                 r"bad\.yaml:\d+: providers\[0\]\.request_id: must be numeric or message_id",
                 r"bad\.yaml:\d+: providers\[1\]\.client_secret",
                 r"bad\.yaml:\d+: providers\[2\]\.success\.equals"):
        check(out.returncode == 1 and re.search(what, both) is not None,
              "--check: " + what.replace("\\", ""))
    if out.returncode != 1:
        print(both)


if __name__ == "__main__":
    sys.exit(main())
