#!/usr/bin/env python3
"""tinbao benchmark: redis-server (AOF, appendfsync everysec), the fast fake eSMS, tinbaod, and
the load generator, all on 127.0.0.1. Prints one JSON summary:

  accepted events/s (load generator), delivered messages/s (counted at the fake), ingest latency
  p50/p99, end-to-end p50/p99 (acceptance -> provider answer, from tinbaod's histogram), tinbaod
  CPU seconds per 1,000 messages, Redis commands, AOF bytes and memory per event, tinbaod peak
  RSS.

Usage: bench/run.py [--build build/release] [--count 20000] [--rate 0] [--concurrency 64]
                    [--latency-ms 0] [--max-in-flight 1000] [--backend redis|sqlite]
                    [--min-replicas N] [--reminders] [--no-aof-rewrite] [--keep]
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
import threading
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


def redis_info(cli, port, section):
    out = subprocess.run([cli, "-p", str(port), "INFO", section], capture_output=True,
                         text=True).stdout
    info = {}
    for line in out.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            info[k] = v.strip()
    return info


def redis_memory(cli, port):
    """Redis's used_memory (INFO memory), bytes."""
    return int(redis_info(cli, port, "memory").get("used_memory", 0))


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
    ap.add_argument("--system", default="tinbao", choices=("tinbao", "kannel", "both"),
                    help="what delivers the notices: tinbaod, Kannel (bearerbox and smsbox, "
                         "bench/install-kannel.sh), or both one after the other with their ratio")
    ap.add_argument("--histogram", action="store_true",
                    help="print tinbaod's end-to-end histogram (to stderr)")
    ap.add_argument("--min-replicas", type=int, default=0,
                    help="start that many Redis replicas on loopback and set "
                         "queue.redis.min_replicas to it (each 202 then waits for them: WAIT)")
    ap.add_argument("--deliver", default="esms", choices=("esms", "outbox", "none"),
                    help="where the messages go: the fake eSMS over HTTP (libcurl), the outbox "
                         "adapter (a file: no HTTP client), or nowhere (no route for the "
                         "events' status: ingest and the event's commit only). Comparing the "
                         "three tells what each stage costs")
    ap.add_argument("--reminders", action="store_true",
                    help="a reminders rule on the events' status (result_uncollected, 3 days "
                         "later): each event also schedules a reminder")
    ap.add_argument("--commandstats", action="store_true",
                    help="print Redis's per-command statistics (to stderr)")
    ap.add_argument("--keep", action="store_true",
                    help="keep the run's directory (Redis's AOF, tinbaod's log) and say where")
    ap.add_argument("--no-aof-rewrite", action="store_true",
                    help="no automatic AOF rewrite during the run, so that the AOF bytes per "
                         "event are known even for a long run")
    args = ap.parse_args()
    host = machine()  # before anything starts: the load average says how quiet the box was
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    build = os.path.join(root, args.build) if not os.path.isabs(args.build) else args.build
    if args.system == "tinbao":
        print(json.dumps(run_tinbao(args, host, root, build), indent=2))
    elif args.system == "kannel":
        print(json.dumps(run_kannel(args, host, build), indent=2))
    else:
        t = run_tinbao(args, host, root, build)
        k = run_kannel(args, host, build)
        print(json.dumps({"tinbao": t, "kannel": k,
                          "tinbao_delivered_per_second": t["delivered_per_second"],
                          "kannel_delivered_per_second": k["delivered_per_second"],
                          "ratio_tinbao_to_kannel": round(t["delivered_per_second"] /
                                                          max(k["delivered_per_second"], 1e-9), 2)},
                         indent=2))


def need(*paths):
    for b in paths:
        if not os.path.exists(b):
            raise SystemExit("bench: %s missing; build first: cmake --preset release && "
                             "cmake --build --preset release" % b)


def run_tinbao(args, host, root, build):
    tinbaod = os.path.join(build, "daemon/tinbaod")
    loadgen = os.path.join(build, "bench/bench_loadgen")
    fake_bin = os.path.join(build, "bench/bench_fake_provider")
    need(tinbaod, loadgen, fake_bin)
    tmp = tempfile.mkdtemp(prefix="tinbao-bench-")
    procs = []
    try:
        rport = free_port()
        redis_cli = shutil.which("redis-cli")
        if args.backend == "redis":
            procs.append(subprocess.Popen(
                [shutil.which("redis-server"), "--port", str(rport), "--bind", "127.0.0.1",
                 "--dir", tmp, "--appendonly", "yes", "--appendfsync", "everysec", "--save", "",
                 "--daemonize", "no"] +
                (["--auto-aof-rewrite-percentage", "0"] if args.no_aof_rewrite else []), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait(lambda: subprocess.run([redis_cli, "-p", str(rport), "PING"],
                                        capture_output=True, text=True).stdout.strip() == "PONG",
                 10, "redis")
            for _ in range(args.min_replicas):
                folder = tempfile.mkdtemp(dir=tmp)
                procs.append(subprocess.Popen(
                    [shutil.which("redis-server"), "--port", str(free_port()), "--bind",
                     "127.0.0.1", "--dir", folder, "--appendonly", "yes", "--appendfsync",
                     "everysec", "--save", "", "--daemonize", "no", "--replicaof", "127.0.0.1",
                     str(rport)] +
                    (["--auto-aof-rewrite-percentage", "0"] if args.no_aof_rewrite else []),
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait(lambda: subprocess.run([redis_cli, "-p", str(rport), "INFO", "replication"],
                                        capture_output=True, text=True).stdout.count(
                                            "state=online") >= args.min_replicas,
                 30, "replicas in sync")
        fake = subprocess.Popen([fake_bin, "--latency-ms", str(args.latency_ms)],
                                stdout=subprocess.PIPE, text=True)
        procs.append(fake)
        fport = int(fake.stdout.readline().split()[1])
        hport = free_port()
        wait_cfg = (", min_replicas: %d, min_replicas_timeout: 5s" % args.min_replicas
                    if args.min_replicas else "")
        queue = (f'queue: {{ backend: redis, redis: {{ url: "redis://127.0.0.1:{rport}/0"'
                 f'{wait_cfg} }} }}'
                 if args.backend == "redis" else "queue: { backend: sqlite }")
        reminders = ('reminders: [ { name: result_uncollected, status: result_ready, '
                     'after: 3d, at: "09:00" } ]\n' if args.reminders else "")
        # Tried first in the channel when --deliver outbox.
        outbox = (f"  - {{ name: outbox, channel: sms, type: outbox, path: {tmp}/outbox.jsonl, "
                  f"max_in_flight: {args.max_in_flight} }}\n" if args.deliver == "outbox" else "")
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
  - {{ status: [{"received" if args.deliver == "none" else "result_ready"}], channels: [sms] }}
{reminders}providers:
{outbox}  - name: esms
    channel: sms
    type: esms
    base_url: http://127.0.0.1:{fport}
    api_key: bench
    secret_key: bench
    brandname: BENCH
    rate_per_second: 0
    max_in_flight: {args.max_in_flight}
    timeout: {max(10, args.latency_ms // 1000 + 5)}s
""")
        log = open(os.path.join(tmp, "tinbaod.log"), "w")
        d = subprocess.Popen([tinbaod, "--config", cfg], stdout=log, stderr=subprocess.STDOUT)
        procs.append(d)
        base = "http://127.0.0.1:%d" % hport
        wait(lambda: get(base + "/readyz"), 20, "tinbaod")
        cpu0 = cpu_seconds(d.pid)
        rcpu0 = cpu_seconds(procs[0].pid, children=True) if args.backend == "redis" else 0
        fcpu0 = cpu_seconds(fake.pid)
        replicas = procs[1:1 + args.min_replicas] if args.backend == "redis" else []
        repcpu0 = sum(cpu_seconds(p.pid, children=True) for p in replicas)
        lg0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        calls0 = redis_calls(redis_cli, rport) if args.backend == "redis" else 0
        aof0 = redis_info(redis_cli, rport, "persistence") if args.backend == "redis" else {}
        mem0 = redis_memory(redis_cli, rport) if args.backend == "redis" else 0
        # The most provider requests in flight at once (tinbao_provider_in_flight, read every
        # 200 ms): what the peak RSS was measured with.
        peak = {"in_flight": 0, "stop": False}
        def sample():
            while not peak["stop"]:
                try:
                    n = sum(float(l.split()[-1]) for l in get(base + "/metrics").splitlines()
                            if l.startswith("tinbao_provider_in_flight{"))
                    peak["in_flight"] = max(peak["in_flight"], int(n))
                except (OSError, ValueError):
                    pass
                time.sleep(0.2)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0 = time.monotonic()
        lg = subprocess.run([loadgen, "--port", str(hport), "--token", TOKEN, "--count",
                             str(args.count), "--rate", str(args.rate), "--concurrency",
                             str(args.concurrency), "--prefix", "b%d" % int(time.time())],
                            capture_output=True, text=True)
        lg1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = json.loads(lg.stdout)
        if args.deliver == "esms":
            wait(lambda: json.loads(get("http://127.0.0.1:%d/_stats" % fport))["accepted"] >=
                 load["accepted"], 600, "every event delivered")
            t1 = time.monotonic()
            stats = json.loads(get("http://127.0.0.1:%d/_stats" % fport))
        else:
            # Counted by tinbaod itself: events whose messages (none without a route) were
            # recorded.
            def processed():
                for line in get(base + "/metrics").splitlines():
                    if line.startswith("tinbao_events_processed_total"):
                        return int(float(line.split()[-1]))
                return 0
            wait(lambda: processed() >= load["accepted"], 600, "every event processed")
            t1 = time.monotonic()
            stats = {"accepted": processed(), "duplicates": None}
        peak["stop"] = True
        sampler.join()
        cpu1 = cpu_seconds(d.pid)
        rcpu1 = cpu_seconds(procs[0].pid, children=True) if args.backend == "redis" else 0
        fcpu1 = cpu_seconds(fake.pid)
        repcpu1 = sum(cpu_seconds(p.pid, children=True) for p in replicas)
        per_1000 = lambda x: round(1000 * x / max(stats["accepted"], 1), 3)
        calls1 = redis_calls(redis_cli, rport) if args.backend == "redis" else 0
        aof1 = redis_info(redis_cli, rport, "persistence") if args.backend == "redis" else {}
        mem1 = 0
        if args.backend == "redis":
            # tinbaod trims acknowledged entries from the stream every few seconds: what stays
            # in Redis afterwards is the records. Wait for the trim, then read used_memory.
            xlen = lambda: int(subprocess.run([redis_cli, "-p", str(rport), "XLEN",
                                               "tinbao:events"], capture_output=True,
                                              text=True).stdout.strip() or 0)
            wait(lambda: xlen() <= max(load["accepted"] // 100, 100), 60, "the stream's trim")
            mem1 = redis_memory(redis_cli, rport)
        # What the run appended to the AOF (unknown when a rewrite replaced the file meanwhile:
        # --no-aof-rewrite).
        aof_bytes = None
        if aof1 and aof0.get("aof_rewrites") == aof1.get("aof_rewrites"):
            aof_bytes = int(aof1["aof_current_size"]) - int(aof0["aof_current_size"])
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
            "redis_aof_bytes_per_event": round(aof_bytes / max(load["accepted"], 1))
            if aof_bytes is not None else None,
            # What one delivered event's keys hold in Redis's memory (used_memory after minus
            # before; they live for queue.dedupe_ttl).
            "redis_memory_bytes_per_event": round((mem1 - mem0) / max(load["accepted"], 1))
            if args.backend == "redis" else None,
            "min_replicas": args.min_replicas,
            "reminders": args.reminders,
            "deliver": args.deliver,
            "replicas_cpu_seconds_per_1000": per_1000(repcpu1 - repcpu0) if replicas else None,
            "tinbaod_peak_rss_mb": round(peak_rss_mb(d.pid), 1),
            "peak_provider_requests_in_flight": peak["in_flight"],
        }
        return summary
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        if args.keep:
            print("bench: kept " + tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


KANNEL_CONF = """
group = core
admin-port = {admin_port}
admin-interface = 127.0.0.1
admin-password = bench
admin-allow-ip = 127.0.0.1
smsbox-port = {box_port}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
store-type = spool
store-location = "{tmp}/spool"
log-file = "{tmp}/bearerbox.log"
log-level = 3

group = smsc
smsc = http
smsc-id = fake
system-type = generic
send-url = "http://127.0.0.1:{fake_port}/kannel/send?to=%p&from=%P&text=%b"
status-success-regex = "^Sent"
max-pending-submits = {max_in_flight}

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {box_port}
sendsms-port = {sendsms_port}
sendsms-interface = 127.0.0.1
log-file = "{tmp}/smsbox.log"
log-level = 3

group = sendsms-user
username = bench
password = bench
"""


def run_kannel(args, host, build):
    """The same notices through Kannel: smsbox's sendsms (the load generator's --kannel mode,
    the SMS text tinbao renders for each event), bearerbox with its spool store, its generic
    HTTP SMSC to the same fake provider (its Kannel mode)."""
    loadgen = os.path.join(build, "bench/bench_loadgen")
    fake_bin = os.path.join(build, "bench/bench_fake_provider")
    need(loadgen, fake_bin)
    bearerbox, smsbox = shutil.which("bearerbox"), shutil.which("smsbox")
    if not bearerbox or not smsbox:
        raise SystemExit("bench: Kannel is not installed: bench/install-kannel.sh")
    tmp = tempfile.mkdtemp(prefix="kannel-bench-")
    os.makedirs(os.path.join(tmp, "spool"))
    procs = []
    try:
        fake = subprocess.Popen([fake_bin, "--latency-ms", str(args.latency_ms)],
                                stdout=subprocess.PIPE, text=True)
        procs.append(fake)
        fport = int(fake.stdout.readline().split()[1])
        ports = {"admin_port": free_port(), "box_port": free_port(),
                 "sendsms_port": free_port()}
        cfg = os.path.join(tmp, "kannel.conf")
        with open(cfg, "w") as f:
            f.write(KANNEL_CONF.format(tmp=tmp, fake_port=fport,
                                       max_in_flight=args.max_in_flight, **ports))
        log = open(os.path.join(tmp, "kannel.out"), "w")
        bb = subprocess.Popen([bearerbox, cfg], stdout=log, stderr=subprocess.STDOUT)
        procs.append(bb)
        admin = "http://127.0.0.1:%d" % ports["admin_port"]
        def online():
            if bb.poll() is not None:
                raise SystemExit("bench: bearerbox exited; see " + os.path.join(tmp, "kannel.out"))
            return "online" in get(admin + "/status.txt?password=bench")
        wait(online, 30, "bearerbox and its HTTP SMSC")
        sb = subprocess.Popen([smsbox, cfg], stdout=log, stderr=subprocess.STDOUT)
        procs.append(sb)
        wait(lambda: socket.create_connection(("127.0.0.1", ports["sendsms_port"]), 1).close()
             or True, 30, "smsbox")
        wait(lambda: "smsbox:" in get(admin + "/status.txt?password=bench"), 30,
             "smsbox connected to bearerbox")
        cpu0 = cpu_seconds(bb.pid) + cpu_seconds(sb.pid)
        fcpu0 = cpu_seconds(fake.pid)
        lg0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        lg = subprocess.run([loadgen, "--port", str(ports["sendsms_port"]), "--kannel",
                             "bench:bench", "--count", str(args.count), "--rate", str(args.rate),
                             "--concurrency", str(args.concurrency)],
                            capture_output=True, text=True)
        lg1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = json.loads(lg.stdout)
        wait(lambda: json.loads(get("http://127.0.0.1:%d/_stats" % fport))["accepted"] >=
             load["accepted"], 600, "every message delivered")
        t1 = time.monotonic()
        stats = json.loads(get("http://127.0.0.1:%d/_stats" % fport))
        cpu1 = cpu_seconds(bb.pid) + cpu_seconds(sb.pid)
        fcpu1 = cpu_seconds(fake.pid)
        per_1000 = lambda x: round(1000 * x / max(stats["accepted"], 1), 3)
        return {
            "system": "kannel " + subprocess.run(
                ["dpkg-query", "-W", "-f", "${Version}", "kannel"], capture_output=True,
                text=True).stdout.strip(),
            "machine": host,
            "store": "spool",
            "events": args.count,
            "provider_latency_ms": args.latency_ms,
            "max_pending_requests": args.max_in_flight,
            "load": load,
            "delivered": stats["accepted"],
            "duplicates_at_provider": stats["duplicates"],
            "delivered_per_second": round(stats["accepted"] / (t1 - t0), 1),
            "kannel_cpu_seconds_per_1000": per_1000(cpu1 - cpu0),
            "loadgen_cpu_seconds_per_1000": per_1000(lg1.ru_utime + lg1.ru_stime -
                                                     lg0.ru_utime - lg0.ru_stime),
            "fake_cpu_seconds_per_1000": per_1000(fcpu1 - fcpu0),
            "kannel_peak_rss_mb": round(peak_rss_mb(bb.pid) + peak_rss_mb(sb.pid), 1),
        }
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    p.kill()
        if args.keep:
            print("bench: kept " + tmp, file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
