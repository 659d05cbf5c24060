#!/usr/bin/env python3
"""Reminders end to end: tinbaod with a real redis-server (or SQLite) and a fake eSMS.

  1. A `received` event with an appointment two days ahead (posted twice, under two event ids)
     schedules exactly one reminder, for 08:00 local time the day before the appointment; it is
     not due a minute before and is sent once that time has come.
  2. A `result_ready` reminder is cancelled by a later `returned` and never sent.
  3. A scheduled reminder survives a kill -9 of tinbaod and is sent once (counted at the fake).

How time is controlled: the test does not wait days, and nothing in tinbaod, its build or its
config can shift its clock. The test preloads clock_shift (tests/integration/clock_shift.cpp,
built only as a test library) into tinbaod: CLOCK_REALTIME, gettimeofday() and time() read the
real clock plus the seconds this test writes in a file ("+172800": two days ahead). The
monotonic clock is left alone, so timeouts, the leases of stream entries, rate limits and
circuit breakers run on real time, and only the wall clock moves: the one that stamps records
and schedules jobs, reminders and quiet hours, in the daemon and in both queue backends
(common/time.hpp now_ms()). redis-server keeps real time: the Lua scripts take "now" from tinbaod
(none calls TIME) and the keys' expiries are relative (PX), so they only live longer.

Why not the other ways. Debian's libfaketime (0.9.10, LD_PRELOAD with FAKETIME_TIMESTAMP_FILE)
does not start under tinbaod: tinbaod is linked with jemalloc, whose initialisation calls
clock_gettime() before libfaketime can initialise itself, and the library gives up ("Unexpected
recursive calls to clock_gettime()"; a known, open clash: github.com/wolfcw/libfaketime/issues/130).
A test build of tinbaod linking another Clock (daemon/pipeline/clock.hpp) would not move the queue
backends, which read the system clock for due jobs and leases, and would test another binary.
"""

import argparse
import datetime
import email.utils
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon, FakeEsms, Procs, Redis, check, failures, finish, free_port, http, wait_for  # noqa: E402,E501

TOKEN = "reminders-test-token-0123456789abcdef"
API_KEY = "esms-test-key"
SECRET_KEY = "esms-test-secret"
VN = datetime.timezone(datetime.timedelta(hours=7))


def preload_list(binary, lib):
    """LD_PRELOAD for tinbaod with the clock library. A tinbaod built with AddressSanitizer
    (the asan preset, g++) links its runtime dynamically, and that runtime refuses to start
    unless it comes first in the initial library list: it goes in front of the clock library.
    Its clock_gettime interceptor then calls on into the clock library's."""
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("libasan.so") and len(parts) >= 3 and parts[1] == "=>":
            return parts[2] + ":" + lib
    return lib


class FakeClock:
    """tinbaod's wall clock: real time plus an offset in seconds, in the file clock_shift reads."""

    def __init__(self, path):
        self.path = path
        self.offset = 0
        self.set_offset(0)

    def set_offset(self, seconds):
        self.offset = int(seconds)
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            f.write("%+d\n" % self.offset)
        os.replace(tmp, self.path)  # never read half written

    def now(self):
        return time.time() + self.offset

    def move_to(self, unix_seconds, base=None):
        """The daemon's clock reads `unix_seconds` now (and goes on from there). With the
        daemon's `base` URL, returns once the daemon's own clock shows it (its HTTP Date
        header), so nothing it stamps afterwards has the old time."""
        self.set_offset(max(self.offset, int(unix_seconds - time.time()) + 1))
        if base:
            wait_for(lambda: daemon_time(base) >= int(unix_seconds), 10,
                     "the daemon's clock moved")


def daemon_time(base):
    try:
        with urllib.request.urlopen(base + "/healthz", timeout=5) as r:
            return int(email.utils.parsedate_to_datetime(r.headers["Date"]).timestamp())
    except (OSError, TypeError, ValueError):
        return 0


def event(event_id, code, status, appointment=None, phone="0912 345 678"):
    dossier = {
        "code": code,
        "status": status,
        "procedure": {"code": "1.001612", "name": "Cấp Phiếu lý lịch tư pháp"},
        "agency": {"code": "000.00.12.H62", "name": "Sở Tư pháp tỉnh Vĩnh Long"},
    }
    if appointment:
        dossier["appointment_at"] = appointment
    return {"event_id": event_id, "occurred_at": "2026-11-27T08:15:00+07:00", "dossier": dossier,
            "applicant": {"name": "Trần Văn Bình", "phone": phone},
            "data": {"counter": "Quầy số 3"}}


def iso_to_unix(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tinbaod", required=True)
    ap.add_argument("--tinbaoctl", required=True)
    ap.add_argument("--source-dir", required=True)
    ap.add_argument("--backend", default="redis", choices=["redis", "sqlite"])
    ap.add_argument("--clock-shift", required=True, help="the built libtinbao_clock_shift.so")
    args = ap.parse_args()
    src = os.path.abspath(args.source_dir)
    lib = os.path.abspath(args.clock_shift)

    tmp = tempfile.mkdtemp(prefix="tinbao-reminders-")
    procs = Procs()
    try:
        return run(args, src, lib, tmp, procs)
    except AssertionError as e:
        check(False, str(e))
        return finish(tmp, procs, ["tinbaod.log", "redis.log"])


def run(args, src, lib, tmp, procs):
    queue = "backend: sqlite"
    if args.backend == "redis":
        redis = Redis(procs, tmp)
        redis.start()
        queue = ('backend: redis\n  redis: { url: "redis://127.0.0.1:%d/0", prefix: rem }'
                 % redis.port)
    fake = FakeEsms(procs, src, API_KEY, SECRET_KEY)
    hport = free_port()
    base = "http://127.0.0.1:%d" % hport
    cfg = os.path.join(tmp, "tinbao.yaml")
    with open(cfg, "w") as f:
        f.write(f"""
state_dir: {tmp}/state
shutdown_grace: 2s
http:
  listen: 127.0.0.1:{hport}
  clients:
    - {{ name: igate, token: "{TOKEN}" }}
queue:
  {queue}
  dedupe_ttl: 7d
templates:
  dir: {src}/templates
routes:
  - {{ status: [received, result_ready, returned], channels: [sms] }}
quiet_hours:
  - {{ channels: [sms], from: "21:00", to: "07:00" }}
retry: {{ max_attempts: 3, initial_delay: 100ms, max_delay: 1s, give_up_after: 12h }}
reminders:
  - {{ name: appointment_tomorrow, status: received, before_appointment: 1, at: "08:00" }}
  - {{ name: result_uncollected, status: result_ready, after: 3d, at: "09:00", repeat: 2,
      cancel_on: [returned, cancelled] }}
providers:
  - name: esms
    channel: sms
    type: esms
    base_url: {fake.url}
    api_key: "{API_KEY}"
    secret_key: "{SECRET_KEY}"
    brandname: UBND-VLONG
    timeout: 5s
""")
    check_run = subprocess.run([args.tinbaod, "--check", "--config", cfg], capture_output=True,
                               text=True, timeout=60)
    check(check_run.returncode == 0, "tinbaod --check accepts the reminders: "
          + check_run.stdout.strip()[-200:] + check_run.stderr.strip()[-400:])

    clock = FakeClock(os.path.join(tmp, "clock-shift"))
    # The daemon starts at the next 10:00 local time, whatever the real time of day: the notices
    # posted at once are never inside the quiet hours.
    start = datetime.datetime.fromtimestamp(time.time(), VN).replace(hour=10, minute=0, second=0,
                                                                     microsecond=0)
    if start.timestamp() < time.time():
        start += datetime.timedelta(days=1)
    clock.move_to(start.timestamp())
    env = dict(os.environ, LD_PRELOAD=preload_list(args.tinbaod, lib),
               TINBAO_TEST_CLOCK_SHIFT_FILE=clock.path)
    daemon = Daemon(procs, args.tinbaod, cfg, os.path.join(tmp, "tinbaod.log"), env=env)
    daemon.start(base)
    auth = {"Authorization": "Bearer " + TOKEN}

    def post(ev):
        st, body = http("POST", base + "/v1/events", ev, auth)
        check(st == 202, "event %s accepted (%s %s)" % (ev["event_id"], st, body))

    def messages(code):
        st, body = http("GET", base + "/v1/dossiers/%s/messages" % code, headers=auth)
        return body.get("messages", []) if st == 200 and isinstance(body, dict) else []

    def reminders_of(code):
        return [m for m in messages(code) if m.get("reminder")]

    def sent_to_fake(text_part):
        return [r for r in fake.requests() if text_part in json.dumps(r.get("body"),
                                                                      ensure_ascii=False)]

    def ctl(*a):
        return subprocess.run([args.tinbaoctl, "--config", cfg, "--url", base, "--json", *a],
                              capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, TINBAO_TOKEN=TOKEN))

    # ---- 1. the day before the appointment, at 08:00 local time, once ----
    today = datetime.datetime.fromtimestamp(clock.now(), VN).date()
    appointment_day = today + datetime.timedelta(days=2)
    appointment = "%sT14:00:00+07:00" % appointment_day.isoformat()
    code1 = "000.00.12.H62-REM-0001"
    post(event("rem-recv-1", code1, "received", appointment))
    post(event("rem-recv-1-again", code1, "received", appointment))  # posted twice
    wait_for(lambda: len([m for m in messages(code1) if not m.get("reminder")
                          and m["state"] == "sent"]) == 2, 20, "both received notices sent")
    pending = reminders_of(code1)
    check(len(pending) == 1, "one reminder scheduled for the dossier (got %d)" % len(pending))
    due_expected = datetime.datetime.combine(appointment_day - datetime.timedelta(days=1),
                                             datetime.time(8, 0), VN)
    rem = pending[0] if pending else {}
    check(rem.get("reminder") == "appointment_tomorrow" and rem.get("state") == "queued",
          "it is the appointment reminder, queued: %s" % rem)
    check(rem.get("due_at") and abs(iso_to_unix(rem["due_at"]) - due_expected.timestamp()) < 1,
          "due at 08:00 local time the day before the appointment (%s, expected %s)"
          % (rem.get("due_at"), due_expected.isoformat()))
    check(rem.get("id", "").startswith("r") and len(rem.get("id", "")) == 26,
          "its id is a reminder's (r...)")
    listed = ctl("reminders", "list", "--dossier", code1)
    check(listed.returncode == 0 and rem.get("id", "?") in listed.stdout,
          "tinbaoctl reminders list shows it: %s %s" % (listed.stdout[-300:], listed.stderr))
    reminder_text = "co hen nhan ket qua"
    check(not sent_to_fake(reminder_text), "nothing of the reminder sent yet")

    # A minute before: not due. A notice posted now is stamped with the moved clock, and by the
    # time it is sent the scheduler has looked for due jobs many times (every 200 ms).
    code_probe = "000.00.12.H62-REM-PROBE"
    probes = [0]

    def probe(status):
        probes[0] += 1
        post(event("rem-probe-%d" % probes[0], code_probe, status))
        sent = lambda: [m for m in messages(code_probe) if m["state"] == "sent"]  # noqa: E731
        wait_for(lambda: len(sent()) == probes[0], 20, "probe %d sent" % probes[0])
        return sent()

    clock.move_to(due_expected.timestamp() - 60, base)
    sent_probes = probe("returned")
    check(max(iso_to_unix(m["created_at"]) for m in sent_probes)
          >= due_expected.timestamp() - 60, "the daemon's clock moved to a minute before")
    check(not sent_to_fake(reminder_text), "not sent a minute before its time")
    check([m["state"] for m in reminders_of(code1)] == ["queued"], "still queued")
    # Its time: sent, once.
    clock.move_to(due_expected.timestamp() + 2, base)
    wait_for(lambda: sent_to_fake(reminder_text), 20, "the reminder at the fake eSMS")
    rec = wait_for(lambda: next((m for m in reminders_of(code1) if m["state"] == "sent"), None),
                   10, "the reminder's record sent")
    sent_at = iso_to_unix(rec["updated_at"])
    check(due_expected.timestamp() <= sent_at < due_expected.timestamp() + 60,
          "sent at its time (%s)" % rec["updated_at"])
    check(len(sent_to_fake(reminder_text)) == 1, "the reminder sent once")
    body = json.dumps(sent_to_fake(reminder_text)[0].get("body"), ensure_ascii=False)
    check("14:00 ngay %s" % appointment_day.strftime("%d/%m/%Y") in body and code1 in body,
          "its text is the reminder template's, from the event: %s" % body[:300])

    # ---- 2. a result_ready reminder cancelled by a later returned ----
    code2 = "000.00.12.H62-REM-0002"
    post(event("rem-ready-2", code2, "result_ready"))
    pending2 = wait_for(lambda: reminders_of(code2), 20, "the result_uncollected reminder")
    check(len(pending2) == 1 and pending2[0]["state"] == "queued",
          "one result_uncollected reminder pending: %s" % pending2)
    due2 = iso_to_unix(pending2[0]["due_at"]) if pending2 else clock.now()
    post(event("rem-returned-2", code2, "returned"))
    cancelled = wait_for(lambda: [m for m in reminders_of(code2) if m["state"] == "superseded"],
                         20, "the reminder cancelled by returned")
    check((cancelled[0].get("last_error") or {}).get("reason") == "cancelled",
          "superseded with reason cancelled: %s" % cancelled[0].get("last_error"))
    listed = ctl("reminders", "list")
    check(listed.returncode == 0 and pending2[0]["id"] not in listed.stdout,
          "no longer pending in tinbaoctl reminders list")
    # Past its time it stays unsent: the queue has no job for it any more.
    clock.move_to(due2 + 3600, base)
    probe("returned")
    listed = ctl("reminders", "list")
    check(listed.returncode == 0 and json.loads(listed.stdout).get("reminders") == [],
          "no reminder pending at all: %s" % listed.stdout[-300:])
    check(not sent_to_fake("chua duoc nhan"), "the cancelled reminder was never sent")

    # ---- 3. a reminder survives kill -9 and is sent once ----
    code3 = "000.00.12.H62-REM-0003"
    today = datetime.datetime.fromtimestamp(clock.now(), VN).date()
    appointment_day3 = today + datetime.timedelta(days=2)
    post(event("rem-recv-3", code3, "received",
               "%sT09:30:00+07:00" % appointment_day3.isoformat(), phone="0987 654 321"))
    pending3 = wait_for(lambda: reminders_of(code3), 20, "the third dossier's reminder")
    daemon.kill9()
    due3 = iso_to_unix(pending3[0]["due_at"])
    clock.move_to(due3 + 2)
    daemon.start(base)
    wait_for(lambda: any(m["state"] == "sent" for m in reminders_of(code3)), 20,
             "the reminder sent after the restart")
    # Once more through a kill -9 and a restart: still sent once.
    daemon.kill9()
    daemon.start(base)
    probe("returned")
    third = [r for r in fake.requests()
             if "84987654321" in json.dumps(r.get("body")) and reminder_text
             in json.dumps(r.get("body"), ensure_ascii=False)]
    check(len(third) == 1, "the reminder that survived kill -9 reached the fake once (%d)"
          % len(third))
    return finish(tmp, procs, ["tinbaod.log", "redis.log"])


if __name__ == "__main__":
    sys.exit(main())
