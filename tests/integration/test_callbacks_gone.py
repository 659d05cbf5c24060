#!/usr/bin/env python3
"""A call-back receiver that answers 410 Gone (docs/callbacks.md "Delivery"), end to end.

Citizens' replies posted to SpeedSMS's webhook make inbound.received call-backs for two API
clients. One client's receiver answers 410: tinbaod logs it, counts it, makes that call-back a
dead letter and stops sending to the client (later call-backs wait in the queue; no attempt
reaches the receiver while the other client still gets its own). A reload that gives the client
another url sends it what waited; the dead call-back is replayed with tinbaoctl. A 410 again
disables it again, and a restart with the same url enables it.
"""

import argparse
import base64
import json
import os
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Procs, Redis, check, finish, free_port, http, wait_for  # noqa: E402
from test_client_callbacks import Receiver, verify  # noqa: E402
import prometheus  # noqa: E402

TOKEN = "gone-test-token-0123456789abcdef"
ADMIN_TOKEN = "gone-admin-token-0123456789abcd"
HOOK_TOKEN = "speedsms-hook-token-0123456789"
GONE_SECRET = "whsec_" + base64.b64encode(bytes(range(1, 33))).decode()
OK_SECRET = "whsec_" + base64.b64encode(bytes(range(40, 72))).decode()


def write_config(path, tmp, hport, queue, templates, gone_url, ok_url):
    with open(path, "w") as f:
        f.write(f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{hport}
  clients:
    - name: portal
      token: "{TOKEN}"
      callbacks: {{ url: "{gone_url}", secret: "{GONE_SECRET}", kinds: [inbound.received],
                   timeout: 2s }}
    - name: archive
      token: "{ADMIN_TOKEN}"
      callbacks: {{ url: "{ok_url}", secret: "{OK_SECRET}", kinds: [inbound.received],
                   timeout: 2s }}
queue:
  {queue}
templates:
  dir: {templates}
statuses:
  aliases: {{ "DA_CO_KET_QUA": result_ready }}
routes:
  - {{ status: [result_ready], channels: [sms] }}
retry: {{ callback_initial_delay: 100ms, callback_max_delay: 500ms, callback_give_up_after: 1h }}
providers:
  - name: speedsms
    channel: sms
    type: speedsms
    base_url: http://127.0.0.1:9
    access_token: the-access-token
    sender: UBND-VLONG
    callback_token: "{HOOK_TOKEN}"
""")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--backend", default="sqlite", choices=["redis", "sqlite"])
    args = ap.parse_args()
    source = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-gone-")
    procs = Procs()
    gone, ok = Receiver(), Receiver()
    try:
        if args.backend == "redis":
            redis = Redis(procs, tmp)
            redis.start()
            queue = 'backend: redis\n  redis: { url: "redis://127.0.0.1:%d/0" }' % redis.port
        else:
            queue = "backend: sqlite"
        hport = free_port()
        base = "http://127.0.0.1:%d" % hport
        templates = os.path.join(source, "tests/integration/fixtures/templates")
        cfg = os.path.join(tmp, "tinbao.yaml")
        write_config(cfg, tmp, hport, queue, templates, gone.url, ok.url)
        daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
        daemon.start(base)

        def reply(sms_id, text):
            st, _ = http("POST", base + "/v1/callbacks/speedsms?token=" + HOOK_TOKEN,
                         {"type": "incoming", "phone": "84987654321", "content": text,
                          "smsId": sms_id})
            check(st == 200, "SpeedSMS reply %s taken" % sms_id)

        def at(receiver, sms_id, status=None):
            return [d for _, d, _ in receiver.docs(status)
                    if d.get("provider_message_id") == sms_id]

        def metric(name, **labels):
            return prometheus.value(prometheus.parse(http("GET", base + "/metrics")[1]), name,
                                    **labels) or 0

        # --- 410: logged, counted, a dead letter, the endpoint disabled ---
        gone.answers["inbound.received"] = [410] * 1000
        reply("g-1", "Mot")
        wait_for(lambda: at(gone, "g-1", 410), 20, "the portal's receiver answered 410")
        wait_for(lambda: at(ok, "g-1", 200), 20, "the archive got g-1")
        wait_for(lambda: "answered 410 Gone" in daemon.log_text(), 10, "the 410 in the log")
        check("the endpoint is disabled" in daemon.log_text(),
              "tinbaod logs that the endpoint answered 410 and is disabled")
        check(metric("tinbao_client_callbacks_total", client="portal", outcome="gone") == 1 and
              metric("tinbao_client_callback_circuit_open", client="portal") == 1,
              "/metrics: outcome gone counted, the portal's endpoint shown disabled")
        # Two more replies: the archive gets them, the portal's receiver sees no new attempt.
        reply("g-2", "Hai")
        reply("g-3", "Ba")
        wait_for(lambda: at(ok, "g-2", 200) and at(ok, "g-3", 200), 20,
                 "the archive got g-2 and g-3")
        check(metric("tinbao_client_callbacks_in_flight", client="portal") == 0 and
              len(gone.got) == 1,
              "no attempt reaches the disabled endpoint: %d request(s) in all" % len(gone.got))

        env = dict(os.environ, TINBAO_TOKEN=ADMIN_TOKEN)
        ctl = [args.tinbaoctl, "--config", cfg, "--url", base, "--json"]

        def dead():
            p = subprocess.run(ctl + ["callbacks", "list", "--client", "portal"], env=env,
                               capture_output=True, text=True, timeout=30)
            return json.loads(p.stdout)["dead_letters"] if p.returncode == 0 else None
        listed = dead() or []
        check(len(listed) == 1 and listed[0]["document"]["provider_message_id"] == "g-1" and
              listed[0]["last_error"].startswith("http 410"),
              "the call-back answered 410 is a dead letter: %s" % listed)

        # --- a reload with another url: what waited is sent; the dead letter replayed ---
        gone.answers["inbound.received"] = []
        write_config(cfg, tmp, hport, queue, templates, gone.url + "-v2", ok.url)
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: at(gone, "g-2", 200) and at(gone, "g-3", 200), 30,
                 "g-2 and g-3 at the new url after the reload")
        check(all(verify(GONE_SECRET, h, b) for h, d, b in gone.docs(200)),
              "they are signed with the portal's secret")
        check(metric("tinbao_client_callback_circuit_open", client="portal") == 0,
              "/metrics: the portal's endpoint enabled again")
        p = subprocess.run(ctl + ["callbacks", "replay", listed[0]["id"]], env=env,
                           capture_output=True, text=True, timeout=30)
        check(p.returncode == 0, "tinbaoctl callbacks replay: " + p.stdout + p.stderr)
        got = wait_for(lambda: at(gone, "g-1", 200), 20, "the replayed g-1")
        check(got[0]["text"] == "Mot" and dead() == [], "g-1 delivered after its replay")

        # --- 410 again, then a restart with the same url enables it ---
        gone.answers["inbound.received"] = [410] * 1000
        reply("g-4", "Bon")
        wait_for(lambda: at(gone, "g-4", 410), 20, "410 again")
        reply("g-5", "Nam")
        wait_for(lambda: at(ok, "g-5", 200), 20, "the archive got g-5")
        check(not at(gone, "g-5"), "disabled again: g-5 waits")
        gone.answers["inbound.received"] = []
        check(daemon.stop() == 0, "tinbaod stopped")
        daemon.start(base)
        wait_for(lambda: at(gone, "g-5", 200), 30, "g-5 after the restart")
        check(True, "a restart enables the endpoint again (same url)")
        check("987654321" not in daemon.log_text(), "the citizen's number is not in the log")
    except AssertionError as e:
        check(False, str(e))
    finally:
        gone.close()
        ok.close()
    return finish(tmp, procs, ["tinbaod.log"])


if __name__ == "__main__":
    sys.exit(main())
