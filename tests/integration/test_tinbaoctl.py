#!/usr/bin/env python3
"""tinbaoctl against a real tinbaod (Redis or SQLite queue): tables on a terminal (a pty) and
JSON with --json or in a pipe, `dossier CODE`, `dlq discard` (and 403 without the admin scope),
exit codes when nothing matched, the token from a file or the environment, an empty token
refused before any request, and `render` without the providers' secrets in the environment.

Dead letters are made the quick way: an applicant number that is not a mobile fails the SMS at
once (invalid_phone), with no provider call.
"""

import argparse
import json
import os
import pty
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, Procs, Redis, check, finish, free_port, http, wait_for  # noqa

ADMIN = "admin-token-0123456789abcdef"
READER = "reader-token-0123456789abcdef"


def event(event_id, dossier, status="result_ready", phone="0123 456"):
    return {"event_id": event_id, "occurred_at": "2026-11-27T08:15:00+07:00",
            "dossier": {"code": dossier, "status": status},
            "applicant": {"name": "Nguyễn Thị Ánh Tuyết", "phone": phone}}


class Ctl:
    def __init__(self, binary, config, base):
        self.binary, self.config, self.base = binary, config, base
        # tinbaoctl's environment: none of the daemon's secrets, no token unless a test adds it.
        self.env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("TINBAO_", "TB_"))}

    def run(self, *args, env=None, url=True):
        cmd = [self.binary, "--config", self.config] + (["--url", self.base] if url else [])
        return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60,
                              env=dict(self.env, **(env or {})))

    def tty(self, *args, env=None):
        """Runs with stdout on a terminal (a pty); answers (exit code, output)."""
        master, slave = pty.openpty()
        p = subprocess.Popen([self.binary, "--config", self.config, "--url", self.base, *args],
                             stdout=slave, stderr=subprocess.PIPE,
                             env=dict(self.env, **(env or {})))
        os.close(slave)
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        os.close(master)
        rc = p.wait(timeout=60)
        return rc, out.decode(errors="replace").replace("\r\n", "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--backend", default="redis", choices=["redis", "sqlite"])
    args = ap.parse_args()
    source = os.path.abspath(args.source_dir)
    tmp = tempfile.mkdtemp(prefix="tinbao-ctl-")
    procs = Procs()
    try:
        queue = "backend: sqlite"
        if args.backend == "redis":
            redis = Redis(procs, tmp)
            redis.start()
            queue = 'backend: redis\n  redis: { url: "redis://127.0.0.1:%d/0", prefix: ctl }' % \
                redis.port
        port = free_port()
        base = "http://127.0.0.1:%d" % port
        cfg = os.path.join(tmp, "tinbao.yaml")
        with open(cfg, "w") as f:
            f.write(f"""
state_dir: {tmp}/state
shutdown_grace: 2s
log: {{ level: info, format: text }}
http:
  listen: 127.0.0.1:{port}
  clients:
    - {{ name: admin, token: "${{TB_ADMIN_TOKEN}}" }}
    - {{ name: reader, token: "{READER}", scopes: [events:read:all] }}
queue:
  {queue}
templates:
  dir: {source}/tests/integration/fixtures/templates
routes:
  - {{ status: [result_ready, received], channels: [sms] }}
providers:
  - name: esms
    channel: sms
    type: esms
    base_url: http://127.0.0.1:9
    api_key: "${{TB_ESMS_KEY}}"
    secret_key: "${{file:{tmp}/esms_secret}}"
    brandname: TEST
""")
        with open(os.path.join(tmp, "esms_secret"), "w") as f:
            f.write("s3cret\n")
        daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"),
                        env=dict(os.environ, TB_ADMIN_TOKEN=ADMIN, TB_ESMS_KEY="k"))
        daemon.start(base)
        auth = {"Authorization": "Bearer " + ADMIN}

        for ev in (event("ctl-1", "D-1"), event("ctl-2", "D-1", status="received"),
                   event("ctl-3", "D-2")):
            check(http("POST", base + "/v1/events", ev, auth)[0] == 202, "posted " + ev["event_id"])

        def dead():
            st, body = http("GET", base + "/v1/dead-letters", headers=auth)
            return body["dead_letters"] if st == 200 and len(body["dead_letters"]) == 3 else None
        letters = wait_for(dead, 20, "three dead letters")
        ids = {m["event_id"]: m["id"] for m in letters}

        token_file = os.path.join(tmp, "admin.token")
        with open(token_file, "w") as f:
            f.write(ADMIN + "\n")
        ctl = Ctl(args.tinbaoctl, cfg, base)
        as_admin = {"TINBAO_TOKEN_FILE": token_file}

        # --- JSON in a pipe, tables on a terminal, JSON with --json ---
        r = ctl.run("dlq", "list", env=as_admin)
        listed = json.loads(r.stdout) if r.returncode == 0 else {}
        check(r.returncode == 0 and len(listed.get("dead_letters", [])) == 3,
              "dlq list in a pipe prints the API's JSON")
        rc, out = ctl.tty("dlq", "list", env=as_admin)
        check(rc == 0 and out.startswith("MESSAGE") and "invalid_phone" in out and
              ids["ctl-1"] in out and "{" not in out, "dlq list on a terminal is a table:\n" + out)
        rc, out = ctl.tty("--json", "dlq", "list", env=as_admin)
        check(rc == 0 and len(json.loads(out)["dead_letters"]) == 3,
              "dlq list --json on a terminal is JSON")

        # --- status and dossier ---
        rc, out = ctl.tty("status", "ctl-1", env=as_admin)
        check(rc == 0 and "state" in out and "failed" in out and "D-1" in out,
              "status on a terminal:\n" + out)
        r = ctl.run("status", "no-such-event", env=as_admin)
        check(r.returncode == 1, "status of an unknown event exits 1")
        r = ctl.run("dossier", "D-1", env=as_admin)
        d = json.loads(r.stdout) if r.returncode == 0 else {}
        check(r.returncode == 0 and d.get("dossier_code") == "D-1" and
              sorted(e["event_id"] for e in d.get("events", [])) == ["ctl-1", "ctl-2"] and
              {e["event_id"]: e["status"] for e in d["events"]} ==
              {"ctl-1": "result_ready", "ctl-2": "received"} and len(d["messages"]) == 2,
              "dossier CODE lists its events with their status, and their messages")
        rc, out = ctl.tty("dossier", "D-1", env=as_admin)
        check(rc == 0 and out.startswith("EVENT") and "ctl-2" in out and "received" in out and
              ids["ctl-1"] in out, "dossier on a terminal is a table:\n" + out)
        r = ctl.run("dossier", "D-none", env=as_admin)
        check(r.returncode == 1 and "no events for dossier D-none" in r.stderr,
              "a dossier with no events exits 1: " + r.stderr)

        # --- dlq discard: admin only, unknown ids exit 1, logged ---
        r = ctl.run("dlq", "discard", ids["ctl-3"], env={"TINBAO_TOKEN": READER})
        check(r.returncode == 1 and "insufficient_scope" in r.stdout + r.stderr,
              "dlq discard without the admin scope is refused (403)")
        st, body = http("POST", base + "/v1/dead-letters/discard", {"ids": [ids["ctl-3"]]},
                        {"Authorization": "Bearer " + READER})
        check(st == 403 and body["error"]["scope"] == "admin", "the route answers 403 naming admin")
        r = ctl.run("dlq", "discard", ids["ctl-3"], "m-not-a-dead-letter", env=as_admin)
        out = json.loads(r.stdout) if r.stdout.startswith("{") else {}
        check(r.returncode == 1 and out.get("discarded") == 1 and
              out.get("unknown") == ["m-not-a-dead-letter"] and
              "m-not-a-dead-letter" in r.stderr,
              "discarding an id that is not a dead letter exits 1, the others are discarded")
        left = http("GET", base + "/v1/dead-letters", headers=auth)[1]["dead_letters"]
        check(sorted(m["id"] for m in left) == sorted([ids["ctl-1"], ids["ctl-2"]]),
              "a discarded dead letter is no longer listed")
        st, rec = http("GET", base + "/v1/messages/" + ids["ctl-3"], headers=auth)
        check(st == 200 and rec["state"] == "failed", "its record stays as it ended")
        r = ctl.run("dlq", "discard", ids["ctl-3"], env=as_admin)
        check(r.returncode == 1, "discarding it again exits 1")
        r = ctl.run("dlq", "replay", ids["ctl-3"], env=as_admin)
        check(r.returncode == 1 and '"replayed": 0' in r.stdout,
              "a discarded letter cannot be replayed; replaying an unknown id exits 1")
        check("dead letter %s discarded by client admin" % ids["ctl-3"] in daemon.log_text(),
              "the discard is in the log with the client's name")
        r = ctl.run("dlq", "replay", "--reason", "no_such_reason", env=as_admin)
        check(r.returncode == 1, "replaying a reason no dead letter has exits 1")
        r = ctl.run("dlq", "replay", ids["ctl-2"], env=as_admin)
        check(r.returncode == 0 and '"replayed": 1' in r.stdout, "replaying a dead letter exits 0")

        # --- the token: file, environment, empty, on the command line ---
        r = ctl.run("status", "ctl-1", env={"TINBAO_TOKEN": ADMIN})
        check(r.returncode == 0, "the token from TINBAO_TOKEN")
        r = ctl.run("--token-file", token_file, "status", "ctl-1")
        check(r.returncode == 0, "the token from --token-file")
        r = ctl.run("status", "ctl-1", env={"TINBAO_TOKEN": ""})
        check(r.returncode == 2 and "TINBAO_TOKEN is set but empty" in r.stderr and
              r.stdout == "", "an empty TINBAO_TOKEN is an error, not an empty token sent")
        empty = os.path.join(tmp, "empty.token")
        open(empty, "w").close()
        r = ctl.run("--token-file", empty, "status", "ctl-1")
        check(r.returncode == 2 and "is empty" in r.stderr, "an empty token file is an error")
        r = ctl.run("--token", "", "status", "ctl-1")
        check(r.returncode == 2 and "--token is empty" in r.stderr,
              "an empty --token (an unset variable) is an error")
        r = ctl.run("status", "ctl-1")
        check(r.returncode == 2 and "no API token" in r.stderr,
              "no token anywhere (the config's is an unset variable): exit 2")
        r = ctl.run("--token", ADMIN, "status", "ctl-1")
        check(r.returncode == 0 and "shows in `ps`" in r.stderr,
              "--token works but warns that it shows in ps")
        r = ctl.run("status", "ctl-1", env={"TINBAO_TOKEN": READER, "TB_ADMIN_TOKEN": ADMIN},
                    url=False)
        check(r.returncode == 0, "the URL from the config's http.listen")

        # --- render without the providers' secrets ---
        evf = os.path.join(tmp, "event.json")
        with open(evf, "w") as f:
            json.dump(event("ctl-render", "D-9", phone="0912345678"), f)
        r = ctl.run("render", evf)
        out = json.loads(r.stdout) if r.returncode == 0 else {}
        check(r.returncode == 0 and out["messages"][0]["channel"] == "sms" and
              "D-9" in out["messages"][0]["text"],
              "render needs none of the providers' secrets: " + r.stderr)
        os.rename(os.path.join(tmp, "esms_secret"), os.path.join(tmp, "esms_secret.away"))
        r = ctl.run("render", evf)
        check(r.returncode == 0, "render with a ${file:} secret it cannot read: " + r.stderr)
        rc, out = ctl.tty("render", evf)
        check(rc == 0 and "sms to 84912345678" in out and "segment" in out,
              "render on a terminal:\n" + out)
    except Exception as e:  # noqa: BLE001
        check(False, "unexpected: %r" % e)
    return finish(tmp, procs, ["tinbaod.log", "redis.log"])


if __name__ == "__main__":
    sys.exit(main())
