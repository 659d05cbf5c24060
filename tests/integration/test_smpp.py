#!/usr/bin/env python3
"""The smpp adapter end to end: tinbaod against an SMSC that is not written here, the server side
of the npm package `smpp` (tests/fakes/smsc/smsc.js), on loopback.

  1. A refused password: an account problem on /readyz and tinbao_provider_problem, a clear log
     line, and no tight reconnect loop (the binds the SMSC sees are counted).
  2. Vietnamese notices arrive as the exact submit_sm expected: GSM 03.38 (data_coding 0, one
     septet per octet) in one part and in several, UCS-2 (data_coding 8) in one part and in
     several; several parts carry a UDH (esm_class 0x40, 05 00 03, one reference per message,
     parts numbered 1..n) and together make the text.
  3. Receipts (deliver_sm, esm_class 0x04, receipted_message_id or the text alone) make a
     message delivered; every deliver_sm gets its deliver_sm_resp.
  4. ESME_RTHROTTLED and ESME_RMSGQFUL are retried until sent; ESME_RINVDSTADR fails at once.
  5. The connection drops with submit_sm in flight: nothing is lost, and nothing is sent twice by
     tinbao's own choice (see drop_in_flight()). The SMSC stops answering: the bind is made
     again and the message sent.
  6. Receipts before and after a restart of tinbaod; a message in parts is delivered only when
     every part is, and failed when one part fails.
  7. long_messages: payload sends one submit_sm with the message_payload TLV.
  8. A deliver_sm that is not a receipt (a citizen's reply) is answered, its number kept out of
     the log.
  9. Shutdown: tinbaod unbinds before it exits.
 10. tinbaoctl send-test binds, submits one message, prints the SMSC's answers (the number
     masked) and unbinds; a refused submit_sm is printed with its command_status and fails.
Every wait is on a condition with a deadline.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Procs, Redis, check, finish, free_port, http, wait_for  # noqa
import prometheus  # noqa

TOKEN = "smpp-test-token-0123456789abcdef"
AUTH = {"Authorization": "Bearer " + TOKEN}
SYSTEM_ID, PASSWORD = "ubnd-vlong", "Vl2026pw"
SENDER = "UBND-VLONG"
PHONE, MSISDN = "0912345678", "84912345678"
ESME_RINVPASWD, ESME_RMSGQFUL, ESME_RTHROTTLED, ESME_RINVDSTADR = 0x0E, 0x14, 0x58, 0x0B

# The notices: result_ready is unaccented (GSM 03.38), received keeps its diacritics (UCS-2).
TEMPLATES = {
    "result_ready.yaml": 'sms: "Ho so {{ dossier.code }} cua Ong/Ba {{ applicant.name | unaccent'
                         ' }} da co ket qua.{{ data.note | default(\\"\\") | unaccent }}"\n',
    "received.yaml": 'sms: "Hồ sơ {{ dossier.code }} đã được tiếp nhận.'
                     '{{ data.note | default(\\"\\") }}"\n',
}
NAME = "Nguyễn Thị Ánh Tuyết"
GSM_NOTE = (" Moi Ong/Ba mang giay hen va CCCD den Trung tam Phuc vu hanh chinh cong tinh Vinh "
            "Long, so 12C duong Hoang Thai Hieu, Phuong 1, de nhan ket qua va nop le phi.")
UCS_NOTE = (" Ông/Bà vui lòng theo dõi tiến độ giải quyết trên Cổng dịch vụ công và mang "
            "giấy hẹn khi đến nhận kết quả tại Bộ phận Một cửa.")


def gsm_text(code, note=""):
    return "Ho so %s cua Ong/Ba Nguyen Thi Anh Tuyet da co ket qua.%s" % (code, note)


def ucs_text(code, note=""):
    return unicodedata.normalize("NFC", "Hồ sơ %s đã được tiếp nhận.%s" % (code, note))


def config(tmp, hport, smsc_port, password_file, backend, redis_port, long_messages="udh",
           timeout="5s", extra=""):
    queue = ("{ backend: redis, redis: { url: \"redis://127.0.0.1:%d/0\" }, dedupe_ttl: 1d }"
             % redis_port
             if backend == "redis" else "{ backend: sqlite, dedupe_ttl: 1d }")
    return f"""
state_dir: {tmp}/state
shutdown_grace: 5s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{hport}
  clients:
    - {{ name: igate, token: "{TOKEN}" }}
queue: {queue}
templates:
  dir: {tmp}/templates
routes:
  - {{ status: [result_ready, received], channels: [sms] }}
sms: {{ unicode: auto, max_segments: 6 }}
retry: {{ max_attempts: 6, initial_delay: 200ms, max_delay: 1s, give_up_after: 1h }}
providers:
  - name: smsc
    channel: sms
    type: smpp
    host: 127.0.0.1
    port: {smsc_port}
    system_id: {SYSTEM_ID}
    password: "${{file:{password_file}}}"
    source_addr: {SENDER}
    binds: 1
    enquire_link: 2s
    long_messages: {long_messages}
    max_in_flight: 4
    timeout: {timeout}
""" + extra


class Smsc:
    """tests/fakes/smsc/smsc.js: SMPP port and its HTTP control port."""

    def __init__(self, procs, node, source_dir, tmp, extra=()):
        script = os.path.join(source_dir, "tests/fakes/smsc/smsc.js")
        self.proc = procs.start([node, script, "--account", SYSTEM_ID + ":" + PASSWORD,
                                 "--record", os.path.join(tmp, "smsc-pdus.jsonl")] + list(extra),
                                stdout=subprocess.PIPE, stderr=open(os.path.join(tmp, "smsc.log"),
                                                                    "a"), text=True)
        words = self.proc.stdout.readline().split()
        assert len(words) == 4 and words[0] == "PORT", "the fake SMSC did not print its ports"
        self.port = int(words[1])
        self.control_url = "http://127.0.0.1:%s" % words[3]

    def control(self, **spec):
        st, body = http("POST", self.control_url + "/control", spec)
        assert st == 200, "fake SMSC control: %s %s" % (st, body)
        return body

    def pdus(self, command=None, direction=None):
        q = []
        if command:
            q.append("command=" + command)
        if direction:
            q.append("dir=" + direction)
        return http("GET", self.control_url + "/pdus" + ("?" + "&".join(q) if q else ""))[1]

    def stats(self):
        return http("GET", self.control_url + "/stats")[1]

    def submits(self):
        return self.pdus("submit_sm", "in")


def submit_body(short_message, data_coding, esm_class=0):
    """Every mandatory field of the submit_sm tinbao must send, in the specification's order."""
    return {"service_type": "", "source_addr_ton": 5, "source_addr_npi": 0,
            "source_addr": SENDER, "dest_addr_ton": 1, "dest_addr_npi": 1,
            "destination_addr": MSISDN, "esm_class": esm_class, "protocol_id": 0,
            "priority_flag": 0, "schedule_delivery_time": "", "validity_period": "",
            "registered_delivery": 1, "replace_if_present_flag": 0, "data_coding": data_coding,
            "sm_default_msg_id": 0, "short_message": short_message.hex()}


def expected_pdus(text, ucs2):
    """(body, tlvs) of each submit_sm, the UDH reference left as None (tinbao picks it)."""
    data = text.encode("utf-16-be") if ucs2 else text.encode("ascii")  # the texts are GSM-safe
    single, part = (140, 134) if ucs2 else (160, 153)
    coding = 8 if ucs2 else 0
    if len(data) <= single:
        return [(submit_body(data, coding), {})]
    chunks = [data[i:i + part] for i in range(0, len(data), part)]
    return [(submit_body(c, coding, 0x40), {"udh": (len(chunks), i + 1)})
            for i, c in enumerate(chunks)]


def same_pdus(got, text, ucs2, what):
    """The submit_sm records `got` are exactly those `text` must make."""
    want = expected_pdus(text, ucs2)
    if len(got) != len(want):
        return check(False, "%s: %d submit_sm, expected %d" % (what, len(got), len(want)))
    ok = True
    refs = set()
    for g, (body, extra) in zip(got, want):
        gb = dict(g["body"])
        if "udh" in extra:
            sm = bytes.fromhex(gb["short_message"])
            total, number = extra["udh"]
            if sm[:3] != b"\x05\x00\x03" or sm[4] != total or sm[5] != number:
                ok = check(False, "%s: part %d/%d UDH %s" % (what, number, total, sm[:6].hex()))
                continue
            refs.add(sm[3])
            gb["short_message"] = sm[6:].hex()
        if gb != body or g["tlvs"] != {}:
            ok = check(False, "%s: submit_sm %s %s, expected %s" % (what, g["body"], g["tlvs"],
                                                                     body))
    if len(want) > 1 and len(refs) != 1:
        ok = check(False, "%s: one UDH reference for every part, got %s" % (what, refs))
    if ok:
        check(True, "%s: %d submit_sm, exactly as expected%s" % (
            what, len(got), " (UDH 05 00 03, reference %d, parts 1..%d)" % (min(refs), len(got))
            if refs else ""))
    return ok


def event(eid, code, status="result_ready", note=None):
    ev = {"event_id": eid, "dossier": {"code": code, "status": status},
          "applicant": {"name": NAME, "phone": PHONE}}
    if note:
        ev["data"] = {"note": note}
    return ev


def stays(pred, seconds):
    """True when pred() stays false for `seconds` (checked every 50 ms)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pred():
            return False
        time.sleep(0.05)
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--node", default="node")
    ap.add_argument("--backend", default="sqlite", choices=["sqlite", "redis"])
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-smpp-")
    os.makedirs(os.path.join(tmp, "state"))
    os.makedirs(os.path.join(tmp, "templates"))
    for name, text in TEMPLATES.items():
        with open(os.path.join(tmp, "templates", name), "w") as f:
            f.write(text)
    procs = Procs()
    try:
        redis_port = 0
        if args.backend == "redis":
            redis = Redis(procs, tmp)
            redis.start()
            redis_port = redis.port
        smsc = Smsc(procs, args.node, src, tmp)
        hport = free_port()
        base = "http://127.0.0.1:%d" % hport
        good_pw, bad_pw = os.path.join(tmp, "smpp_pass"), os.path.join(tmp, "smpp_pass_old")
        with open(good_pw, "w") as f:
            f.write(PASSWORD + "\n")
        with open(bad_pw, "w") as f:
            f.write("Old2025x\n")
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(config(tmp, hport, smsc.port, good_pw, args.backend, redis_port))

        chk = subprocess.run([args.tinbaod, "--config", cfg, "--check"], capture_output=True,
                             text=True, timeout=60)
        check(chk.returncode == 0, "tinbaod --check passes: " + (chk.stdout + chk.stderr)[-600:])

        ctx = dict(procs=procs, args=args, tmp=tmp, base=base, smsc=smsc, cfg=cfg,
                   redis_port=redis_port, hport=hport, good_pw=good_pw)
        bind_failure(ctx, bad_pw)
        send_test(ctx)
        daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"))
        ctx["daemon"] = daemon
        daemon.start(base)
        wait_bound(smsc)
        receipts_of = notices(ctx)
        flow_control(ctx)
        drop_in_flight(ctx)
        restart_and_receipts(ctx, receipts_of)
        citizen_reply(ctx)
        shutdown(ctx, "after the receipts")
        payload(ctx)
        silent_smsc(ctx)
        shutdown(ctx, "at the end")
    except AssertionError as e:
        check(False, str(e))
    return finish(tmp, procs, ["tinbaod.log", "tinbaod-bad.log", "smsc.log"])


def wait_bound(smsc, sessions=1):
    return wait_for(lambda: len(smsc.stats()["bound"]) >= sessions, 20, "tinbaod bound")


def post(ctx, ev):
    st, body = http("POST", ctx["base"] + "/v1/events", ev, AUTH)
    assert st == 202, "event %s not accepted: %s %s" % (ev["event_id"], st, body)


def message(ctx, eid):
    st, rec = http("GET", ctx["base"] + "/v1/events/" + eid, headers=AUTH)
    return rec["messages"][0] if st == 200 and rec.get("messages") else None


def settled(ctx, eid, states=("sent", "delivered", "failed"), timeout=30):
    return wait_for(lambda: (lambda m: m if m and m.get("state") in states else None)(
        message(ctx, eid)), timeout, "message of %s %s" % (eid, "/".join(states)))


def message_state(ctx, mid):
    st, rec = http("GET", ctx["base"] + "/v1/messages/" + mid, headers=AUTH)
    return rec.get("state") if st == 200 else None


def receipt(ctx, smsc_id, stat="DELIVRD", err=None):
    spec = {"message_id": smsc_id, "stat": stat}
    if err:
        spec["err"] = err
    got = ctx["smsc"].control(receipt=spec)
    assert got.get("sent", {}).get("sent") == smsc_id, "the fake did not send the receipt: %s" % got


def answered_receipts(smsc):
    """Every deliver_sm sent got a deliver_sm_resp with status 0 on its session."""
    out = {(p["session"], p["sequence_number"]) for p in smsc.pdus("deliver_sm", "out")}
    back = {(p["session"], p["sequence_number"]): p["command_status"]
            for p in smsc.pdus("deliver_sm_resp", "in")}
    return out and all(back.get(k) == 0 for k in out)


def bind_failure(ctx, bad_pw):
    """A password the SMSC refuses: reported, not retried in a loop."""
    smsc, base = ctx["smsc"], ctx["base"]
    cfg = os.path.join(ctx["tmp"], "tinbao-bad.yaml")
    with open(cfg, "w") as f:
        f.write(config(ctx["tmp"], ctx["hport"], smsc.port, bad_pw, ctx["args"].backend,
                       ctx["redis_port"]))
    daemon = Daemon(ctx["procs"], ctx["args"].tinbaod, cfg, os.path.join(ctx["tmp"],
                                                                          "tinbaod-bad.log"))
    daemon.start(base)
    try:
        ready = wait_for(lambda: (lambda r: r[1] if r[1].get("providers", {}).get("smsc") else None)(
            http("GET", base + "/readyz")), 20, "the account problem on /readyz")
        problem = ready["providers"]["smsc"]
        check("ESME_RINVPASWD" in problem or "password" in problem,
              "/readyz names the refused password: " + problem)
        fams = prometheus.parse(http("GET", base + "/metrics")[1])
        check(prometheus.value(fams, "tinbao_provider_problem", provider="smsc") == 1,
              "tinbao_provider_problem{provider=\"smsc\"} is 1")
        binds = smsc.pdus("bind_transceiver", "in")
        check(len(binds) >= 1 and binds[0]["body"]["system_id"] == SYSTEM_ID and
              binds[0]["body"]["password"] == "Old2025x" and
              binds[0]["body"]["interface_version"] == 0x34,
              "bind_transceiver with system_id, password and interface_version 0x34: %s"
              % (binds[0]["body"] if binds else None))
        refused = [p for p in smsc.pdus("bind_transceiver_resp", "out")
                   if p["command_status"] == ESME_RINVPASWD]
        check(len(refused) >= 1, "the fake answered ESME_RINVPASWD")
        # Not asked again at once: over 3 s the SMSC sees no second bind (a tight loop would
        # make dozens; the adapter waits a minute or more after a refused account).
        check(stays(lambda: len(smsc.pdus("bind_transceiver", "in")) > 1, 3),
              "no second bind within 3 s of a refused password (binds seen: %d)"
              % len(smsc.pdus("bind_transceiver", "in")))
        log = daemon.log_text()
        check("password refused" in log or "ESME_RINVPASWD" in log,
              "the log says the password was refused")
        check("Old2025x" not in log and PASSWORD not in log, "no password in the log")
    finally:
        check(daemon.stop() == 0, "tinbaod (refused account) stops cleanly")
    smsc.control(reset=True)


def send_test(ctx):
    """tinbaoctl send-test: one bind, one submit_sm, the SMSC's answers printed, one unbind."""
    smsc, args = ctx["smsc"], ctx["args"]
    text = ucs_text("G-SEND-TEST")

    def send_test_run():
        return subprocess.run([args.tinbaoctl, "--config", ctx["cfg"], "send-test", "--provider",
                               "smsc", "--to", "0912 345 678", "--text", text],
                              capture_output=True, text=True, timeout=60)
    ctl = send_test_run()
    shown = ctl.stdout + ctl.stderr
    try:
        out = json.loads(ctl.stdout)
    except ValueError:
        out = {}
    check(ctl.returncode == 0 and out.get("ok") is True,
          "tinbaoctl send-test succeeds: exit %d, %s" % (ctl.returncode, shown[-400:]))
    same_pdus(smsc.submits(), text, True, "send-test")
    resps = smsc.pdus("submit_sm_resp", "out")
    smsc_id = resps[0]["body"].get("message_id") if len(resps) == 1 else None
    check(smsc_id and out.get("provider_message_id") == smsc_id and
          "submit_sm_resp ESME_ROK" in out.get("raw_response", ""),
          "send-test prints the SMSC's submit_sm_resp and its message_id %s: %s" % (
              smsc_id, out.get("raw_response")))
    check(PHONE not in shown and MSISDN not in shown and "0912***678" in ctl.stdout,
          "send-test masks the number in what it prints")
    check(len(smsc.pdus("bind_transceiver", "in")) == 1 and
          len(smsc.pdus("unbind", "in")) == 1, "send-test binds once and unbinds")

    # A refused submit_sm: printed with its status, and the command fails.
    smsc.control(reset=True)
    smsc.control(fail_next=1, status=ESME_RINVDSTADR)
    ctl = send_test_run()
    check(ctl.returncode != 0 and "ESME_RINVDSTADR" in ctl.stdout + ctl.stderr,
          "send-test shows a refused submit_sm (ESME_RINVDSTADR) and exits non-zero: exit %d, %s"
          % (ctl.returncode, (ctl.stdout + ctl.stderr)[-400:]))
    smsc.control(reset=True)


def notices(ctx):
    """Exact PDUs for GSM 03.38 and UCS-2, one part and several; a receipt each."""
    smsc = ctx["smsc"]
    out = {}
    cases = [("gsm-1", "H12.34-261204-0001", "result_ready", None, False),
             ("gsm-n", "H12.34-261204-0002", "result_ready", GSM_NOTE * 1, False),
             ("ucs-1", "H12.34-261204-0003", "received", None, True),
             ("ucs-n", "H12.34-261204-0004", "received", UCS_NOTE, True)]
    for eid, code, status, note, ucs2 in cases:
        smsc.control(reset=True)
        post(ctx, event(eid, code, status, note))
        m = settled(ctx, eid)
        text = ucs_text(code, note or "") if ucs2 else gsm_text(code, note or "")
        parts = len(expected_pdus(text, ucs2))
        check(m["state"] == "sent" and m["provider"] == "smsc" and m["body"] == text and
              m["encoding"] == ("ucs2" if ucs2 else "gsm7") and m["segments"] == parts,
              "%s: sent via smsc, %s, %d segment(s): %s" % (eid, "UCS-2" if ucs2 else "GSM-7",
                                                            parts, m))
        same_pdus(smsc.submits(), text, ucs2, eid)
        ids = [p["body"]["message_id"] for p in smsc.pdus("submit_sm_resp", "out")]
        check(m.get("provider_message_id") == ",".join(ids),
              "%s: the record keeps the SMSC's message id(s) %s" % (eid, ids))
        out[eid] = (m["id"], ids)

    # One part: the receipt (with TLVs) makes it delivered.
    smsc.control(reset=True)
    mid, ids = out["gsm-1"]
    receipt(ctx, ids[0])
    wait_for(lambda: message_state(ctx, mid) == "delivered", 15, "gsm-1 delivered")
    check(True, "gsm-1: its receipt (receipted_message_id TLV) makes it delivered")
    wait_for(lambda: answered_receipts(smsc), 10, "deliver_sm_resp")
    check(True, "gsm-1: the receipt got its deliver_sm_resp (ESME_ROK)")
    # The text alone (no TLVs): the id is read from "id:...".
    smsc.control(reset=True, receipt_tlvs=False)
    mid, ids = out["ucs-1"]
    receipt(ctx, ids[0])
    wait_for(lambda: message_state(ctx, mid) == "delivered", 15, "ucs-1 delivered")
    check(True, "ucs-1: a receipt with only the id:... text makes it delivered")
    wait_for(lambda: answered_receipts(smsc), 10, "deliver_sm_resp")
    smsc.control(receipt_tlvs=True)
    # In parts: one part's receipt before the restart; delivered only with every part's.
    mid, ids = out["ucs-n"]
    receipt(ctx, ids[0])
    wait_for(lambda: answered_receipts(smsc), 10, "deliver_sm_resp")
    check(stays(lambda: message_state(ctx, mid) != "sent", 1),
          "ucs-n: still sent after part 1/%d's receipt" % len(ids))
    return out


def flow_control(ctx):
    """ESME_RTHROTTLED and ESME_RMSGQFUL are retried; ESME_RINVDSTADR is permanent."""
    smsc = ctx["smsc"]
    for eid, status, times in (("thr-1", ESME_RTHROTTLED, 2), ("qf-1", ESME_RMSGQFUL, 1)):
        smsc.control(reset=True, fail_next=times, status=status)
        code = "H12.34-261204-0%s" % ("101" if eid == "thr-1" else "102")
        post(ctx, event(eid, code))
        m = settled(ctx, eid)
        subs = smsc.submits()
        resps = [p["command_status"] for p in smsc.pdus("submit_sm_resp", "out")]
        check(m["state"] == "sent" and len(subs) == times + 1 and
              resps == [status] * times + [0] and
              all(s["body"] == subs[0]["body"] for s in subs) and
              same_pdus(subs[-1:], gsm_text(code), False, eid + " (last)"),
              "%s: 0x%02x %d time(s), then the same submit_sm accepted: %s, answers %s"
              % (eid, status, times, m["state"], resps))
    smsc.control(reset=True, fail_next=1, status=ESME_RINVDSTADR)
    post(ctx, event("inv-1", "H12.34-261204-0103"))
    m = settled(ctx, "inv-1")
    check(m["state"] == "failed" and len(smsc.submits()) == 1,
          "inv-1: ESME_RINVDSTADR fails the message at once, one submit_sm: %s" % m)


def drop_in_flight(ctx):
    """The connection drops while submit_sm wait for their answers.

    No message may be lost: every one ends sent. "Not sent twice by tinbao's own choice": a
    submit_sm whose submit_sm_resp tinbao received is never sent again. A submit_sm that was in
    flight when the connection dropped (the SMSC got it, its answer never came) may be sent once
    more after the bind is back: tinbao cannot know whether the SMSC took it, and at-least-once
    is the only safe answer; that second copy is the network's doing, not tinbao's.
    """
    smsc = ctx["smsc"]
    smsc.control(reset=True, hold=True)
    codes = ["H12.34-261204-02%02d" % i for i in range(6)]
    for i, code in enumerate(codes):
        post(ctx, event("drop-%d" % i, code))
    # The window (max_in_flight 4, one bind): four submit_sm wait, no fifth is sent.
    wait_for(lambda: smsc.stats()["held"] >= 4, 20, "four submit_sm held")
    check(stays(lambda: smsc.stats()["held"] > 4, 1),
          "the window: 4 submit_sm outstanding on the bind (max_in_flight 4), no more")
    smsc.control(release=2)
    # Two answered and recorded by tinbao: their submit_sm_resp were read.
    answered = {p["body"]["message_id"] for p in smsc.pdus("submit_sm_resp", "out")}
    wait_for(lambda: sum(1 for i in range(6) if (message(ctx, "drop-%d" % i) or {}).get(
        "provider_message_id") in answered) == 2, 20, "two messages sent before the drop")
    wait_for(lambda: smsc.stats()["held"] >= 4, 20, "the window full again")
    in_flight = [bytes.fromhex(h["body"]["short_message"]).decode()
                 for h in smsc.submits()[2:]]
    smsc.control(drop=True, hold=False)
    wait_bound(smsc)
    ms = [settled(ctx, "drop-%d" % i) for i in range(6)]
    check(all(m["state"] == "sent" for m in ms), "after the drop every message is sent: %s"
          % [m["state"] for m in ms])
    subs = [(bytes.fromhex(s["body"]["short_message"]).decode(), s["session"])
            for s in smsc.submits()]
    for i, code in enumerate(codes):
        sessions = [sess for text, sess in subs if code in text]
        n = len(sessions)
        was_in_flight = any(code in s for s in in_flight)
        m = ms[i]
        if m["provider_message_id"] in answered:
            check(n == 1, "drop-%d: answered before the drop, sent once (%d)" % (i, n))
        elif was_in_flight:
            check(n == 1 or (n == 2 and sessions[1] > sessions[0]),
                  "drop-%d: in flight at the drop, sent again at most once, on the new bind "
                  "(sessions %s)" % (i, sessions))
        else:
            check(n == 1, "drop-%d: not yet sent at the drop, sent once after it (%d)" % (i, n))


def silent_smsc(ctx):
    """The SMSC stops answering (a hung peer): the submit_sm waits out its deadline, the bind
    is given up (enquire_link unanswered) and made again; once the SMSC answers, the message is
    sent."""
    smsc = ctx["smsc"]
    smsc.control(reset=True, silent=True)
    code = "H12.34-261204-0401"
    post(ctx, event("mute-1", code))
    wait_for(lambda: len(smsc.submits()) >= 1, 20, "the submit_sm to the silent SMSC")
    # A new connection's bind_transceiver: the silent session was given up.
    wait_for(lambda: len(smsc.pdus("bind_transceiver", "in")) >= 1, 40,
             "a bind on a new connection after the SMSC fell silent")
    smsc.control(silent=False)
    m = settled(ctx, "mute-1", timeout=60)
    subs = smsc.submits()
    check(m["state"] == "sent" and len(subs) >= 2 and
          subs[-1]["session"] > subs[0]["session"],
          "mute-1: unanswered, then sent again on a new bind once the SMSC answers (%s, %d "
          "submit_sm)" % (m["state"], len(subs)))


def restart_and_receipts(ctx, out):
    """Receipts after a restart find their messages (kept in the queue's state)."""
    smsc, daemon = ctx["smsc"], ctx["daemon"]
    shutdown(ctx, "before the restart")
    smsc.control(reset=True)
    daemon.start(ctx["base"])
    wait_bound(smsc)
    # ucs-n: part 1 arrived before the restart; the others now.
    mid, ids = out["ucs-n"]
    for k, sid in enumerate(ids[1:], start=2):
        receipt(ctx, sid)
        wait_for(lambda: answered_receipts(smsc), 10, "deliver_sm_resp")
        if k < len(ids):
            check(stays(lambda: message_state(ctx, mid) != "sent", 1),
                  "ucs-n: still sent after part %d/%d's receipt" % (k, len(ids)))
    wait_for(lambda: message_state(ctx, mid) == "delivered", 15, "ucs-n delivered")
    check(True, "ucs-n: delivered once every part's receipt came (part 1 before the restart)")
    # gsm-n: one part undelivered -> failed, and a later DELIVRD does not bring it back.
    smsc.control(reset=True)
    mid, ids = out["gsm-n"]
    receipt(ctx, ids[0], "UNDELIV", "034")
    receipt(ctx, ids[1])
    wait_for(lambda: message_state(ctx, mid) == "failed", 15, "gsm-n failed")
    rec = http("GET", ctx["base"] + "/v1/messages/" + mid, headers=AUTH)[1]
    check("stat:UNDELIV err:034" in json.dumps(rec),
          "gsm-n: UNDELIV for one part makes the message failed, the receipt's stat and err in "
          "its record: %s" % rec.get("last_error"))
    receipt(ctx, ids[0])
    wait_for(lambda: answered_receipts(smsc) and len(smsc.pdus("deliver_sm_resp", "in")) == 3,
             10, "three deliver_sm_resp")
    check(stays(lambda: message_state(ctx, mid) != "failed", 1),
          "gsm-n: a later DELIVRD does not bring a failed message back")
    # gsm-1, delivered before the restart: its receipt again changes nothing.
    smsc.control(reset=True)
    mid, ids = out["gsm-1"]
    receipt(ctx, ids[0], "UNDELIV", "001")
    check(stays(lambda: message_state(ctx, mid) != "delivered", 1),
          "gsm-1: a receipt after delivered is answered and changes nothing")
    wait_for(lambda: answered_receipts(smsc), 10, "deliver_sm_resp")


def citizen_reply(ctx):
    smsc = ctx["smsc"]
    smsc.control(reset=True)
    got = smsc.control(mo={"source_addr": "84987654321", "to": SENDER, "text": "Cam on"})
    check(got.get("sent") == {"mo": True}, "the fake sent a citizen's deliver_sm")
    wait_for(lambda: answered_receipts(smsc), 10, "deliver_sm_resp for the reply")
    check(True, "a citizen's reply (not a receipt) gets its deliver_sm_resp (ESME_ROK)")
    check("987654321" not in ctx["daemon"].log_text(), "the citizen's number is not in the log")


def shutdown(ctx, when):
    smsc, daemon = ctx["smsc"], ctx["daemon"]
    before = len(smsc.pdus("unbind", "in"))
    code = daemon.stop()
    unbinds = smsc.pdus("unbind", "in")
    check(code == 0 and len(unbinds) == before + 1,
          "shutdown %s: tinbaod sends unbind and exits 0 (exit %s, unbind seen %d)"
          % (when, code, len(unbinds) - before))
    check(len(smsc.pdus("unbind_resp", "out")) >= len(unbinds), "the fake answered unbind")


def payload(ctx):
    """long_messages: payload: one submit_sm, the text in message_payload. This daemon's
    provider timeout is 2 s, for silent_smsc() after it: its waits are that deadline's."""
    smsc = ctx["smsc"]
    cfg = os.path.join(ctx["tmp"], "tinbao-payload.yaml")
    with open(cfg, "w") as f:
        f.write(config(ctx["tmp"], ctx["hport"], smsc.port, ctx["good_pw"], ctx["args"].backend,
                       ctx["redis_port"], "payload", timeout="2s"))
    daemon = Daemon(ctx["procs"], ctx["args"].tinbaod, cfg,
                    os.path.join(ctx["tmp"], "tinbaod.log"))
    ctx["daemon"] = daemon
    smsc.control(reset=True)
    daemon.start(ctx["base"])
    wait_bound(smsc)
    code = "H12.34-261204-0301"
    post(ctx, event("pay-1", code, "received", UCS_NOTE))
    m = settled(ctx, "pay-1")
    text = ucs_text(code, UCS_NOTE)
    subs = smsc.submits()
    want = submit_body(b"", 8)
    check(m["state"] == "sent" and len(subs) == 1 and subs[0]["body"] == want and
          subs[0]["tlvs"] == {"message_payload": text.encode("utf-16-be").hex()},
          "pay-1: one submit_sm, short_message empty, message_payload the whole UCS-2 text: %s"
          % (subs[0] if subs else None))
    ids = [p["body"]["message_id"] for p in smsc.pdus("submit_sm_resp", "out")]
    receipt(ctx, ids[0])
    wait_for(lambda: message_state(ctx, m["id"]) == "delivered", 15, "pay-1 delivered")
    check(True, "pay-1: its receipt makes it delivered")


if __name__ == "__main__":
    sys.exit(main())
