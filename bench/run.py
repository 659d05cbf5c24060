#!/usr/bin/env python3
"""tinbao benchmark: redis-server (AOF, appendfsync everysec), the fast fake eSMS, tinbaod, and
the load generator, all on 127.0.0.1. Prints one JSON summary:

  accepted events/s (load generator), delivered messages/s (counted at the fake), ingest latency
  p50/p99, end-to-end p50/p99 (acceptance -> provider answer, from tinbaod's histogram), tinbaod
  CPU seconds per 1,000 messages, Redis commands per event, tinbaod peak RSS.

Usage: bench/run.py [--build build/release] [--count 20000] [--rate 0] [--concurrency 64]
                    [--latency-ms 0] [--max-in-flight 1000] [--backend redis|sqlite]
Everything it starts is stopped at the end; nothing listens beyond loopback.
"""

import argparse
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

TOKEN = "bench-token-0123456789abcdef0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


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


def cpu_seconds(pid, children=False):
    """User + system CPU of a process; with children, also of the children it has reaped
    (Redis's AOF rewrites run in a forked child)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    total = int(fields[11]) + int(fields[12])
    if children:
        total += int(fields[13]) + int(fields[14])
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def histogram_quantile(metrics, name, q):
    buckets = []
    for line in metrics.splitlines():
        if line.startswith(name + "_bucket{"):
            le = line.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.split()[-1])))
    if not buckets or buckets[-1][1] == 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_le, prev_c = 0.0, 0.0
    for le, c in buckets:
        if c >= rank:
            if le == float("inf"):
                return prev_le
            # linear interpolation inside the bucket
            return prev_le + (le - prev_le) * ((rank - prev_c) / max(c - prev_c, 1e-9))
        prev_le, prev_c = le, c
    return prev_le


def redis_calls(cli, port):
    out = subprocess.run([cli, "-p", str(port), "INFO", "commandstats"], capture_output=True,
                         text=True).stdout
    total = 0
    for line in out.splitlines():
        if line.startswith("cmdstat_") and "calls=" in line:
            total += int(line.split("calls=")[1].split(",")[0])
    return total


def commit_of(root):
    try:
        out = subprocess.run(["git", "-C", root, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        return out or None
    except OSError:
        return None


def machine():
    model = None
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model,
            "load_average_before": os.getloadavg()[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--count", type=int, default=20000)
    ap.add_argument("--rate", type=float, default=0)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency-ms", type=int, default=0)
    ap.add_argument("--max-in-flight", type=int, default=1000)
    ap.add_argument("--backend", default="redis")
    ap.add_argument("--histogram", action="store_true",
                    help="print tinbaod's end-to-end histogram (to stderr)")
    ap.add_argument("--commandstats", action="store_true",
                    help="print Redis's per-command statistics (to stderr)")
    args = ap.parse_args()
    host = machine()  # before anything starts: the load average says how quiet the box was
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.join(root, args.build) if not os.path.isabs(args.build) else args.build
    tinbaod = os.path.join(build, "daemon/tinbaod")
    loadgen = os.path.join(build, "bench/bench_loadgen")
    fake_bin = os.path.join(build, "bench/bench_fake_provider")
    for b in (tinbaod, loadgen, fake_bin):
        if not os.path.exists(b):
            raise SystemExit("bench: %s missing; build first: cmake --preset release && "
                             "cmake --build --preset release" % b)
    tmp = tempfile.mkdtemp(prefix="tinbao-bench-")
    procs = []
    try:
        rport = free_port()
        redis_cli = shutil.which("redis-cli")
        if args.backend == "redis":
            procs.append(subprocess.Popen(
                [shutil.which("redis-server"), "--port", str(rport), "--bind", "127.0.0.1",
                 "--dir", tmp, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                 "--daemonize", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait(lambda: subprocess.run([redis_cli, "-p", str(rport), "PING"],
                                        capture_output=True, text=True).stdout.strip() == "PONG",
                 10, "redis")
        fake = subprocess.Popen([fake_bin, "--latency-ms", str(args.latency_ms)],
                                stdout=subprocess.PIPE, text=True)
        procs.append(fake)
        fport = int(fake.stdout.readline().split()[1])
        hport = free_port()
        queue = (f'queue: {{ backend: redis, redis: {{ url: "redis://127.0.0.1:{rport}/0" }} }}'
                 if args.backend == "redis" else "queue: { backend: sqlite }")
        cfg = os.path.join(tmp, "bench.yaml")
        with open(cfg, "w") as f:
            f.write(f"""
state_dir: {tmp}/state
log: {{ level: warn, format: text }}
http:
  listen: 127.0.0.1:{hport}
  clients: [ {{ name: bench, token: "{TOKEN}" }} ]
{queue}
templates: {{ dir: {root}/templates }}
routes:
  - {{ status: [result_ready], channels: [sms] }}
providers:
  - name: esms
    channel: sms
    type: esms
    base_url: http://127.0.0.1:{fport}
    api_key: bench
    secret_key: bench
    brandname: BENCH
    rate_per_second: 0
    max_in_flight: {args.max_in_flight}
    timeout: 10s
""")
        log = open(os.path.join(tmp, "tinbaod.log"), "w")
        d = subprocess.Popen([tinbaod, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
        procs.append(d)
        base = "http://127.0.0.1:%d" % hport
        wait(lambda: get(base + "/readyz"), 20, "tinbaod")
        cpu0 = cpu_seconds(d.pid)
        rcpu0 = cpu_seconds(procs[0].pid, children=True) if args.backend == "redis" else 0
        fcpu0 = cpu_seconds(fake.pid)
        lg0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        calls0 = redis_calls(redis_cli, rport) if args.backend == "redis" else 0
        t0 = time.monotonic()
        lg = subprocess.run([loadgen, "--port", str(hport), "--token", TOKEN, "--count",
                             str(args.count), "--rate", str(args.rate), "--concurrency",
                             str(args.concurrency), "--prefix", "b%d" % int(time.time())],
                            capture_output=True, text=True)
        lg1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = json.loads(lg.stdout)
        wait(lambda: json.loads(get("http://127.0.0.1:%d/_stats" % fport))["accepted"] >=
             load["accepted"], 600, "every event delivered")
        t1 = time.monotonic()
        stats = json.loads(get("http://127.0.0.1:%d/_stats" % fport))
        cpu1 = cpu_seconds(d.pid)
        rcpu1 = cpu_seconds(procs[0].pid, children=True) if args.backend == "redis" else 0
        fcpu1 = cpu_seconds(fake.pid)
        per_1000 = lambda x: round(1000 * x / max(stats["accepted"], 1), 3)
        calls1 = redis_calls(redis_cli, rport) if args.backend == "redis" else 0
        metrics = get(base + "/metrics")
        if args.histogram:
            print("\n".join(l for l in metrics.splitlines()
                            if l.startswith(("tinbao_end_to_end_seconds", "tinbao_messages_deferred", "tinbao_retries", "tinbao_provider_requests")) and not l.startswith("#")), file=sys.stderr)
        if args.backend == "redis" and args.commandstats:
            print(subprocess.run([redis_cli, "-p", str(rport), "INFO", "commandstats"],
                                 capture_output=True, text=True).stdout, file=sys.stderr)
        summary = {
            "commit": commit_of(root),
            "machine": host,
            "backend": args.backend,
            "events": args.count,
            "provider_latency_ms": args.latency_ms,
            "max_in_flight": args.max_in_flight,
            "load": load,
            "delivered": stats["accepted"],
            "duplicates_at_provider": stats["duplicates"],
            "delivered_per_second": round(stats["accepted"] / (t1 - t0), 1),
            "end_to_end_p50_ms": round(1000 * (histogram_quantile(
                metrics, "tinbao_end_to_end_seconds", 0.5) or 0), 1),
            "end_to_end_p99_ms": round(1000 * (histogram_quantile(
                metrics, "tinbao_end_to_end_seconds", 0.99) or 0), 1),
            "tinbaod_cpu_seconds_per_1000": round(1000 * (cpu1 - cpu0) / max(stats["accepted"], 1), 3),
            "redis_cpu_seconds_per_1000": per_1000(rcpu1 - rcpu0)
            if args.backend == "redis" else None,
            "loadgen_cpu_seconds_per_1000": per_1000(lg1.ru_utime + lg1.ru_stime -
                                                     lg0.ru_utime - lg0.ru_stime),
            "fake_cpu_seconds_per_1000": per_1000(fcpu1 - fcpu0),
            "redis_commands_per_event": round((calls1 - calls0) / max(load["accepted"], 1), 2)
            if args.backend == "redis" else None,
            "tinbaod_peak_rss_mb": round(peak_rss_mb(d.pid), 1),
        }
        print(json.dumps(summary, indent=2))
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
