#!/usr/bin/env python3
"""The vnpt adapter end to end: tinbaod (SQLite queue) sends through tests/fakes/fake_vnpt.py, with
a fake eSMS as the channel's next provider.

  1. A Vietnamese notice: the exact bytes the fake receives (envelope, template id, numbered
     parameters, DATACODING 8 for UCS-2), the record's body the text the registered wording makes.
  2. A retryable error (an ERROR the config maps to quota_exceeded): sent again, the same bytes.
  3. A permanent error (an ERROR mapped to rejected_content): failed, not handed on.
  4. A status without a VNPT template: the next provider (eSMS) sends it.
  5. VNPT down (HTTP 500 on each attempt): failover to eSMS.
Also: tinbaod --check notes the status without a template; tinbaoctl render shows the VNPT form.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, FakeEsms, Procs, check, finish, free_port, http, wait_for  # noqa

TOKEN = "vnpt-test-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + TOKEN}
API_USER, API_PASS = "ubnd-api", "vnpt-secret-pass"


def config(tmp, templates, hport, vnpt_url, esms_url):
    return f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{hport}
  clients:
    - {{ name: igate, token: "{TOKEN}" }}
queue: {{ backend: sqlite, dedupe_ttl: 1d }}
templates:
  dir: {templates}
routes:
  - {{ status: [result_ready, received], channels: [sms] }}
sms: {{ unicode: auto, max_segments: 3 }}
retry: {{ max_attempts: 2, initial_delay: 100ms, max_delay: 200ms, give_up_after: 1h }}
providers:
  - name: vnpt
    channel: sms
    type: vnpt
    url: {vnpt_url}/smsbn/api
    api_user: {API_USER}
    api_pass: "${{file:vnpt_pass}}"
    username: ubnd-vlong
    agent_id: 191
    label_id: 12911
    contract_type_id: 1
    contract_id: 19741
    is_telco_sub: 0
    error_reasons: {{ "7": quota_exceeded, "5": rejected_content }}
    templates:
      result_ready:
        id: 3101
        params: ["{{{{ dossier.code }}}}", "{{{{ applicant.name }}}}"]
        text: "Hồ sơ {{1}} của ông/bà {{2}} đã có kết quả."
    timeout: 5s
  - name: esms
    channel: sms
    type: esms
    base_url: {esms_url}
    api_key: k
    secret_key: s
    brandname: UBND-VLONG
"""


def event(eid, code, status="result_ready"):
    return {"event_id": eid, "dossier": {"code": code, "status": status},
            "applicant": {"name": "Nguyễn Thị Ánh Tuyết", "phone": "0912345678"}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    templates = os.path.join(src, "tests/integration/fixtures/templates")
    tmp = tempfile.mkdtemp(prefix="tinbao-vnpt-")
    os.makedirs(os.path.join(tmp, "state"))
    procs = Procs()
    try:
        p = procs.start([sys.executable, os.path.join(src, "tests/fakes/fake_vnpt.py"),
                         "--api-user", API_USER, "--api-pass", API_PASS, "--templates", "3101:2"],
                        stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline().split()
        assert line and line[0] == "PORT", "fake VNPT did not print its port"
        vnpt = "http://127.0.0.1:" + line[1]
        esms = FakeEsms(procs, src, "k", "s")
        hport = free_port()
        base = "http://127.0.0.1:%d" % hport
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(config(tmp, templates, hport, vnpt, esms.url))
        with open(os.path.join(tmp, "vnpt_pass"), "w") as f:
            f.write(API_PASS + "\n")

        chk = subprocess.run([args.tinbaod, "--config", cfg, "--check"], capture_output=True,
                             text=True, timeout=60)
        check(chk.returncode == 0, "tinbaod --check passes: " + chk.stdout[-800:])
        check("note: provider vnpt has no template for status received" in chk.stdout,
              "tinbaod --check lists the status vnpt has no template for")

        # A parameter naming a value the event does not have is found by --check.
        bad = os.path.join(tmp, "bad.yaml")
        with open(cfg) as f, open(bad, "w") as g:
            g.write(f.read().replace("applicant.name }}", "applicant.nmae }}"))
        chk = subprocess.run([args.tinbaod, "--config", bad, "--check"], capture_output=True,
                             text=True, timeout=60)
        check(chk.returncode != 0 and "'applicant.nmae' is not a field of the event" in chk.stdout
              and bad + ":" in chk.stdout,
              "tinbaod --check finds a VNPT parameter's unknown value, at its line: " +
              chk.stdout[-400:])

        # tinbaoctl render: the VNPT form and the text it produces.
        ev_file = os.path.join(tmp, "ev.json")
        with open(ev_file, "w") as f:
            json.dump(event("render-1", "H12.34-261127-0001"), f, ensure_ascii=False)
        out = subprocess.run([args.tinbaoctl, "--config", cfg, "render", ev_file],
                             capture_output=True, text=True, timeout=60)
        try:
            forms = json.loads(out.stdout)["messages"][0]["provider_templates"]
        except (ValueError, KeyError, IndexError):
            forms = []
        check(forms == [{"provider": "vnpt", "template_id": "3101",
                         "params": ["H12.34-261127-0001", "Nguyễn Thị Ánh Tuyết"],
                         "encoding": "ucs2",
                         "text": "Hồ sơ H12.34-261127-0001 của ông/bà Nguyễn Thị Ánh Tuyết đã "
                                 "có kết quả."}],
              "tinbaoctl render shows the VNPT parameters and their text: " + out.stdout[-600:])

        daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
        daemon.start(base)

        def vnpt_requests():
            return http("GET", vnpt + "/_requests")[1]

        def done(eid):
            # Settled: done (a message sent) or failed (none).
            return wait_for(lambda: (lambda r: r[1] if r[0] == 200 and
                                     r[1].get("state") in ("done", "failed") else None)(
                                         http("GET", base + "/v1/events/" + eid, headers=AUTH)),
                            20, "event %s settled" % eid)

        # 1. A Vietnamese notice: the exact bytes.
        st, _ = http("POST", base + "/v1/events", event("vn-1", "H12.34-261127-0001"), AUTH)
        check(st == 202, "event vn-1 accepted")
        msg = done("vn-1")["messages"][0]
        check(msg["state"] == "sent" and msg["provider"] == "vnpt",
              "vn-1 sent via vnpt: %s" % msg)
        check(msg["body"] == "Hồ sơ H12.34-261127-0001 của ông/bà Nguyễn Thị Ánh Tuyết đã có "
                             "kết quả." and msg["encoding"] == "ucs2" and msg["segments"] == 2,
              "the record's body is the text VNPT's wording makes, UCS-2, 2 segments")
        reqs = vnpt_requests()
        expected = ('{"RQST":{"name":"send_sms_list","REQID":"%s","LABELID":"12911",'
                    '"CONTRACTTYPEID":"1","CONTRACTID":"19741","TEMPLATEID":"3101","PARAMS":['
                    '{"NUM":"1","CONTENT":"H12.34-261127-0001"},'
                    '{"NUM":"2","CONTENT":"Nguyễn Thị Ánh Tuyết"}],"SCHEDULETIME":"",'
                    '"MOBILELIST":"84912345678","ISTELCOSUB":"0","AGENTID":"191",'
                    '"APIUSER":"%s","APIPASS":"%s","USERNAME":"ubnd-vlong","DATACODING":"8"}}'
                    % (msg["id"], API_USER, API_PASS))
        check(len(reqs) == 1 and reqs[0]["raw"] == expected and reqs[0]["path"] == "/smsbn/api"
              and reqs[0]["content_type"].startswith("application/json"),
              "the exact bytes at the fake VNPT: " + (reqs[0]["raw"] if reqs else "none"))
        check(API_PASS not in daemon.log_text(), "the VNPT password is not in the log")

        # 2. Retryable: quota_exceeded once, then sent; the retry carries the same bytes.
        http("POST", vnpt + "/_control", {"reset": True})
        http("POST", vnpt + "/_control", {"fail_next": 1, "code": "7", "desc": "het han muc"})
        http("POST", base + "/v1/events", event("vn-2", "H12.34-261127-0002"), AUTH)
        msg = done("vn-2")["messages"][0]
        reqs = vnpt_requests()
        check(msg["state"] == "sent" and msg["provider"] == "vnpt" and msg["attempts"] == 2,
              "vn-2: retried after ERROR 7 (quota_exceeded) and sent via vnpt: %s" % msg)
        check(len(reqs) == 2 and reqs[0]["answer"] == "7" and reqs[1]["answer"] == "0" and
              reqs[0]["raw"] == reqs[1]["raw"], "the retry sent the same request")

        # 3. Permanent: rejected_content; not handed to the next provider.
        esms.control(reset=True)
        http("POST", vnpt + "/_control", {"reset": True})
        http("POST", vnpt + "/_control", {"fail_next": 1, "code": "5", "desc": "noi dung sai"})
        http("POST", base + "/v1/events", event("vn-3", "H12.34-261127-0003"), AUTH)
        msg = done("vn-3")["messages"][0]
        check(msg["state"] == "failed" and
              (msg.get("last_error") or {}).get("reason") == "rejected_content"
              and len(vnpt_requests()) == 1 and esms.requests() == [],
              "vn-3: ERROR 5 (rejected_content) fails the message at once: %s" % msg)

        # 4. A status without a VNPT template goes to the next provider.
        http("POST", vnpt + "/_control", {"reset": True})
        http("POST", base + "/v1/events", event("vn-4", "H12.34-261127-0004", "received"), AUTH)
        msg = done("vn-4")["messages"][0]
        check(msg["state"] == "sent" and msg["provider"] == "esms" and vnpt_requests() == []
              and len(esms.requests()) == 1,
              "vn-4 (received, no VNPT template) sent via esms: %s" % msg)

        # 5. VNPT down: each attempt answers 500; after max_attempts, failover to eSMS.
        esms.control(reset=True)
        http("POST", vnpt + "/_control", {"fail_next": 2, "code": "http500"})
        http("POST", base + "/v1/events", event("vn-5", "H12.34-261127-0005"), AUTH)
        msg = done("vn-5")["messages"][0]
        check(msg["state"] == "sent" and msg["provider"] == "esms" and
              len(vnpt_requests()) == 2 and len(esms.requests()) == 1,
              "vn-5: two 500s from VNPT, then sent via esms: %s" % msg)
        daemon.stop()
    except AssertionError as e:
        check(False, str(e))
    return finish(tmp, procs, ["tinbaod.log"])


if __name__ == "__main__":
    sys.exit(main())
