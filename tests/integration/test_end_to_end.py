#!/usr/bin/env python3
"""End-to-end test: tinbaod with a real redis-server and a fake eSMS, all on 127.0.0.1.

Posts Vietnamese dossier events over HTTP and through the Redis stream, then checks the exact
SMS the fake eSMS received, the HTTP answers, and the records. Bad input must get its 4xx and
create nothing. Everything runs on free ports chosen at run time; every wait polls a condition
with a deadline.
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Procs, check, failures, free_port, http, wait_for  # noqa: E402
import prometheus  # noqa: E402

TOKEN = "integration-test-token-0123456789abcdef"
HMAC_TOKEN = "integration-signed-client-token-000000"
HMAC_SECRET = "s3cret-for-signing"
API_KEY = "esms-test-key"
SECRET_KEY = "esms-test-secret"

def event(event_id, status="DA_CO_KET_QUA", phone="0912 345 678", name=None, code=None):
    return {
        "event_id": event_id,
        "occurred_at": "2026-11-27T08:15:00+07:00",
        "dossier": {
            "code": code or "000.00.12.H62-261120-0007",
            "status": status,
            "procedure": {"code": "1.001612",
                          "name": "Cấp Phiếu lý lịch tư pháp cho công dân Việt Nam"},
            "agency": {"code": "000.00.12.H62", "name": "Sở Tư pháp tỉnh Vĩnh Long"},
            "appointment_at": "2026-11-30T14:00:00+07:00",
            "fee": 200000,
        },
        "applicant": {"name": name or "Nguyễn Thị Ánh Tuyết", "phone": phone,
                      "email": None, "zalo_user_id": None},
        "data": {"counter": "Quầy số 5"},
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--backend", default="redis", choices=["redis", "sqlite"])
    args = ap.parse_args()
    args.source_dir = os.path.abspath(args.source_dir)
    redis_server = shutil.which("redis-server")
    redis_cli = shutil.which("redis-cli")
    if not redis_server or not redis_cli:
        print("redis-server and redis-cli are needed (scripts/install-deps.sh installs them)")
        return 1

    tmp = tempfile.mkdtemp(prefix="tinbao-e2e-")
    procs = Procs()
    try:
        # --- redis-server, AOF on, in the temp dir ---
        rport = free_port()
        procs.start([redis_server, "--port", str(rport), "--bind", "127.0.0.1", "--dir", tmp,
                     "--appendonly", "yes", "--save", "", "--daemonize", "no"],
                    stdout=open(os.path.join(tmp, "redis.log"), "w"), stderr=subprocess.STDOUT)

        def rcli(*a):
            return subprocess.run([redis_cli, "-p", str(rport), *a], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        wait_for(lambda: rcli("PING") == "PONG", 10, "redis-server")

        # --- fake eSMS ---
        fake = procs.start([sys.executable,
                            os.path.join(args.source_dir, "tests/fakes/fake_esms.py"),
                            "--api-key", API_KEY, "--secret-key", SECRET_KEY],
                           stdout=subprocess.PIPE, text=True)
        line = fake.stdout.readline().split()
        assert line and line[0] == "PORT", "fake eSMS did not print its port"
        esms = "http://127.0.0.1:" + line[1]

        # --- tinbaod ---
        hport = free_port()
        base = "http://127.0.0.1:%d" % hport
        templates = os.path.join(args.source_dir, "tests/integration/fixtures/templates")
        queue_backend = ("backend: redis\n  redis: { url: \"redis://127.0.0.1:%d/0\", prefix: e2e }"
                         % rport if args.backend == "redis" else "backend: sqlite")
        cfg_path = os.path.join(tmp, "tinbao.yaml")
        with open(cfg_path, "w") as f:
            f.write(f"""
state_dir: {tmp}/state
shutdown_grace: 5s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{hport}
  max_body_bytes: 8192
  clients:
    - {{ name: igate, token: "{TOKEN}" }}
    - {{ name: signed, token: "{HMAC_TOKEN}", hmac_secret: "${{TINBAO_TEST_HMAC}}" }}
queue:
  {queue_backend}
  dedupe_ttl: 1d
templates:
  dir: {templates}
statuses:
  aliases: {{ "DA_CO_KET_QUA": result_ready, "2": received }}
routes:
  - {{ status: [result_ready, received, rejected, overdue], channels: [sms] }}
sms: {{ unicode: auto, max_segments: 3 }}
retry: {{ max_attempts: 3, initial_delay: 100ms, max_delay: 1s, give_up_after: 1h }}
providers:
  - name: esms
    channel: sms
    type: esms
    base_url: {esms}
    api_key: "{API_KEY}"
    secret_key: "${{file:esms_secret}}"
    brandname: UBND-VLONG
    forbidden_characters: "&#"
    registered_templates:
      - "Ho so {{{{ma}}}} cua Ong/Ba {{{{ten}}}} da co ket qua. Moi den {{{{noi}}}} nhan ket qua."
      - "Hồ sơ {{{{ma}}}} của Ông/Bà {{{{ten}}}} đã được tiếp nhận."
      - "Ho so {{{{ma}}}} bi tu choi tra lai. Lien he {{{{noi}}}}."
    rate_per_second: 100
    max_in_flight: 10
    timeout: 5s
""")
        with open(os.path.join(tmp, "esms_secret"), "w") as f:
            f.write(SECRET_KEY + "\n")
        env = dict(os.environ, TINBAO_TEST_HMAC=HMAC_SECRET)

        chk = subprocess.run([args.tinbaod, "--config", cfg_path, "--check"], env=env,
                             capture_output=True, text=True, timeout=60)
        check(chk.returncode == 0, "tinbaod --check is clean on the test config: " +
              chk.stdout[-500:])

        log = open(os.path.join(tmp, "tinbaod.log"), "w")
        # A low open files limit (256, enough for this test) is reported at startup.
        def low_open_files():
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (256, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
        daemon = procs.start([args.tinbaod, "--config", cfg_path], env=env, stdout=log,
                             preexec_fn=low_open_files,
                             stderr=subprocess.STDOUT)
        wait_for(lambda: http("GET", base + "/readyz")[0] == 200, 20, "tinbaod /readyz")
        auth = {"Authorization": "Bearer " + TOKEN}
        with open(os.path.join(tmp, "tinbaod.log")) as f:
            check("the open files limit is 256" in f.read(),
                  "a too low open files limit is reported at startup")

        def requests():
            return http("GET", esms + "/_requests")[1]

        # --- a Vietnamese event, its name typed decomposed (NFD) ---
        ev = event("igate-e2e-1", name=unicodedata.normalize("NFD", "Nguyễn Thị Ánh Tuyết"))
        st, body = http("POST", base + "/v1/events", ev, auth)
        check(st == 202 and body == {"event_id": "igate-e2e-1", "state": "accepted"},
              "POST /v1/events -> 202 accepted (%s %s)" % (st, body))
        st, body = http("POST", base + "/v1/events", ev, auth)
        check(st == 200 and body.get("state") == "duplicate", "same event_id -> 200 duplicate")

        rec = wait_for(lambda: (lambda r: r if r[0] == 200 and r[1].get("state") == "done"
                                else None)(http("GET", base + "/v1/events/igate-e2e-1",
                                                headers=auth)), 20, "event done")[1]
        check(rec["dossier_code"] == "000.00.12.H62-261120-0007" and
              rec["status"] == "result_ready", "event record: dossier code and canonical status")
        check(len(rec["messages"]) == 1, "one message for one sms route")
        msg = rec["messages"][0]
        expected = ("Ho so 000.00.12.H62-261120-0007 cua Ong/Ba Nguyen Thi Anh Tuyet da co ket "
                    "qua. Moi den Quay so 5 nhan ket qua.")
        check(msg["state"] == "sent" and msg["provider"] == "esms" and msg["to"] == "84912345678"
              and msg["encoding"] == "gsm7" and msg["segments"] == 1 and msg["body"] == expected,
              "message record: sent via esms to 84912345678, gsm7, 1 segment, body as sent")
        sent = [r for r in requests() if r["body"].get("RequestId") == msg["id"]]
        check(len(sent) == 1, "the fake eSMS got exactly one request for the message")
        if sent:
            b = sent[0]["body"]
            check(b["Content"] == expected, "exact SMS text at the fake: " + repr(b["Content"]))
            check(b["ApiKey"] == API_KEY and b["SecretKey"] == SECRET_KEY and
                  b["Brandname"] == "UBND-VLONG" and b["SmsType"] == "2" and
                  b["IsUnicode"] == "0" and b["Phone"] in ("84912345678", "0912345678"),
                  "eSMS wire fields: keys, brandname, SmsType 2, IsUnicode 0, phone")
        st, m = http("GET", base + "/v1/messages/" + msg["id"], headers=auth)
        check(st == 200 and m["id"] == msg["id"], "GET /v1/messages/{id}")
        st, d = http("GET", base + "/v1/dossiers/000.00.12.H62-261120-0007/messages",
                     headers=auth)
        check(st == 200 and [x["id"] for x in d["messages"]] == [msg["id"]],
              "GET /v1/dossiers/{code}/messages")

        # --- UCS-2: diacritics kept, status given as an alias ---
        ev2 = event("igate-e2e-2", status="2", code="000.00.12.H62-261120-0008")
        st, _ = http("POST", base + "/v1/events", ev2, auth)
        check(st == 202, "second event accepted")
        rec2 = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("state") == "done"
                                 else None)(http("GET", base + "/v1/events/igate-e2e-2",
                                                 headers=auth)), 20, "event 2 done")
        m2 = rec2["messages"][0]
        exp2 = "Hồ sơ 000.00.12.H62-261120-0008 của Ông/Bà Nguyễn Thị Ánh Tuyết đã được tiếp nhận."
        got2 = [r["body"] for r in requests() if r["body"].get("RequestId") == m2["id"]]
        check(m2["encoding"] == "ucs2" and got2 and got2[0]["Content"] == exp2 and
              got2[0]["IsUnicode"] == "1", "UCS-2 message: exact Vietnamese text, IsUnicode 1")

        if args.backend == "redis":
            # --- an event added straight to the stream ---
            ev3 = event("stream-e2e-3", code="000.00.12.H62-261120-0009")
            rcli("XADD", "e2e:events", "*", "event", json.dumps(ev3, ensure_ascii=False))
            rec3 = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("state") == "done"
                                     else None)(http("GET", base + "/v1/events/stream-e2e-3",
                                                     headers=auth)), 20, "stream event done")
            check(rec3["messages"][0]["state"] == "sent", "an event added with XADD is delivered")
            # the same event again through HTTP and the stream: no second notification
            st, body = http("POST", base + "/v1/events", ev3, auth)
            check(st == 200 and body.get("state") == "duplicate", "HTTP copy of a stream event -> duplicate")
            rcli("XADD", "e2e:events", "*", "event", json.dumps(ev3))
            # an invalid stream entry is moved aside, never dropped
            rcli("XADD", "e2e:events", "*", "event", "{not json")
            wait_for(lambda: rcli("XLEN", "e2e:events:invalid") == "1", 20, "invalid entry moved")
            wait_for(lambda: rcli("XPENDING", "e2e:events", "tinbao").startswith("0"), 20,
                     "every stream entry acknowledged")
            n3 = [r for r in requests() if r["body"].get("Content", "").find("261120-0009") >= 0]
            check(len(n3) == 1, "the stream event was sent once, whatever the copies")

        # --- invalid phone: the message fails with invalid_phone, nothing sent ---
        before = len(requests())
        st, _ = http("POST", base + "/v1/events", event("igate-e2e-4", phone="024 3825 1234",
                                                         code="X-4"), auth)
        rec4 = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("state") == "failed"
                                 else None)(http("GET", base + "/v1/events/igate-e2e-4",
                                                 headers=auth)), 20, "event 4 failed")
        check(rec4["messages"][0]["last_error"]["reason"] == "invalid_phone" and
              len(requests()) == before, "a landline fails with invalid_phone; nothing sent")

        # --- gateway rules: forbidden characters replaced, unregistered wording refused ---
        st, _ = http("POST", base + "/v1/events", event("rules-1", status="rejected", code="R-1"),
                     auth)
        rec = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("state") == "done"
                                else None)(http("GET", base + "/v1/events/rules-1", headers=auth)),
                       20, "rules-1 done")
        got = [r["body"]["Content"] for r in requests()
               if r["body"].get("RequestId") == rec["messages"][0]["id"]]
        check(got == ["Ho so R-1 bi tu choi tra lai. Lien he Quay so 5."],
              "'&' (forbidden by the provider) is replaced before sending: %s" % got)
        before = len(requests())
        st, _ = http("POST", base + "/v1/events", event("rules-2", status="overdue", code="R-2"),
                     auth)
        rec = wait_for(lambda: (lambda r: r[1] if r[0] == 200 and r[1].get("state") == "failed"
                                else None)(http("GET", base + "/v1/events/rules-2", headers=auth)),
                       20, "rules-2 failed")
        check(rec["messages"][0]["last_error"]["reason"] == "template_not_registered" and
              len(requests()) == before,
              "wording not registered for the brandname -> template_not_registered, nothing sent")

        # --- bad input gets its 4xx and creates nothing ---
        xlen = rcli("XLEN", "e2e:events") if args.backend == "redis" else None
        cases = [
            ("no token", {}, json.dumps(event("bad-1")).encode(), 401),
            ("wrong token", {"Authorization": "Bearer nope-nope-nope-nope"},
             json.dumps(event("bad-2")).encode(), 401),
            ("invalid JSON", auth, b"{\"event_id\": ", 400),
            ("invalid UTF-8", auth, json.dumps(event("bad-3")).encode().replace(
                b"Nguy", b"Nguy\xff"), 400),
            ("missing dossier.code", auth, json.dumps(
                {k: v for k, v in event("bad-4").items()} | {"dossier": {"status": "result_ready"}}
            ).encode(), 400),
            ("oversize body", auth, json.dumps(event("bad-5") | {"data": {"x": "a" * 9000}})
             .encode(), 413),
            ("unsigned request of a signed client", {"Authorization": "Bearer " + HMAC_TOKEN},
             json.dumps(event("bad-6")).encode(), 401),
        ]
        for what, hdrs, raw, code in cases:
            st, body = http("POST", base + "/v1/events", headers=hdrs, raw=raw)
            ok = st == code and isinstance(body, dict) and "error" in body
            check(ok, "%s -> %d (%s %s)" % (what, code, st, body))
        st, body = http("POST", base + "/v1/events", headers=auth, raw=json.dumps(
            {k: v for k, v in event("bad-7").items()} | {"dossier": {"status": "result_ready"}}
        ).encode())
        check(body.get("error", {}).get("field") == "dossier.code", "the error names the field")
        if args.backend == "redis":
            check(rcli("XLEN", "e2e:events") == xlen, "no bad request reached the stream")
        for i in range(1, 8):
            st, _ = http("GET", base + "/v1/events/bad-%d" % i, headers=auth)
            if st != 404:
                check(False, "bad-%d left a record" % i)

        # --- a signed client ---
        raw = json.dumps(event("signed-1", code="S-1")).encode()
        ts = str(int(time.time()))
        sig = hmac.new(HMAC_SECRET.encode(), ts.encode() + b"." + raw, hashlib.sha256).hexdigest()
        st, body = http("POST", base + "/v1/events", raw=raw, headers={
            "Authorization": "Bearer " + HMAC_TOKEN, "X-Tinbao-Timestamp": ts,
            "X-Tinbao-Signature": "sha256=" + sig})
        check(st == 202, "a correctly signed request -> 202 (%s %s)" % (st, body))

        # --- tinbaoctl ---
        ctl = subprocess.run([args.tinbaoctl, "--config", cfg_path, "status", "igate-e2e-1"],
                             env=env, capture_output=True, text=True, timeout=30)
        check(ctl.returncode == 0 and '"state": "done"' in ctl.stdout, "tinbaoctl status")
        evf = os.path.join(tmp, "ev.json")
        with open(evf, "w") as f:
            json.dump(event("render-1"), f)
        ctl = subprocess.run([args.tinbaoctl, "--config", cfg_path, "render", evf], env=env,
                             capture_output=True, text=True, timeout=30)
        check(ctl.returncode == 0 and expected.replace("0007", "0007") in ctl.stdout and
              '"segments": 1' in ctl.stdout, "tinbaoctl render shows text and segments")

        # --- tinbaoctl send-test: one real send with the provider's raw answer ---
        before = len(requests())
        ctl = subprocess.run([args.tinbaoctl, "--config", cfg_path, "send-test", "--provider",
                              "esms", "--to", "0912 345 678", "--text", "Thu nghiem tinbao"],
                             env=env, capture_output=True, text=True, timeout=60)
        sent = requests()[before:]
        check(ctl.returncode == 0 and '"ok": true' in ctl.stdout and "CodeResult" in ctl.stdout
              and len(sent) == 1 and sent[0]["body"]["Content"] == "Thu nghiem tinbao" and
              "0912345678" not in ctl.stdout,
              "tinbaoctl send-test sends once and prints the raw answer, number masked")

        # --- metrics: labelled counters, histograms, no personal data ---
        st, metrics = http("GET", base + "/metrics")
        try:
            families, problem = prometheus.parse(metrics), ""
        except prometheus.ExpositionError as e:
            families, problem = {}, str(e)
        check(st == 200 and not problem,
              "/metrics parses strictly: each family declared once, every sample in a declared "
              "family " + problem)

        def series(family, sample=None, **labels):
            return prometheus.matching(families, family, sample, **labels)
        check(series("tinbao_messages_total", channel="sms", provider="esms", outcome="sent") and
              series("tinbao_sms_segments_total", encoding="ucs2") == [2] and
              series("tinbao_end_to_end_seconds", "tinbao_end_to_end_seconds_bucket",
                     channel="sms", le="+Inf") and
              series("tinbao_provider_request_seconds", "tinbao_provider_request_seconds_count",
                     provider="esms") and
              series("tinbao_messages_total", reason="invalid_phone"),
              "/metrics: messages by channel/provider/outcome/reason, segments by encoding, "
              "latency histograms")
        check("912345678" not in metrics and "Tuy" not in metrics,
              "/metrics carries no phone number or name")

        # --- SIGHUP: a bad config is refused and the running one stays; a good one is taken ---
        good = open(cfg_path).read()
        log.flush()

        def log_text():
            with open(os.path.join(tmp, "tinbaod.log")) as f:
                return f.read()
        with open(cfg_path, "w") as f:
            f.write(good.replace("max_attempts: 3", "max_attemps: 3"))
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload refused" in log_text(), 20, "the bad reload refused")
        check("max_attemps" in log_text(), "the refused reload names the bad key")
        st, _ = http("POST", base + "/v1/events", event("after-bad-reload", code="R-1"), auth)
        check(st == 202, "still serving after a refused reload")
        with open(cfg_path, "w") as f:
            f.write(good)
        daemon.send_signal(signal.SIGHUP)
        wait_for(lambda: "reloaded:" in log_text(), 20, "the good reload")

        # --- graceful stop, with a reload still loading ---
        daemon.send_signal(signal.SIGHUP)
        daemon.send_signal(signal.SIGTERM)
        rc = daemon.wait(timeout=20)
        check(rc == 0, "SIGHUP then SIGTERM at once -> exit 0")
        log.close()
        with open(os.path.join(tmp, "tinbaod.log")) as f:
            text = f.read()
        check("0912345678" not in text and "84912345678" not in text and SECRET_KEY not in text
              and TOKEN not in text, "no full phone number, secret or token in the log")
        check(re.search(r"event \S+ dossier \S+ message \S+ \(sms to [0-9]+\*+[0-9]+\): sent via",
                        text) is not None,
              "a sent message's log line names event, dossier, message and the masked number")
    except AssertionError as e:
        failures.append(str(e))
        print("FAIL " + str(e))
    finally:
        procs.stop_all()
        if failures:
            for name in ("tinbaod.log", "redis.log"):
                p = os.path.join(tmp, name)
                if os.path.exists(p):
                    print("---- " + name)
                    print(open(p).read()[-4000:])
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
