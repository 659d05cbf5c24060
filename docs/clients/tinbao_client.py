#!/usr/bin/env python3
"""tinbao from Python, standard library only: posts a signed dossier event, reads its status, and
verifies a call-back's signature (docs/api.md "Authentication", docs/openapi.yaml "webhooks").

    TINBAO_URL=http://127.0.0.1:8080 TINBAO_TOKEN=... TINBAO_HMAC_SECRET=... python3 tinbao_client.py

TINBAO_HMAC_SECRET is the client's `hmac_secret` (leave it unset for a client without one).
EVENT_ID overrides the event id (default: example-py-<unix time>).
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request


class Tinbao:
    def __init__(self, url, token, hmac_secret=None, timeout=10):
        self.url, self.token, self.secret, self.timeout = url.rstrip("/"), token, hmac_secret, timeout

    def request(self, method, path, document=None):
        """(status, parsed JSON body). Signed with version 2 when the client has a secret."""
        body = b"" if document is None else json.dumps(document, ensure_ascii=False).encode()
        headers = {"Authorization": "Bearer " + self.token}
        if document is not None:
            headers["Content-Type"] = "application/json"
        if self.secret:
            ts, nonce = str(int(time.time())), secrets.token_hex(16)
            text = "\n".join(["v2", method, path, ts, nonce, hashlib.sha256(body).hexdigest()])
            mac = hmac.new(self.secret.encode(), text.encode(), hashlib.sha256).hexdigest()
            headers.update({"X-Tinbao-Timestamp": ts, "X-Tinbao-Nonce": nonce,
                            "X-Tinbao-Signature": "v2=" + mac})
        req = urllib.request.Request(self.url + path, data=body if document is not None else None,
                                     method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def verify_callback(secret, webhook_id, timestamp, body, signature_header, now=None,
                    tolerance=300):
    """True when the call-back is genuine: one of the space-separated "v1,<base64>" signatures
    (two during a secret rotation) is HMAC-SHA256, keyed with the base64-decoded part of the
    secret after "whsec_", of "<webhook-id>.<webhook-timestamp>.<raw body>", and the timestamp
    is within `tolerance` seconds of `now`. `body` is the raw bytes as received."""
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance:
        return False
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = webhook_id.encode() + b"." + timestamp.encode() + b"." + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(sig.startswith("v1,") and hmac.compare_digest(sig[3:], expected)
               for sig in signature_header.split())


SAMPLE = {
    "secret": "whsec_dGluYmFvLXNhbXBsZS1rZXktZm9yLWRvY3MtMDEyMyE=",
    "webhook-id": "msg_2f6c1b0e9a7d4c3e",
    "webhook-timestamp": "1795749402",
    "body": b'{"kind":"message.delivered","event_id":"igate-2026-000123-result_ready",'
            b'"dossier_code":"000.00.12.H62-261120-0007","message_id":"mq3b2d6lkcx5yb4ffo2xqjq7aa",'
            b'"channel":"sms","state":"delivered","sequence":2}',
    "webhook-signature": "v1,bm90IHRoZSBvbGQgc2VjcmV0J3Mgc2lnbmF0dXJlIQ== "
                         "v1,ey/5pfkmleHgJV1W3QyFz7vjwv1jHNI+jZ/+iwNj3p8=",
}


def main():
    api = Tinbao(os.environ.get("TINBAO_URL", "http://127.0.0.1:8080"), os.environ["TINBAO_TOKEN"],
                 os.environ.get("TINBAO_HMAC_SECRET") or None)
    event_id = os.environ.get("EVENT_ID") or "example-py-%d" % time.time()
    event = {
        "event_id": event_id,
        "dossier": {"code": "000.00.12.H62-261120-0007", "status": "received",
                    "appointment_at": "2026-11-30T14:00:00+07:00"},
        "applicant": {"name": "Nguyễn Văn An", "phone": "0912345678"},
    }
    status, answer = api.request("POST", "/v1/events", event)
    print("POST /v1/events: %d %s" % (status, json.dumps(answer)))
    if status not in (200, 202):
        return 1
    status, record = api.request("GET", "/v1/events/" + event_id)
    print("GET /v1/events/%s: %d state=%s" % (event_id, status, (record or {}).get("state")))
    if status != 200:
        return 1

    s = SAMPLE
    # Or a call-back that tinbaod sent, given in the environment (README.md).
    if os.environ.get("CALLBACK_BODY"):
        s = {"secret": os.environ["CALLBACK_SECRET"], "webhook-id": os.environ["CALLBACK_ID"],
             "webhook-timestamp": os.environ["CALLBACK_TIMESTAMP"],
             "body": os.environ["CALLBACK_BODY"].encode(),
             "webhook-signature": os.environ["CALLBACK_SIGNATURE"]}
    ts = int(s["webhook-timestamp"])
    good = verify_callback(s["secret"], s["webhook-id"], s["webhook-timestamp"], s["body"],
                           s["webhook-signature"], now=ts)
    bad = verify_callback(s["secret"], s["webhook-id"], s["webhook-timestamp"],
                          s["body"] + b" ", s["webhook-signature"], now=ts)
    print("sample call-back: %s; altered body: %s" %
          ("valid" if good else "invalid", "valid" if bad else "invalid"))
    return 0 if good and not bad else 1


if __name__ == "__main__":
    sys.exit(main())
