#!/usr/bin/env python3
"""SMPP throughput: tinbaod's smpp adapter and Kannel's SMPP client (Debian's bearerbox and
smsbox) against the same fake SMSC (tests/fakes/smsc/smsc.js, the npm package `smpp`), in one
run, with the same window of outstanding submit_sm, all on 127.0.0.1.

For each client in turn:
  1. the fake SMSC starts holding its submit_sm_resp answers;
  2. COUNT single-part GSM messages (the same texts for both) are posted over HTTP: to tinbaod
     as events (POST /v1/events), to Kannel's smsbox as sendsms requests;
  3. once every request is answered and the client's window is full at the SMSC (WINDOW
     submit_sm outstanding), the fake answers them and from then on answers at once;
  4. the rate is the submit_sm received after that moment over the time until the last one.
So the number is how fast each client empties its queue over one SMPP bind, not how fast it
takes HTTP requests. The fake checks that every message arrived once (distinct bodies).

Usage: bench/smpp.py [--build build/ci] [--count 20000] [--window 10] [--backend redis|sqlite]
                     [--only tinbao|kannel]
Needs: tinbaod built, `npm ci` done in tests/fakes/smsc, Kannel installed
(`bash scripts/install-deps.sh --bench`). Prints one JSON object with both rates, the commit
and the machine. Everything it starts is stopped at the end.
"""

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

TOKEN = "bench-token-0123456789abcdef0123456789"
SYSTEM_ID, PASSWORD = "bench", "bench-pw"
SENDER = "UBND-VLONG"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(pred, timeout, what):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if pred():
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise SystemExit("bench: timed out waiting for " + what)


def http_json(method, url, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read().decode())


def text_of(i):
    # A realistic unaccented notice (GSM 03.38, one part of about 120 characters), unique per i.
    return ("Ho so 000.00.12.H62-261127-%06d cua Ong/Ba Nguyen Thi Anh Tuyet da co ket qua. "
            "Moi den Quay so 5 nhan ket qua." % i)


async def load(requests, concurrency):
    """Sends every (method, host, port, target, headers, body) over keep-alive connections;
    returns the status codes."""
    queue = list(reversed(requests))
    codes = []

    async def worker():
        reader = writer = None
        while queue:
            method, host, port, target, headers, body = queue.pop()
            for attempt in range(3):
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection(host, port)
                    head = "%s %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Length: %d\r\n%s\r\n" % (
                        method, target, host, port, len(body),
                        "".join("%s: %s\r\n" % kv for kv in headers.items()))
                    writer.write(head.encode() + body)
                    status_line = await reader.readline()
                    if not status_line:
                        raise ConnectionError("closed")
                    code = int(status_line.split()[1])
                    length, close = 0, False
                    while True:
                        line = await reader.readline()
                        if line in (b"\r\n", b"\n", b""):
                            break
                        k, _, v = line.decode("latin-1").partition(":")
                        if k.strip().lower() == "content-length":
                            length = int(v.strip())
                        elif k.strip().lower() == "connection" and "close" in v.lower():
                            close = True
                    if length:
                        await reader.readexactly(length)
                    codes.append(code)
                    if close:
                        writer.close()
                        reader = writer = None
                    break
                except (ConnectionError, OSError, asyncio.IncompleteReadError):
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    if attempt == 2:
                        codes.append(0)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return codes


class Smsc:
    def __init__(self, node, root, tmp):
        self.proc = subprocess.Popen(
            [node, os.path.join(root, "tests/fakes/smsc/smsc.js"), "--account",
             SYSTEM_ID + ":" + PASSWORD, "--no-record"], stdout=subprocess.PIPE,
            stderr=open(os.path.join(tmp, "smsc.log"), "w"), text=True)
        words = self.proc.stdout.readline().split()
        if len(words) != 4:
            raise SystemExit("bench: the fake SMSC did not start (npm ci in tests/fakes/smsc?)")
        self.port, self.url = int(words[1]), "http://127.0.0.1:" + words[3]

    def control(self, **spec):
        return http_json("POST", self.url + "/control", spec)

    def stats(self):
        return http_json("GET", self.url + "/stats")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(smsc, name, count, window, post, pids):
    """Hold, post, release, time. Returns the figures of one client."""
    smsc.control(reset=True, hold=True)
    t0 = time.monotonic()
    codes = post()
    ingest_s = time.monotonic() - t0
    ok = sum(1 for c in codes if 200 <= c < 300)
    if ok != count:
        raise SystemExit("bench: %s accepted %d of %d requests (codes %s)" % (
            name, ok, count, sorted(set(codes))))
    wait(lambda: smsc.stats()["held"] >= window, 120, name + "'s window to fill")
    held = smsc.stats()["held"]
    cpu0 = {p: cpu_seconds(p) for p in pids}
    released = smsc.control(hold=False)["now_ms"]
    wait(lambda: smsc.stats()["submits"] >= count, 600, "every submit_sm from " + name)
    st = smsc.stats()
    cpu = sum(cpu_seconds(p) - cpu0[p] for p in pids)
    seconds = (st["last_submit_ms"] - released) / 1000.0
    after = st["submits"] - held
    return {"client": name, "messages": count, "window_seen": held,
            "submit_sm": st["submits"], "distinct": st["distinct_bodies"],
            "http_ingest_s": round(ingest_s, 2), "smpp_seconds": round(seconds, 3),
            "submit_sm_per_s": round(after / seconds) if seconds > 0 else None,
            "cpu_ms_per_1000": round(cpu * 1000 * 1000 / after, 1) if after else None}


def run_tinbao(args, root, tmp, smsc):
    build = args.build if os.path.isabs(args.build) else os.path.join(root, args.build)
    tinbaod = os.path.join(build, "daemon/tinbaod")
    if not os.path.exists(tinbaod):
        raise SystemExit("bench: %s missing: cmake --preset ci && cmake --build build/ci "
                         "--target tinbaod" % tinbaod)
    procs = []
    try:
        if args.backend == "redis":
            rport = free_port()
            procs.append(subprocess.Popen(
                [shutil.which("redis-server"), "--port", str(rport), "--bind", "127.0.0.1",
                 "--dir", tmp, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                 "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            cli = shutil.which("redis-cli")
            wait(lambda: subprocess.run([cli, "-p", str(rport), "PING"], capture_output=True,
                                        text=True).stdout.strip() == "PONG", 10, "redis")
            queue = 'queue: { backend: redis, redis: { url: "redis://127.0.0.1:%d/0" } }' % rport
        else:
            queue = "queue: { backend: sqlite }"
        os.makedirs(os.path.join(tmp, "templates"), exist_ok=True)
        with open(os.path.join(tmp, "templates", "result_ready.yaml"), "w") as f:
            f.write('sms: "{{ data.text }}"\n')
        hport = free_port()
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(f"""
state_dir: {tmp}/state
log: {{ level: warn, format: text }}
http:
  listen: 127.0.0.1:{hport}
  clients: [ {{ name: bench, token: "{TOKEN}" }} ]
{queue}
templates: {{ dir: {tmp}/templates }}
routes:
  - {{ status: [result_ready], channels: [sms] }}
providers:
  - name: smsc
    channel: sms
    type: smpp
    host: 127.0.0.1
    port: {smsc.port}
    system_id: {SYSTEM_ID}
    password: {PASSWORD}
    source_addr: {SENDER}
    binds: 1
    max_in_flight: {args.window}
    rate_per_second: 0
    timeout: 120s
""")
        log = open(os.path.join(tmp, "tinbaod.log"), "w")
        d = subprocess.Popen([tinbaod, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
        procs.append(d)
        wait(lambda: urllib.request.urlopen("http://127.0.0.1:%d/readyz" % hport, timeout=5),
             20, "tinbaod")
        wait(lambda: smsc.stats()["bound"], 20, "tinbaod's bind")

        def post():
            reqs = []
            for i in range(args.count):
                ev = {"event_id": "bench-%d" % i,
                      "dossier": {"code": "000.00.12.H62-261127-%06d" % i,
                                  "status": "result_ready"},
                      "applicant": {"name": "Nguyễn Thị Ánh Tuyết",
                                    "phone": "09%08d" % (12345678 + i)},
                      "data": {"text": text_of(i)}}
                reqs.append(("POST", "127.0.0.1", hport, "/v1/events",
                             {"Authorization": "Bearer " + TOKEN,
                              "Content-Type": "application/json"},
                             json.dumps(ev, ensure_ascii=False).encode()))
            return asyncio.run(load(reqs, args.concurrency))

        pids = [d.pid] + ([procs[0].pid] if args.backend == "redis" else [])
        out = measure(smsc, "tinbao", args.count, args.window, post, pids)
        out["backend"] = args.backend
        return out
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
        smsc.control(reset=True)
        wait(lambda: not smsc.stats()["bound"], 30, "tinbaod's unbind")


def run_kannel(args, tmp, smsc):
    bearerbox, smsbox = shutil.which("bearerbox"), shutil.which("smsbox")
    if not bearerbox or not smsbox:
        raise SystemExit("bench: Kannel missing: bash scripts/install-deps.sh --bench")
    admin, boxport, sendport = free_port(), free_port(), free_port()
    conf = os.path.join(tmp, "kannel.conf")
    os.makedirs(os.path.join(tmp, "kannel-spool"), exist_ok=True)
    with open(conf, "w") as f:
        f.write(f"""
group = core
admin-port = {admin}
admin-interface = 127.0.0.1
admin-password = bench
admin-allow-ip = 127.0.0.1
smsbox-port = {boxport}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{tmp}/bearerbox.log"
log-level = 2
store-type = spool
store-location = "{tmp}/kannel-spool"

group = smsc
smsc = smpp
smsc-id = fake
host = 127.0.0.1
port = {smsc.port}
transceiver-mode = true
smsc-username = {SYSTEM_ID}
smsc-password = {PASSWORD}
system-type = ""
source-addr-ton = 5
source-addr-npi = 0
dest-addr-ton = 1
dest-addr-npi = 1
max-pending-submits = {args.window}
log-level = 2

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {boxport}
sendsms-port = {sendport}
sendsms-interface = 127.0.0.1
log-file = "{tmp}/smsbox.log"
log-level = 2

group = sendsms-user
username = bench
password = bench
""")
    procs = []
    try:
        for b in (bearerbox, smsbox):
            procs.append(subprocess.Popen([b, conf], stdout=subprocess.DEVNULL,
                                          stderr=open(os.path.join(tmp, os.path.basename(b) +
                                                                   ".stderr"), "w")))
            if b == bearerbox:
                wait(lambda: smsc.stats()["bound"], 30, "Kannel's bind")
        wait(lambda: socket.create_connection(("127.0.0.1", sendport), timeout=1).close() or True,
             30, "smsbox's sendsms port")

        def post():
            reqs = []
            for i in range(args.count):
                q = urllib.parse.urlencode({"username": "bench", "password": "bench",
                                            "from": SENDER, "to": "849%08d" % (12345678 + i),
                                            "text": text_of(i), "coding": "0"})
                reqs.append(("GET", "127.0.0.1", sendport, "/cgi-bin/sendsms?" + q, {}, b""))
            return asyncio.run(load(reqs, args.concurrency))

        return measure(smsc, "kannel", args.count, args.window, post,
                       [p.pid for p in procs])
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/ci")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--backend", default="redis", choices=["redis", "sqlite"])
    ap.add_argument("--only", choices=["tinbao", "kannel"])
    args = ap.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise SystemExit("bench: node missing: bash scripts/install-deps.sh")
    cpu_model = None
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    result = {"commit": subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"],
                                       capture_output=True, text=True).stdout.strip(),
              "cpus": os.cpu_count(), "cpu_model": cpu_model,
              "load_average_before": round(os.getloadavg()[0], 2),
              "count": args.count, "window": args.window}
    tmp = tempfile.mkdtemp(prefix="tinbao-bench-smpp-")
    smsc = Smsc(node, root, tmp)
    try:
        runs = []
        if args.only in (None, "tinbao"):
            os.makedirs(os.path.join(tmp, "tinbao"))
            runs.append(run_tinbao(args, root, os.path.join(tmp, "tinbao"), smsc))
        if args.only in (None, "kannel"):
            os.makedirs(os.path.join(tmp, "kannel"))
            runs.append(run_kannel(args, os.path.join(tmp, "kannel"), smsc))
        result["runs"] = runs
        for r in runs:
            print("%-7s %6s submit_sm/s  (window %d, %d messages, %d distinct, %.1f CPU-ms "
                  "per 1000)" % (r["client"], r["submit_sm_per_s"], r["window_seen"],
                                 r["submit_sm"], r["distinct"], r["cpu_ms_per_1000"] or 0),
                  file=sys.stderr)
        print(json.dumps(result, indent=1))
    finally:
        smsc.proc.terminate()
        smsc.proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
