"""Shared pieces of the integration tests: processes on free loopback ports, HTTP, waiting.

Every wait polls a condition with a deadline; nothing sleeps to synchronise.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def http(method, url, body=None, headers=None, raw=None, timeout=10):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(url, data=data, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read().decode()
            return r.status, (json.loads(text) if text.startswith(("{", "[")) else text)
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


class Procs:
    """Processes started by a test, stopped (TERM, then KILL) at the end."""

    def __init__(self):
        self.procs = []

    def start(self, args, **kw):
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


class Redis:
    """A real redis-server on a free port, AOF on, data in `folder`."""

    def __init__(self, procs, folder, port=None):
        self.procs, self.folder = procs, folder
        self.port = port or free_port()
        self.bin = shutil.which("redis-server")
        self.cli_bin = shutil.which("redis-cli")
        if not self.bin or not self.cli_bin:
            raise AssertionError("redis-server and redis-cli are needed "
                                 "(scripts/install-deps.sh installs them)")
        self.proc = None

    def start(self):
        self.proc = start_redis(self.procs, self.folder, self.port)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def cli(self, *a):
        return redis_cli(self.port, *a)


def redis_cli(port, *a):
    """redis-cli's answer to one command to the server (or sentinel) on `port`."""
    return subprocess.run([shutil.which("redis-cli"), "-p", str(port), *a], capture_output=True,
                          text=True, timeout=10).stdout.strip()


def start_redis(procs, folder, port, *extra):
    """A redis-server on `port`, AOF on, data and redis.log in `folder`, with `extra` arguments
    (--replicaof HOST PORT); its process once it answers PING."""
    os.makedirs(folder, exist_ok=True)
    p = procs.start([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                     "--dir", folder, "--appendonly", "yes", "--appendfsync", "everysec",
                     "--save", "", "--daemonize", "no", *extra],
                    stdout=open(os.path.join(folder, "redis.log"), "a"),
                    stderr=subprocess.STDOUT)
    wait_for(lambda: redis_cli(port, "PING") == "PONG", 20, "redis-server on %d" % port)
    return p


def sentinel_command():
    """Debian's redis-sentinel package is a link to the redis-server program, which runs as a
    sentinel under that name or with --sentinel."""
    own = shutil.which("redis-sentinel")
    return [own] if own else [shutil.which("redis-server"), "--sentinel"]


def start_sentinel(procs, folder, port, master_name, master_port):
    """A Redis Sentinel on `port` monitoring `master_name` at `master_port` (quorum 2), its
    config and sentinel.log in `folder`."""
    os.makedirs(folder, exist_ok=True)
    conf = os.path.join(folder, "sentinel.conf")
    # Short timings, not too short for a loaded CI machine: the master is judged down after 3 s
    # (at 1 s a busy machine made the sentinels fail over a second time, away from the new
    # master), and a second failover of the same master waits twice failover-timeout.
    with open(conf, "w") as f:
        f.write(f"""port {port}
bind 127.0.0.1
daemonize no
dir {folder}
sentinel monitor {master_name} 127.0.0.1 {master_port} 2
sentinel down-after-milliseconds {master_name} 3000
sentinel failover-timeout {master_name} 20000
sentinel parallel-syncs {master_name} 1
""")
    procs.start(sentinel_command()[:1] + [conf] + sentinel_command()[1:],
                stdout=open(os.path.join(folder, "sentinel.log"), "a"), stderr=subprocess.STDOUT)
    wait_for(lambda: redis_cli(port, "PING") == "PONG", 20, "sentinel on %d" % port)


def start_sentinels(procs, tmp, master_name, master_port, replicas):
    """Three sentinels (in tmp/s0, s1, s2) for the master, once each knows its `replicas`
    replicas and the two other sentinels; their ports."""
    ports = [free_port() for _ in range(3)]
    for i, p in enumerate(ports):
        start_sentinel(procs, os.path.join(tmp, "s%d" % i), p, master_name, master_port)

    def ready():
        for p in ports:
            if redis_cli(p, "SENTINEL", "replicas", master_name).count("127.0.0.1") < replicas:
                return False
            if redis_cli(p, "SENTINEL", "sentinels", master_name).count("runid") < 2:
                return False
        return True
    # Sentinels find each other through the master (hello messages every 2 s).
    wait_for(ready, 40, "three sentinels that know the %d replica(s) and each other" % replicas)
    return ports


class FakeEsms:
    def __init__(self, procs, source_dir, api_key, secret_key):
        p = procs.start([sys.executable, os.path.join(source_dir, "tests/fakes/fake_esms.py"),
                         "--api-key", api_key, "--secret-key", secret_key],
                        stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline().split()
        assert line and line[0] == "PORT", "fake eSMS did not print its port"
        self.url = "http://127.0.0.1:" + line[1]

    def requests(self):
        return http("GET", self.url + "/_requests")[1]

    def control(self, **spec):
        return http("POST", self.url + "/_control", spec)


class Daemon:
    """tinbaod on a config file, its log in `log_path`."""

    def __init__(self, procs, binary, config, log_path, env=None):
        self.procs, self.binary, self.config, self.log_path = procs, binary, config, log_path
        self.env = env or dict(os.environ)
        self.proc = None

    def start(self, base_url):
        self.log = open(self.log_path, "a")
        self.proc = self.procs.start([self.binary, "--config", self.config], env=self.env,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: http("GET", base_url + "/readyz")[0] == 200, 20, "tinbaod /readyz")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def log_text(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()


def finish(tmp, procs, logs):
    procs.stop_all()
    if failures:
        for name in logs:
            p = os.path.join(tmp, name)
            if os.path.exists(p):
                print("---- " + name)
                print(open(p).read()[-6000:])
    shutil.rmtree(tmp, ignore_errors=True)
    print("%d failed" % len(failures))
    return 1 if failures else 0
