#!/usr/bin/env python3
"""A real SMTP server for tests (aiosmtpd), writing each received message to a folder.

Usage: smtp_server.py --dir DIR [--port 0] [--user U --password P] [--tls]

Prints "PORT <n>" as its first stdout line once it listens on 127.0.0.1. For each message it
writes DIR/<n>.eml (the raw bytes as received, n = 1, 2, ...) and then DIR/<n>.json, the message
decoded with Python's email package:
  {"mail_from", "rcpt_tos", "subject" (decoded), "from", "to", "reply_to" (decoded),
   "text", "html" (decoded parts with "\n" line ends, null when absent), "content_type",
   "headers" (raw header values by name, lists), "defects" (parser complaints), "auth_user",
   "tls" (STARTTLS was used)}
both before it answers 250, so a client that saw 250 finds the files.
Recipients steer the answer to RCPT TO (DOMAIN: any):
  nobody@...   -> 550 5.1.1 mailbox unavailable
  greylist@... -> 451 4.7.1 greylisted, try later
--user/--password: AUTH PLAIN/LOGIN required; anything else gets 535.
--tls: STARTTLS offered with a self-signed certificate made at start (openssl command).
"""

import argparse
import asyncio
import email
import email.policy
import json
import os
import ssl
import subprocess
import sys
import tempfile

from aiosmtpd.smtp import SMTP, AuthResult


class Handler:
    def __init__(self, folder):
        self.folder = folder
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local == "nobody":
            return "550 5.1.1 Mailbox unavailable"
        if local == "greylist":
            return "451 4.7.1 Greylisted, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.folder, str(self.count))
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", "surrogateescape")
        with open(base + ".eml", "wb") as f:
            f.write(raw)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        raw_msg = email.message_from_bytes(raw, policy=email.policy.compat32)

        def part(kind):
            body = msg.get_body(preferencelist=(kind,))
            if body is None or body.get_content_subtype() != kind:
                return None
            # Line endings as the sender meant them: the wire's CRLF becomes "\n".
            return body.get_content().replace("\r\n", "\n")

        headers = {}
        for name, value in raw_msg.items():
            headers.setdefault(name, []).append(value)
        decoded = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "subject": str(msg["subject"]) if msg["subject"] is not None else None,
            "from": str(msg["from"]) if msg["from"] is not None else None,
            "to": str(msg["to"]) if msg["to"] is not None else None,
            "reply_to": str(msg["reply-to"]) if msg["reply-to"] is not None else None,
            "text": part("plain"),
            "html": part("html"),
            "content_type": msg.get_content_type(),
            "headers": headers,
            "defects": [type(d).__name__ for d in msg.defects] +
                       [type(d).__name__ for p in msg.walk() for d in p.defects],
            "auth_user": getattr(session, "auth_data", None) and session.auth_data.login.decode(),
            "tls": session.ssl is not None,
        }
        tmp = base + ".json.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(decoded, f, ensure_ascii=False)
        os.replace(tmp, base + ".json")
        return "250 Message accepted"


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == self.user and auth_data.password == self.password
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def self_signed_context(folder):
    cert = os.path.join(folder, "cert.pem")
    key = os.path.join(folder, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    return ctx


async def serve(args):
    os.makedirs(args.dir, exist_ok=True)
    handler = Handler(args.dir)
    tls_context = None
    if args.tls:
        tls_context = self_signed_context(tempfile.mkdtemp(prefix="tinbao-smtp-tls-"))
    kwargs = {"hostname": "smtp.test", "enable_SMTPUTF8": False, "tls_context": tls_context}
    if args.user is not None:
        kwargs.update(authenticator=Authenticator(args.user, args.password or ""),
                      auth_required=True, auth_require_tls=False)

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, **kwargs), host="127.0.0.1",
                                      port=args.port)
    port = server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    async with server:
        await server.serve_forever()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--tls", action="store_true")
    args = parser.parse_args()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
