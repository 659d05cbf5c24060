#!/usr/bin/env python3
"""What an operator lives with, on a real tinbaod (SQLite queue) and a fake Zalo on loopback:

- /metrics: build info, process figures, the oldest due job, the Zalo token's expiry and the
  OA's quota (through the provider's gauges), the last reload's result;
- `tinbaoctl reload`: exit 0 when applied; non-zero with the reason when the new config is
  refused, and tinbao_config_last_reload_successful 0 until a good one;
- logs under the journal (JOURNAL_STREAM naming the log file, as systemd does): every line
  starts with its priority; JSON lines carry event_id, message_id, dossier, provider, attempt
  and the recipient masked (the whole number appears nowhere); the sent line has the
  provider's message id; a delivery report's line has its event and dossier;
- sd_notify on a NOTIFY_SOCKET made here: READY=1, STATUS= with the one-line summary,
  RELOADING=1 around a reload.
"""

import argparse
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Procs, check, finish, free_port, http, wait_for  # noqa: E402
import prometheus  # noqa: E402

TOKEN = "operations-test-token-0123456789abcdef"
APP_ID = "ops-app"
APP_SECRET = "ops-app-secret"
OA_SECRET = "ops-oa-secret"
PHONE = "0912345678"


def config(tmp, port, zalo_url, extra=""):
    return f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: json }}
http:
  listen: 127.0.0.1:{port}
  clients:
    - {{ name: igate, token: "{TOKEN}" }}
queue:
  backend: sqlite
templates:
  dir: {tmp}/templates
statuses:
  aliases: {{ "DA_CO_KET_QUA": result_ready }}
routes:
  - {{ status: [result_ready], channels: [zalo] }}
retry: {{ max_attempts: 3, initial_delay: 100ms, max_delay: 1s, give_up_after: 1h }}
providers:
  - name: zalo
    channel: zalo
    type: zalo_zns
    base_url: {zalo_url}
    oauth_url: {zalo_url}
    app_id: {APP_ID}
    secret_key: "{APP_SECRET}"
    refresh_token: RT-initial
    webhook_secret: "{OA_SECRET}"
    timeout: 5s
{extra}"""


TEMPLATE = """zalo:
  template_id: "301207"
  params:
    customer_name: "{{ applicant.name }}"
    dossier_code: "{{ dossier.code }}"
"""


def event(event_id, code):
    return {
        "event_id": event_id,
        "occurred_at": "2026-11-27T08:15:00+07:00",
        "dossier": {
            "code": code, "status": "DA_CO_KET_QUA",
            "procedure": {"code": "1.001612", "name": "Cấp Phiếu lý lịch tư pháp"},
            "agency": {"code": "000.00.12.H62", "name": "Sở Tư pháp tỉnh Vĩnh Long"},
        },
        "applicant": {"name": "Nguyễn Thị Ánh Tuyết", "phone": PHONE, "email": None,
                      "zalo_user_id": None},
    }


class Notify:
    """A NOTIFY_SOCKET as systemd's: a datagram socket whose messages are kept here."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.messages = []

    def poll(self):
        while True:
            try:
                self.messages.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return self.messages

    def has(self, pred):
        return any(pred(m) for m in self.poll())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-ops-")
    procs = Procs()
    log_path = os.path.join(tmp, "tinbaod.log")
    try:
        fake = procs.start([sys.executable, os.path.join(src, "tests/fakes/fake_zalo.py"),
                            "--app-id", APP_ID, "--secret-key", APP_SECRET,
                            "--refresh-token", "RT-initial"],
                           stdout=subprocess.PIPE, text=True)
        line = fake.stdout.readline().split()
        assert line and line[0] == "PORT", "fake Zalo did not print its port"
        zalo = "http://127.0.0.1:" + line[1]
        http("POST", zalo + "/_control", {"daily_quota": 2000})

        os.makedirs(os.path.join(tmp, "templates"))
        with open(os.path.join(tmp, "templates", "result_ready.yaml"), "w") as f:
            f.write(TEMPLATE)
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(config(tmp, port, zalo))

        # stderr is the log file, and JOURNAL_STREAM names it: what systemd does for the journal.
        log = open(log_path, "a")
        st = os.fstat(log.fileno())
        notify = Notify(os.path.join(tmp, "notify.sock"))
        env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino),
                   NOTIFY_SOCKET=notify.path)
        env.pop("RUNTIME_DIRECTORY", None)
        daemon = procs.start([args.tinbaod, "--config", cfg], env=env, stdout=log,
                             stderr=subprocess.STDOUT)
        wait_for(lambda: http("GET", base + "/readyz")[0] == 200, 20, "tinbaod /readyz")
        auth = {"Authorization": "Bearer " + TOKEN}

        def scrape():
            status, text = http("GET", base + "/metrics")
            assert status == 200, "GET /metrics: %s" % status
            return prometheus.parse(text)

        def value(fams, family, **labels):
            want = tuple(sorted(labels.items()))
            for (name, lab), v in fams.get(family, {}).get("samples", {}).items():
                if name == family and lab == want:
                    return v
            return None

        # --- sd_notify: ready, then the one-line status ---
        wait_for(lambda: notify.has(lambda m: m == "READY=1"), 10, "READY=1")
        wait_for(lambda: notify.has(lambda m: m.startswith("STATUS=")), 10, "STATUS=")
        status = [m for m in notify.poll() if m.startswith("STATUS=")][-1]
        check(re.fullmatch(r"STATUS=queued (\d+|\?), in flight \d+, providers up 1/1", status)
              is not None, "STATUS= says queued, in flight and providers up: " + status)

        # --- /metrics at the start ---
        fams = scrape()
        info = [lab for (name, lab) in fams.get("tinbao_build_info", {}).get("samples", {})]
        check(len(info) == 1 and dict(info[0]).get("version")
              and "commit" in dict(info[0]), "tinbao_build_info has version and commit labels")
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_max_fds", "process_start_time_seconds"):
            v = value(fams, name)
            check(v is not None and v > 0, "%s is exported (%s)" % (name, v))
        start = value(fams, "process_start_time_seconds") or 0
        check(abs(start - time.time()) < 600, "process_start_time_seconds is this start")
        check(value(fams, "tinbao_config_last_reload_successful") == 1,
              "tinbao_config_last_reload_successful 1 at the start")
        check((value(fams, "tinbao_config_last_reload_timestamp_seconds") or 0) > 0,
              "tinbao_config_last_reload_timestamp_seconds set at the start")
        wait_for(lambda: value(scrape(), "tinbao_oldest_due_seconds") is not None, 15,
                 "tinbao_oldest_due_seconds from the queue")
        check(value(scrape(), "tinbao_oldest_due_seconds") == 0,
              "tinbao_oldest_due_seconds 0: nothing is due")
        check("tinbao_circuit_transitions_total" in fams
              and fams["tinbao_circuit_transitions_total"]["type"] == "counter",
              "tinbao_circuit_transitions_total is declared")

        # --- a message sent through Zalo ---
        code = "000.00.12.H62-261120-0042"
        st, _ = http("POST", base + "/v1/events", event("ops-ev-1", code), headers=auth)
        check(st == 202, "event accepted (%s)" % st)

        def sent_record():
            st, rec = http("GET", base + "/v1/events/ops-ev-1", headers=auth)
            msgs = rec.get("messages", []) if st == 200 and isinstance(rec, dict) else []
            return msgs[0] if msgs and msgs[0].get("state") == "sent" else None
        msg = wait_for(sent_record, 20, "the Zalo message sent")
        fams = scrape()
        check(value(fams, "tinbao_provider_quota_daily", provider="zalo") == 2000,
              "tinbao_provider_quota_daily from Zalo's reply")
        check(value(fams, "tinbao_provider_quota_remaining", provider="zalo") == 1999,
              "tinbao_provider_quota_remaining from Zalo's reply")
        expiry = value(fams, "tinbao_provider_token_expiry_timestamp_seconds", provider="zalo")
        check(expiry is not None and expiry > time.time() + 3600,
              "tinbao_provider_token_expiry_timestamp_seconds ahead (%s)" % expiry)

        # --- a delivery report, signed as Zalo signs it ---
        now_ms = int(time.time() * 1000)
        body = json.dumps({
            "sender": {"id": "579745863508352884"}, "recipient": {"id": "84912345678"},
            "event_name": "user_received_message",
            "message": {"delivery_time": str(now_ms), "msg_id": "zmsg-ops-1",
                        "tracking_id": msg["id"]},
            "app_id": APP_ID, "timestamp": str(now_ms)}, separators=(",", ":"))
        mac = hashlib.sha256((APP_ID + body + str(now_ms) + OA_SECRET).encode()).hexdigest()
        st, _ = http("POST", base + "/v1/callbacks/zalo", raw=body.encode(),
                     headers={"Content-Type": "application/json",
                              "X-ZEvent-Signature": "mac=" + mac})
        check(st == 200, "delivery report accepted (%s)" % st)

        def entries():
            log.flush()
            out = []
            with open(log_path) as f:
                for raw in f:
                    m = re.match(r"^<([0-7])>(.*)$", raw.rstrip("\n"))
                    out.append((int(m.group(1)), json.loads(m.group(2))) if m else (None, raw))
            return out
        wait_for(lambda: any(isinstance(e, dict) and "reports delivered" in e.get("msg", "")
                             for _, e in entries()), 10, "the delivery report's line")

        # --- logs: the priority prefix, the fields, the masked recipient ---
        all_entries = entries()
        check(all_entries and all(p is not None for p, _ in all_entries),
              "every line starts with its <N> priority under the journal")
        check(all((p, e.get("level")) in ((6, "info"), (4, "warning"), (3, "error"), (7, "debug"))
                  for p, e in all_entries if p is not None),
              "each line's priority matches its level")
        sent = [e for _, e in all_entries if "sent via zalo" in e.get("msg", "")]
        check(len(sent) == 1, "one sent line")
        if sent:
            s = sent[0]
            check(s.get("event_id") == "ops-ev-1" and s.get("message_id") == msg["id"]
                  and s.get("dossier") == code and s.get("provider") == "zalo"
                  and s.get("attempt") == 1 and s.get("channel") == "zalo",
                  "the sent line's fields: event_id, message_id, dossier, provider, attempt")
            pid = msg.get("provider_message_id")
            check(bool(pid) and s.get("provider_message_id") == pid and pid in s["msg"],
                  "the sent line has the provider's message id")
            check("***" in s.get("to", ""), "the recipient is masked: " + s.get("to", ""))
        report = [e for _, e in all_entries if "reports delivered" in e.get("msg", "")]
        check(len(report) == 1 and "ops-ev-1" in report[0]["msg"] and code in report[0]["msg"]
              and report[0].get("event_id") == "ops-ev-1" and report[0].get("dossier") == code,
              "the delivery report's line names its event and dossier")
        with open(log_path) as f:
            text = f.read()
        check("912345678" not in text, "the whole phone number is nowhere in the log")

        # --- reload: applied ---
        def reload(*extra):
            return subprocess.run([args.tinbaoctl, "--config", cfg, "reload", "--pid",
                                   str(daemon.pid), "--timeout", "30", *extra],
                                  capture_output=True, text=True, timeout=60)
        r = reload()
        check(r.returncode == 0 and "reloaded" in r.stdout,
              "tinbaoctl reload: 0 when applied (%d %s%s)" % (r.returncode, r.stdout, r.stderr))
        wait_for(lambda: notify.has(lambda m: m == "RELOADING=1"), 10, "RELOADING=1")
        fams = scrape()
        check(value(fams, "tinbao_config_reloads_total", result="ok") == 1,
              "tinbao_config_reloads_total{result=ok} 1")

        # --- reload: refused, with the reason ---
        with open(cfg, "a") as f:
            f.write("bogus_setting: 1\n")
        r = reload()
        check(r.returncode != 0, "tinbaoctl reload: non-zero when refused (%d)" % r.returncode)
        check("refused" in r.stderr and "bogus_setting" in r.stderr,
              "tinbaoctl reload says why: " + r.stderr.strip().replace("\n", " | "))
        fams = scrape()
        check(value(fams, "tinbao_config_last_reload_successful") == 0,
              "tinbao_config_last_reload_successful 0 after a refused reload")
        check(value(fams, "tinbao_config_reloads_total", result="refused") == 1,
              "tinbao_config_reloads_total{result=refused} 1")
        refused = [(p, e) for p, e in entries() if "reload refused" in e.get("msg", "")]
        check(len(refused) == 1 and refused[0][0] == 3,
              "the refusal is logged at priority 3 (journalctl -p err shows it)")
        check(http("GET", base + "/readyz")[0] == 200, "still running on the previous config")

        # --- fixed: applied again ---
        with open(cfg, "w") as f:
            f.write(config(tmp, port, zalo))
        r = reload()
        check(r.returncode == 0, "tinbaoctl reload: 0 once fixed (%s)" % r.stderr.strip())
        check(value(scrape(), "tinbao_config_last_reload_successful") == 1,
              "tinbao_config_last_reload_successful back to 1")

        # --- no tinbaod at that pid: an error, not a hang ---
        r = subprocess.run([args.tinbaoctl, "--config", cfg, "reload", "--pid", "999999999",
                            "--timeout", "2"], capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and "tinbaoctl reload" in r.stderr,
              "tinbaoctl reload for a pid that is not tinbaod fails (%d)" % r.returncode)
    except AssertionError as e:
        check(False, str(e))
    return finish(tmp, procs, ["tinbaod.log"])


if __name__ == "__main__":
    sys.exit(main())
