#!/usr/bin/env python3
"""The smpp adapter's sessions against the fake SMSC (tests/fakes/smsc/smsc.js, the npm package
`smpp` as the server), on loopback:

  1. `bind: pair` against an SMSC that refuses bind_transceiver: each session is a
     bind_transmitter that carries every submit_sm and a bind_receiver that takes the receipts;
     a receipt on the receiver makes the message delivered; a receiver the SMSC refuses is on
     /readyz while sends go on, and binds again once it may; a receiver dropped binds again
     while the transmitter stays; shutdown unbinds both. `bind` is checked by --check.
  2. A reload (tinbaoctl reload, SIGHUP) that leaves the sessions' settings as they were keeps
     the binds: the SMSC sees no unbind and no new bind, and sends go on the old bind; a reload
     with a new password binds again with it and unbinds the old session.
  3. A message in 3 parts whose part 2 is refused once (retryable): the retry sends parts 2 and 3
     only, with the first attempt's UDH reference and numbers; each part is accepted once, and
     the message is delivered when every part's receipt is DELIVRD.
  4. SMPP over TLS (the fake SMSC with a self-signed certificate made by openssl at test time,
     never kept): with that certificate as tls_ca_file a notice is sent and its receipt
     delivered; with another CA the bind fails, /readyz and the log say the certificate is not
     trusted, and the connections come with backoff, not in a loop.
Every wait is on a condition with a deadline.
"""

import argparse
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Procs, check, finish, free_port, http, wait_for  # noqa
import prometheus  # noqa
from test_smpp import (GSM_NOTE, PASSWORD, SYSTEM_ID, TEMPLATES, Smsc, config, event,  # noqa
                       gsm_text, message_state, post, settled, stays)

ESME_RSYSERR = 0x08


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def bound_modes(smsc):
    return {b["session"]: b["mode"] for b in smsc.stats()["bound"]}


def session_of(smsc, mode):
    """The session number of the one session bound as `mode`, or None."""
    ids = [s for s, m in bound_modes(smsc).items() if m == mode]
    return ids[0] if len(ids) == 1 else None


def provider_problem(base):
    return http("GET", base + "/readyz")[1].get("providers", {}).get("smsc", "")


def pair(ctx):
    """bind: pair against an SMSC that wants two binds."""
    args, tmp, procs = ctx["args"], ctx["tmp"], ctx["procs"]
    smsc = Smsc(procs, args.node, ctx["src"], tmp, ["--refuse-transceiver"])
    hport = free_port()
    base = "http://127.0.0.1:%d" % hport
    pw = write(os.path.join(tmp, "pair_pass"), PASSWORD + "\n")

    bad = write(os.path.join(tmp, "pair-bad.yaml"),
                config(tmp, hport, smsc.port, pw, "sqlite", 0, extra="    bind: both\n"))
    chk = subprocess.run([args.tinbaod, "--config", bad, "--check"], capture_output=True,
                         text=True, timeout=60)
    out = chk.stdout + chk.stderr
    check(chk.returncode != 0 and "pair-bad.yaml:" in out and "bind" in out and
          "transceiver or pair" in out,
          "--check refuses `bind: both`, naming the key and file:line: " + out[-300:])

    cfg = write(os.path.join(tmp, "pair.yaml"),
                config(tmp, hport, smsc.port, pw, "sqlite", 0, extra="    bind: pair\n"))
    chk = subprocess.run([args.tinbaod, "--config", cfg, "--check"], capture_output=True,
                         text=True, timeout=60)
    check(chk.returncode == 0, "--check passes with `bind: pair`: " + (chk.stdout +
                                                                          chk.stderr)[-300:])
    daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod-pair.log"))
    daemon.start(base)
    ctx.update(base=base, smsc=smsc)
    wait_for(lambda: sorted(bound_modes(smsc).values()) == ["bind_receiver", "bind_transmitter"],
             20, "a transmitter and a receiver bound")
    check(not smsc.pdus("bind_transceiver", "in"),
          "bind: pair never asks for bind_transceiver")
    binds = smsc.pdus("bind_transmitter", "in") + smsc.pdus("bind_receiver", "in")
    check(len(binds) == 2 and all(b["body"]["password"] == PASSWORD and
                                  b["body"]["interface_version"] == 0x34 for b in binds),
          "one bind_transmitter and one bind_receiver, with the account's password")
    tx, rx = session_of(smsc, "bind_transmitter"), session_of(smsc, "bind_receiver")
    fams = prometheus.parse(http("GET", base + "/metrics")[1])
    check(prometheus.value(fams, "tinbao_provider_binds", provider="smsc") == 1 and
          prometheus.value(fams, "tinbao_provider_receivers", provider="smsc") == 1,
          "tinbao_provider_binds and tinbao_provider_receivers are 1")

    # A submit on the transmitter, its receipt on the receiver.
    post(ctx, event("pair-1", "H12.34-261204-0501"))
    m = settled(ctx, "pair-1")
    subs = smsc.submits()
    check(m["state"] == "sent" and len(subs) == 1 and subs[0]["session"] == tx,
          "pair-1: its submit_sm went on the transmitter (session %s): %s" % (
              tx, [s["session"] for s in subs]))
    mid = m["id"]
    got = smsc.control(receipt={"message_id": m["provider_message_id"]})
    check(got.get("sent", {}).get("sent") == m["provider_message_id"], "the fake sent the receipt")
    wait_for(lambda: message_state(ctx, mid) == "delivered", 15, "pair-1 delivered")
    dl = smsc.pdus("deliver_sm", "out")
    resp = smsc.pdus("deliver_sm_resp", "in")
    check(len(dl) == 1 and dl[0]["session"] == rx and len(resp) == 1 and
          resp[0]["session"] == rx and resp[0]["command_status"] == 0,
          "pair-1: the receipt came on the receiver (session %s), was answered there, and "
          "made the message delivered" % rx)

    # The SMSC refuses the receiver for a while: /readyz says so, sends go on.
    smsc.control(refuse_bind={"bind_receiver": ESME_RSYSERR}, drop="bind_receiver")
    wait_for(lambda: "receiver" in provider_problem(base), 20, "the receiver's problem on /readyz")
    problem = provider_problem(base)
    check("bind_receiver refused" in problem and "receipts" in problem,
          "/readyz names the refused receiver: " + problem)
    check(session_of(smsc, "bind_transmitter") == tx and
          session_of(smsc, "bind_receiver") is None,
          "the receiver is gone, the transmitter stays bound")
    post(ctx, event("pair-2", "H12.34-261204-0502"))
    m2 = settled(ctx, "pair-2")
    subs = smsc.submits()
    check(m2["state"] == "sent" and subs[-1]["session"] == tx,
          "pair-2: sent on the transmitter while no receiver is bound")
    check(session_of(smsc, "bind_receiver") is None,
          "still no receiver (the SMSC refuses it) when pair-2 was sent")
    refused = [p for p in smsc.pdus("bind_receiver_resp", "out")
               if p["command_status"] == ESME_RSYSERR]
    check(1 <= len(refused) <= 4, "the refused receiver is tried again with backoff, not in a "
          "loop (%d refusals)" % len(refused))
    # Bound again once the SMSC lets it, by itself; the problem clears.
    smsc.control(refuse_bind={})
    wait_for(lambda: session_of(smsc, "bind_receiver") not in (None, rx), 30,
             "the receiver bound again")
    wait_for(lambda: provider_problem(base) == "", 10, "/readyz clear")
    check(True, "the receiver binds again by itself and /readyz clears")
    rx2 = session_of(smsc, "bind_receiver")
    smsc.control(receipt={"message_id": m2["provider_message_id"]})
    wait_for(lambda: message_state(ctx, m2["id"]) == "delivered", 15, "pair-2 delivered")
    check(smsc.pdus("deliver_sm", "out")[-1]["session"] == rx2,
          "pair-2: its receipt came on the new receiver and made it delivered")

    # A dropped receiver binds again; the transmitter is not touched.
    smsc.control(drop="bind_receiver")
    wait_for(lambda: session_of(smsc, "bind_receiver") not in (None, rx2), 20,
             "the receiver bound again after a drop")
    check(session_of(smsc, "bind_transmitter") == tx and
          len(smsc.pdus("bind_transmitter", "in")) == 1,
          "after the receiver's drop, the same transmitter (one bind_transmitter in all)")
    rx3 = session_of(smsc, "bind_receiver")

    before = len(smsc.pdus("unbind", "in"))
    code = daemon.stop()
    unbinds = smsc.pdus("unbind", "in")[before:]
    check(code == 0 and len(unbinds) == 2 and {u["session"] for u in unbinds} == {tx, rx3},
          "shutdown unbinds the transmitter and the receiver (exit %s, unbind on sessions %s)"
          % (code, [u["session"] for u in unbinds]))


def reload(ctx, daemon, cfg):
    r = subprocess.run([ctx["args"].tinbaoctl, "--config", cfg, "reload", "--pid",
                        str(daemon.proc.pid), "--timeout", "30"], capture_output=True, text=True,
                       timeout=60)
    return r.returncode == 0, (r.stdout + r.stderr).strip()


def reload_binds(ctx, daemon, cfg, pw):
    """A reload that changes nothing of the sessions keeps the binds; a new password rebinds."""
    smsc, base = ctx["smsc"], ctx["base"]
    # Bound first, then the records forgotten: a bind still being made would otherwise show up
    # after the reset as if the reload had made it.
    session = wait_for(lambda: (lambda b: b[0]["session"] if len(b) == 1 else None)(
        smsc.stats()["bound"]), 20, "one session bound")
    smsc.control(reset=True)
    ok, out = reload(ctx, daemon, cfg)
    check(ok, "tinbaoctl reload (nothing changed): " + out)
    check(stays(lambda: smsc.pdus("bind_transceiver", "in") or smsc.pdus("unbind", "in"), 1.5),
          "reload with the same settings: the SMSC sees no unbind and no new bind")
    post(ctx, event("reload-1", "H12.34-261204-0801"))
    m = settled(ctx, "reload-1")
    subs = smsc.submits()
    check(m["state"] == "sent" and [s["session"] for s in subs] == [session],
          "reload-1: sent on the bind made before the reload (session %s)" % session)

    # A new password (the SMSC's account changed): bound again with it, the old bind unbound.
    smsc.control(reset=True, password={SYSTEM_ID: "New2026p"})
    write(pw, "New2026p\n")
    ok, out = reload(ctx, daemon, cfg)
    check(ok, "tinbaoctl reload (a new password): " + out)
    wait_for(lambda: len(smsc.pdus("bind_transceiver_resp", "out")) >= 1 and
             len(smsc.pdus("unbind", "in")) >= 1, 20, "a new bind and the old one's unbind")
    binds = smsc.pdus("bind_transceiver", "in")
    unbinds = smsc.pdus("unbind", "in")
    check(len(binds) == 1 and binds[0]["body"]["password"] == "New2026p" and
          [u["session"] for u in unbinds] == [session],
          "reload with a new password: one bind with it, the old session unbound")
    post(ctx, event("reload-2", "H12.34-261204-0802"))
    m = settled(ctx, "reload-2")
    subs = smsc.submits()
    check(m["state"] == "sent" and len(subs) == 1 and subs[0]["session"] == binds[0]["session"],
          "reload-2: sent on the new bind")


def udh(sm_hex):
    sm = bytes.fromhex(sm_hex)
    return (sm[3], sm[4], sm[5]) if sm[:3] == b"\x05\x00\x03" else None


def parts_retry(ctx):
    """Part 2 of 3 refused once (retryable): the retry sends parts 2 and 3 only, with the same
    reference and numbers; each part accepted once; delivered when every part's receipt is."""
    smsc, base = ctx["smsc"], ctx["base"]
    smsc.control(reset=True, fail_next=1, after=1, status=ESME_RSYSERR)
    code = "H12.34-261204-0701"
    post(ctx, event("parts-1", code, note=GSM_NOTE * 2))
    m = settled(ctx, "parts-1", states=("sent",), timeout=30)
    subs = smsc.submits()
    resps = {(r["session"], r["sequence_number"]): r for r in smsc.pdus("submit_sm_resp", "out")}
    got = [(udh(s["body"]["short_message"]),
            resps.get((s["session"], s["sequence_number"]), {}).get("command_status"),
            resps.get((s["session"], s["sequence_number"]), {}).get("body", {}).get("message_id"))
           for s in subs]
    heads = [g[0] for g in got]
    refs = {h[0] for h in heads if h}
    check(len(subs) == 4 and all(heads) and len(refs) == 1 and
          [(h[1], h[2]) for h in heads] == [(3, 1), (3, 2), (3, 2), (3, 3)] and
          [g[1] for g in got] == [0, ESME_RSYSERR, 0, 0],
          "parts-1: part 1 accepted, part 2 refused, then parts 2 and 3 only, one reference, "
          "the same numbers: %s" % [(h, st) for h, st, _ in got])
    accepted = [g for g in got if g[1] == 0]
    check(sorted(g[0][2] for g in accepted) == [1, 2, 3],
          "parts-1: each part accepted exactly once")
    bodies = {}
    for s, g in zip(subs, got):
        if g[1] == 0:
            bodies[g[0][2]] = bytes.fromhex(s["body"]["short_message"])[6:]
    text = gsm_text(code, GSM_NOTE * 2)
    check(b"".join(bodies[k] for k in sorted(bodies)).decode() == text,
          "parts-1: the accepted parts make the text")
    ids = [g[2] for g in sorted(accepted, key=lambda g: g[0][2])]
    check(m["provider_message_id"] == ",".join(ids),
          "parts-1: the record has every part's message id in order: %s" % m["provider_message_id"])
    for k, sid in enumerate(ids, start=1):
        smsc.control(receipt={"message_id": sid})
        if k < len(ids):
            check(stays(lambda: message_state(ctx, m["id"]) != "sent", 0.5),
                  "parts-1: still sent after %d of 3 receipts" % k)
    wait_for(lambda: message_state(ctx, m["id"]) == "delivered", 15, "parts-1 delivered")
    check(True, "parts-1: delivered once every part's receipt is DELIVRD")


def same_settings(ctx):
    """A transceiver session and reloads: same settings, then a new password."""
    args, tmp, procs = ctx["args"], ctx["tmp"], ctx["procs"]
    smsc = Smsc(procs, args.node, ctx["src"], tmp)
    hport = free_port()
    base = "http://127.0.0.1:%d" % hport
    pw = write(os.path.join(tmp, "reload_pass"), PASSWORD + "\n")
    cfg = write(os.path.join(tmp, "reload.yaml"), config(tmp, hport, smsc.port, pw, "sqlite", 0))
    daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod-reload.log"))
    daemon.start(base)
    ctx.update(base=base, smsc=smsc)
    parts_retry(ctx)
    reload_binds(ctx, daemon, cfg, pw)
    check(daemon.stop() == 0, "tinbaod stops cleanly after the reloads")


def make_cert(tmp, name):
    """A throwaway self-signed certificate for 127.0.0.1 (and its key), made now by openssl."""
    key, cert = os.path.join(tmp, name + ".key"), os.path.join(tmp, name + ".pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=" + name, "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True, timeout=60)
    return key, cert


def tls(ctx):
    """SMPP over TLS: the SMSC's certificate verified against tls_ca_file; one that is not
    trusted fails to bind, clearly, without a reconnect loop."""
    args, tmp, procs = ctx["args"], ctx["tmp"], ctx["procs"]
    key, cert = make_cert(tmp, "smsc-tls")
    _, other = make_cert(tmp, "other-ca")
    smsc = Smsc(procs, args.node, ctx["src"], tmp, ["--tls-key", key, "--tls-cert", cert])
    hport = free_port()
    base = "http://127.0.0.1:%d" % hport
    pw = write(os.path.join(tmp, "tls_pass"), PASSWORD + "\n")
    ctx.update(base=base, smsc=smsc)

    # A certificate the configured CA did not sign: no bind, a clear reason, no loop.
    cfg = write(os.path.join(tmp, "tls-untrusted.yaml"),
                config(tmp, hport, smsc.port, pw, "sqlite", 0,
                       extra="    tls: true\n    tls_ca_file: %s\n" % other))
    daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod-tls.log"))
    daemon.start(base)
    wait_for(lambda: "TLS" in provider_problem(base), 20, "the TLS failure on /readyz")
    problem = provider_problem(base)
    check("not trusted" in problem and "tls_ca_file" in problem,
          "/readyz: the SMSC's certificate is not trusted: " + problem)
    log = daemon.log_text()
    check("certificate is not trusted" in log, "the log says the certificate is not trusted")
    first = smsc.stats()
    check(first["tls_errors"] >= 1 and not smsc.pdus(direction="in"),
          "the SMSC saw the handshake fail and no PDU (%d TLS errors)" % first["tls_errors"])
    check(stays(lambda: smsc.stats()["connections"] > first["connections"] + 2, 3),
          "no tight reconnect loop: at most 2 more connections within 3 s (backoff)")
    check(daemon.stop() == 0, "tinbaod (untrusted certificate) stops cleanly")

    # The CA that signed it: bound over TLS, a notice sent and its receipt delivered.
    smsc.control(reset=True)
    cfg = write(os.path.join(tmp, "tls.yaml"),
                config(tmp, hport, smsc.port, pw, "sqlite", 0,
                       extra="    tls: true\n    tls_ca_file: %s\n" % cert))
    chk = subprocess.run([args.tinbaod, "--config", cfg, "--check"], capture_output=True,
                         text=True, timeout=60)
    check(chk.returncode == 0, "--check passes with tls and tls_ca_file")
    daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod-tls.log"))
    daemon.start(base)
    wait_for(lambda: len(smsc.stats()["bound"]) == 1, 20, "bound over TLS")
    post(ctx, event("tls-1", "H12.34-261204-0601"))
    m = settled(ctx, "tls-1")
    subs = smsc.submits()
    check(m["state"] == "sent" and len(subs) == 1 and
          bytes.fromhex(subs[0]["body"]["short_message"]).decode() == m["body"],
          "tls-1: sent over TLS, the submit_sm read by the SMSC as sent: %s" % m["state"])
    smsc.control(receipt={"message_id": m["provider_message_id"]})
    wait_for(lambda: message_state(ctx, m["id"]) == "delivered", 15, "tls-1 delivered")
    check(True, "tls-1: its receipt over TLS makes it delivered")
    check(daemon.stop() == 0 and len(smsc.pdus("unbind", "in")) == 1,
          "shutdown unbinds over TLS")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--node", default="node")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="tinbao-smpp-sessions-")
    os.makedirs(os.path.join(tmp, "state"))
    os.makedirs(os.path.join(tmp, "templates"))
    for name, text in TEMPLATES.items():
        write(os.path.join(tmp, "templates", name), text)
    procs = Procs()
    ctx = dict(args=args, tmp=tmp, procs=procs, src=os.path.abspath(args.source_dir))
    try:
        pair(ctx)
        same_settings(ctx)
        tls(ctx)
    except AssertionError as e:
        check(False, str(e))
    return finish(tmp, procs, ["tinbaod-pair.log", "tinbaod-reload.log", "tinbaod-tls.log",
                                "smsc.log"])


if __name__ == "__main__":
    sys.exit(main())
