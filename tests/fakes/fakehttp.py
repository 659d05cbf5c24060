"""What the fake providers share: a JSON request handler and the server's start.

Each fake (fake_esms.py, fake_speedsms.py, fake_zalo.py) subclasses JsonHandler for its wire
format and calls serve() from main(): it prints "PORT <n>" as its first stdout line once it
listens on 127.0.0.1 (or --host), and serves until stopped.
"""

import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    content_type = "application/json; charset=utf-8"

    def log_message(self, fmt, *args):  # keep the test output quiet
        pass

    def reply(self, status, payload, headers=None):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", self.content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""


def serve(handler, state, host, port, queue_size=None):
    """Listens, prints the port, and serves `handler` (with server.state = state) until
    interrupted. Returns the exit status."""
    if queue_size:
        ThreadingHTTPServer.request_queue_size = queue_size
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.state = state
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
