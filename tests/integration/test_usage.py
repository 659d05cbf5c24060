#!/usr/bin/env python3
"""Agencies, usage and cost, budgets (docs/usage.md), against a real tinbaod on Redis or SQLite,
the fake eSMS for SMS and the outbox for Zalo.

Two configured agencies and unlisted ones post events. Checked:
  - each message records its agency, procedure, telco and cost; agency A's SMS go under its own
    brandname and in its own wording (its template folder);
  - GET /v1/reports/usage and `tinbaoctl report` group them with the counts, segments and cost
    worked out by hand below, as JSON, CSV and a table;
  - agency B's budget: its third SMS is refused (budget_exceeded, counted) and its Zalo goes in
    fallback; the spend survives a restart; a reload that raises the budget lets SMS go again.
"""

import argparse
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Procs, Redis, check, finish, free_port, http, wait_for  # noqa

TOKEN = "usage-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"
ONLY_OWN = "own-token-0123456789abcdef"
A, B = "000.00.12.H62", "000.00.15.H62"
VIETTEL, VINA, MOBI = "0362345678", "0912345678", "0902345678"

# Shared wording: one GSM-7 segment. Agency A's own: over 160 characters, two segments.
SHARED = 'sms: "Ho so {{ dossier.code }} da co ket qua."\n' \
         'zalo:\n  template_id: "301207"\n  params:\n    dossier_code: "{{ dossier.code }}"\n'
OWN_A = ('sms: "So Tu phap: ho so {{ dossier.code }} da co ket qua. Moi Ong/Ba mang giay hen va '
         'giay to tuy than den Bo phan Mot cua de nhan ket qua trong gio hanh chinh, tu thu Hai '
         'den thu Sau."\n'
         'zalo:\n  template_id: "301207"\n  params:\n    dossier_code: "{{ dossier.code }}"\n')

# A status agency A's folder does not word: its events fall back to the shared template.
RECEIVED = 'sms: "Da tiep nhan ho so {{ dossier.code }}."\n'

# The price table of the config, and the cost of each message worked out by hand.
SMS_SEGMENT, SMS_VIETTEL, ZALO = 800, 850, 300


def config(tmp, port, queue, esms, budget_b):
    return f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{port}
  clients:
    - {{ name: igate, token: "{TOKEN}" }}
    - {{ name: reader, token: "{READER}", scopes: [events:read:all] }}
    - {{ name: own, token: "{ONLY_OWN}", scopes: [events:write, events:read] }}
queue:
  {queue}
templates:
  dir: {tmp}/templates
routes:
  - {{ status: [result_ready], channels: [sms, zalo], mode: fallback }}
  - {{ status: [received], channels: [sms] }}
providers:
  - name: esms
    channel: sms
    type: esms
    base_url: {esms}
    api_key: k
    secret_key: s
    brandname: TINBAO
    callback_token: cb-token-0123456789abcdef
  - {{ name: zns, channel: zalo, type: outbox, path: {tmp}/zalo.jsonl }}
agencies:
  - code: "{A}"
    name: "Sở Tư pháp"
    sms_sender: {{ esms: STP.VL }}
    templates: {tmp}/agency_a
  - code: "{B}"
    name: "Sở Xây dựng"
    monthly_budget: {{ dong: {budget_b} }}
prices:
  - {{ provider: esms, per: segment, dong: {SMS_SEGMENT}, telcos: {{ viettel: {SMS_VIETTEL} }} }}
  - {{ channel: zalo, dong: {ZALO} }}
"""


def event(eid, dossier, agency, phone, procedure="1.001612", status="result_ready"):
    d = {"code": dossier, "status": status,
         "procedure": {"code": procedure, "name": "Cấp Phiếu lý lịch tư pháp"}}
    if agency is not None:
        d["agency"] = {"code": agency, "name": "x"}
    return {"event_id": eid, "occurred_at": "2026-12-04T08:15:00+07:00", "dossier": d,
            "applicant": {"name": "Nguyễn Văn An", "phone": phone}}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--backend", default="redis", choices=["redis", "sqlite"])
    args = ap.parse_args()
    source = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-usage-")
    procs = Procs()
    try:
        os.makedirs(os.path.join(tmp, "templates"))
        os.makedirs(os.path.join(tmp, "agency_a"))
        with open(os.path.join(tmp, "templates", "result_ready.yaml"), "w") as f:
            f.write(SHARED)
        with open(os.path.join(tmp, "templates", "received.yaml"), "w") as f:
            f.write(RECEIVED)
        with open(os.path.join(tmp, "agency_a", "result_ready.yaml"), "w") as f:
            f.write(OWN_A)
        queue = "backend: sqlite"
        redis = None
        if args.backend == "redis":
            redis = Redis(procs, tmp)
            redis.start()
            queue = 'backend: redis\n  redis: { url: "redis://127.0.0.1:%d/0", prefix: use }' % \
                redis.port
        p = procs.start([sys.executable, os.path.join(source, "tests/fakes/fake_esms.py"),
                         "--api-key", "k", "--secret-key", "s"], stdout=subprocess.PIPE,
                        text=True)
        esms = "http://127.0.0.1:" + p.stdout.readline().split()[1]
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(config(tmp, port, queue, esms, 1700))
        daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
        daemon.start(base)
        auth = {"Authorization": "Bearer " + TOKEN}

        def post(ev):
            return http("POST", base + "/v1/events", ev, auth)[0]

        def settled(eid):
            def done():
                st, body = http("GET", base + "/v1/events/" + eid, headers=auth)
                return body if st == 200 and body.get("state") in ("done", "failed") else None
            return wait_for(done, 20, "event " + eid + " settled")

        def messages(eid):
            return settled(eid)["messages"]

        # --- two agencies and unlisted ones ---
        posts = [event("a-1", "D-A1", A, VIETTEL), event("a-2", "D-A2", A, VINA),
                 event("o-1", "D-O1", "999.99.99.X", VIETTEL),
                 event("o-2", "D-O2", None, MOBI, procedure="2.000001")]
        for ev in posts:
            check(post(ev) == 202, "posted " + ev["event_id"])
        # B one event at a time: each SMS's cost is in the spend before the next is planned.
        for eid, dossier in (("b-1", "D-B1"), ("b-2", "D-B2"), ("b-3", "D-B3")):
            check(post(event(eid, dossier, B, VIETTEL)) == 202, "posted " + eid)
            settled(eid)

        a1 = messages("a-1")[0]
        check(a1["agency"] == A and a1["procedure"] == "1.001612" and a1["telco"] == "viettel" and
              a1["segments"] == 2 and a1["cost_dong"] == 2 * SMS_VIETTEL and
              a1["body"].startswith("So Tu phap"),
              "agency A's SMS: its own wording (2 segments), telco viettel, cost 2 x 850: %s" % a1)
        a2 = messages("a-2")[0]
        check(a2["telco"] == "vinaphone" and a2["cost_dong"] == 2 * SMS_SEGMENT,
              "a vinaphone number costs the provider's own price per segment: %s" % a2)
        o1 = messages("o-1")[0]
        check(o1["agency"] == "other" and o1["segments"] == 1 and o1["cost_dong"] == SMS_VIETTEL and
              o1["body"].startswith("Ho so D-O1"),
              "an unlisted agency counts as other, with the shared wording: %s" % o1)
        o2 = messages("o-2")[0]
        check(o2["agency"] == "other" and o2["telco"] == "mobifone" and
              o2["cost_dong"] == SMS_SEGMENT, "an event without an agency is other too: %s" % o2)
        sent = http("GET", esms + "/_requests")[1]
        brands = {r["body"]["Phone"] + ":" + r["body"]["Content"][:12]: r["body"]["Brandname"]
                  for r in sent}
        check(any(v == "STP.VL" and "So Tu phap" in k for k, v in brands.items()) and
              all(v == "TINBAO" for k, v in brands.items() if "So Tu phap" not in k),
              "agency A's SMS go under its own brandname, the others under the provider's: %s"
              % brands)

        # --- the budget: B spent 850 + 850 = 1700 = 100 %: its third SMS is refused ---
        b3 = messages("b-3")
        sms = [m for m in b3 if m["channel"] == "sms"]
        zalo = [m for m in b3 if m["channel"] == "zalo"]
        check(len(sms) == 1 and sms[0]["state"] == "superseded" and
              (sms[0]["last_error"] or {}).get("reason") == "budget_exceeded",
              "B over budget: its SMS is refused with budget_exceeded: %s" % sms)
        check(len(zalo) == 1 and zalo[0]["state"] == "sent" and zalo[0]["cost_dong"] == ZALO and
              zalo[0]["agency"] == B, "B over budget: its Zalo goes in fallback: %s" % zalo)
        check(len([r for r in sent if r["body"]["Phone"] == "84362345678" and
                   "D-B3" in r["body"]["Content"]]) == 0, "no SMS of b-3 reached the provider")
        st, metrics = http("GET", base + "/metrics")
        check('tinbao_budget_refused_total{agency="%s"} 1' % B in metrics,
              "the refusal is counted per agency")
        check('tinbao_budget_warnings_total{agency="%s"} 1' % B in metrics and
              # 850 + 850 for the SMS, and the Zalo's 300: every channel's cost counts.
              re.search(r'tinbao_budget_used_ratio\{agency="%s"\} 1\.176470' % re.escape(B),
                        metrics),
              "80 %% is counted, and the budget's use is a gauge: %s" %
              [line for line in metrics.splitlines() if "budget" in line and "#" not in line])
        check('tinbao_agency_messages_total{agency="other",channel="sms",outcome="sent"} 2'
              in metrics, "messages are counted by agency (unlisted ones as other)")
        labels = set(re.findall(r'agency="([^"]*)"', metrics))
        check(labels == {A, B, "other"} and "999.99.99.X" not in metrics,
              "the agency label takes configured codes and other only: %s" % sorted(labels))
        log = daemon.log_text()
        check("agency %s (Sở Xây dựng) has spent 100 %% of its monthly budget" % B in log or
              "agency %s (Sở Xây dựng) has spent its monthly budget" % B in log,
              "the spent budget is logged")

        # A delivery report for a-1: delivered, with its delay from the event.
        st, _ = http("GET", base + "/v1/callbacks/esms?token=cb-token-0123456789abcdef&RequestId=%s&SMSID=x1"
                     "&SendStatus=5&SendSuccess=1&SendFailed=0" % a1["id"])
        wait_for(lambda: http("GET", base + "/v1/messages/" + a1["id"], headers=auth)[1]
                 .get("state") == "delivered", 10, "a-1 delivered")

        # --- the report, worked out by hand ---
        # A: 2 SMS, 2 segments each: 2 x 850 + 2 x 800 = 3300; 1 delivered of 2 sent.
        # B: 3 SMS (2 sent, 1 refused), 1 Zalo: 850 + 850 + 300 = 2000; 4 messages, 1 failed.
        # other: 2 SMS of 1 segment: 850 + 800 = 1650.
        want = {A: (2, 4, 2, 1, 0, 3300), B: (4, 2, 3, 0, 1, 2000), "other": (2, 2, 2, 0, 0, 1650)}
        reader = {"Authorization": "Bearer " + READER}
        st, rep = http("GET", base + "/v1/reports/usage?group_by=agency", headers=reader)
        got = {r["agency"]: (r["messages"], r["segments"], r["sent"], r["delivered"], r["failed"],
                             r["cost_dong"]) for r in rep.get("rows", [])} if st == 200 else {}
        check(got == want, "JSON report by agency: %s" % got)
        ra = [r for r in rep.get("rows", []) if r["agency"] == A]
        check(ra and ra[0]["delivered_rate"] == 0.5 and ra[0]["median_accept_seconds"] >= 0 and
              ra[0]["median_delivery_seconds"] is not None and
              rep["total"]["cost_dong"] == 6950 and rep["records"] == 8,
              "delivered rate, medians and the total: %s" % rep.get("total"))
        st, _ = http("GET", base + "/v1/reports/usage", headers={"Authorization":
                                                                  "Bearer " + ONLY_OWN})
        check(st == 403, "a client without events:read:all gets no report (%d)" % st)
        st, bad = http("GET", base + "/v1/reports/usage?group_by=agency,colour", headers=reader)
        check(st == 400 and bad["error"]["field"] == "group_by", "an unknown grouping is a 400")

        st, text = http("GET", base + "/v1/reports/usage?group_by=agency,channel,telco&format=csv",
                        headers=reader)
        rows = list(csv.DictReader(io.StringIO(text))) if st == 200 else []
        by = {(r["agency"], r["channel"], r["telco"]): (int(r["messages"]), int(r["segments"]),
                                                       int(r["cost_dong"])) for r in rows}
        check(by == {(A, "sms", "viettel"): (1, 2, 1700), (A, "sms", "vinaphone"): (1, 2, 1600),
                     (B, "sms", "viettel"): (3, 2, 1700), (B, "zalo", ""): (1, 0, 300),
                     ("other", "sms", "viettel"): (1, 1, 850),
                     ("other", "sms", "mobifone"): (1, 1, 800)},
              "CSV report by agency, channel and telco: %s" % by)

        ctl = [args.tinbaoctl, "--config", cfg, "--url", base]
        env = dict(os.environ, TINBAO_TOKEN=READER)
        r = subprocess.run(ctl + ["report", "--group-by", "agency,procedure", "--format", "csv"],
                           capture_output=True, text=True, env=env, timeout=30)
        lines = r.stdout.splitlines()
        check(r.returncode == 0 and lines and lines[0].startswith("agency,procedure,messages") and
              any(line.startswith("other,2.000001,1,1,1,0,0,") and line.endswith(",800")
                  for line in lines), "tinbaoctl report --format csv: %s" % r.stdout)
        r = subprocess.run(ctl + ["report", "--format", "json"], capture_output=True, text=True,
                           env=env, timeout=30)
        check(r.returncode == 0 and json.loads(r.stdout)["total"]["cost_dong"] == 6950,
              "tinbaoctl report --format json")
        r = subprocess.run(ctl + ["report", "--group-by", "agency", "--format", "table"],
                           capture_output=True, text=True, env=env, timeout=30)
        table = [line.split() for line in r.stdout.splitlines()]
        check(r.returncode == 0 and any(t[:1] == [B] and t[-1] == "2000" and t[1] == "4"
                                        for t in table) and
              any(t[:1] == ["total"] and t[-1] == "6950" for t in table),
              "tinbaoctl report as a table:\n" + r.stdout)

        # --- the spend survives a restart; a reload that raises the budget lets SMS go ---
        check(daemon.stop() == 0, "tinbaod stops")
        daemon.start(base)
        check(post(event("b-4", "D-B4", B, VIETTEL)) == 202, "posted b-4 after a restart")
        b4 = messages("b-4")
        check([m["channel"] for m in b4 if m["state"] == "sent"] == ["zalo"] and
              any((m["last_error"] or {}).get("reason") == "budget_exceeded" for m in b4),
              "after a restart B's spend is known: its SMS is still refused: %s" % b4)
        with open(cfg, "w") as f:
            f.write(config(tmp, port, queue, esms, 5000))
        before = daemon.log_text().count("reloaded:")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.log_text().count("reloaded:") > before, 20, "the reload")
        check(post(event("b-5", "D-B5", B, VIETTEL)) == 202, "posted b-5 after the reload")
        b5 = messages("b-5")
        check([(m["channel"], m["state"]) for m in b5] == [("sms", "sent")],
              "a raised budget lets B's SMS go again: %s" % b5)

        # --- agency A's folder has no `received`: the shared template words it ---
        check(post(event("a-3", "D-A3", A, VINA, status="received")) == 202, "posted a-3")
        a3 = messages("a-3")
        check(len(a3) == 1 and a3[0]["state"] == "sent" and a3[0]["agency"] == A and
              a3[0]["body"] == "Da tiep nhan ho so D-A3.",
              "a status agency A's folder lacks falls back to the shared template: %s" % a3)
        sent = http("GET", esms + "/_requests")[1]
        check([r["body"]["Brandname"] for r in sent if "D-A3" in r["body"]["Content"]] ==
              ["STP.VL"], "and still goes under agency A's own brandname")
        if redis:
            month = time.strftime("%Y-%m", time.gmtime(time.time() + 7 * 3600))
            fields = redis.cli("HGETALL", "use:spend:" + month).split()
            check(fields and B + ":dong" in fields,
                  "the month's spend is one Redis hash shared by instances: %s" % fields)
    except Exception as e:  # noqa: BLE001 - every failure is reported, and the processes stopped
        check(False, "%s: %s" % (type(e).__name__, e))
    return finish(tmp, procs, ["tinbaod.log"])


if __name__ == "__main__":
    sys.exit(main())
