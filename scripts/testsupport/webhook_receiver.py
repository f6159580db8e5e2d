#!/usr/bin/env python3
"""A loopback receiver of Standard Webhooks for the handler's webhook tests.

It verifies every delivery's `webhook-signature` independently of the worker (Python's hmac + base64, the Standard
Webhooks rules: the signed content is "<webhook-id>.<webhook-timestamp>.<body>", the header is a space-separated list
of "v1,<base64 HMAC-SHA256>"; a "whsec_" secret is base64-decoded, any other secret is used as UTF-8 bytes), answers
503 to the first --fail-first deliveries (to exercise retries), and records each request.
GET /deliveries returns the records as a JSON list. Binds 127.0.0.1 port 0, prints "READY <port>", exits with its
parent.
"""
import argparse
import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import parent_watch

parser = argparse.ArgumentParser()
parser.add_argument("--secret", default="")
parser.add_argument("--fail-first", type=int, default=0)
args = parser.parse_args()

if args.secret.startswith("whsec_"):
    KEY = base64.b64decode(args.secret[len("whsec_"):])
else:
    KEY = args.secret.encode()

lock = threading.Lock()
records = []
failures_left = [args.fail_first]


def verify(msg_id, timestamp, body, header):
    if not KEY or not header:
        return False
    expected = base64.b64encode(hmac.new(KEY, ("%s.%s." % (msg_id, timestamp)).encode() + body,
                                         hashlib.sha256).digest()).decode()
    for part in header.split(" "):
        version, _, value = part.partition(",")
        if version == "v1" and hmac.compare_digest(value, expected):
            return True
    return False


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        if self.path != "/deliveries":
            self.send_response(404)
            self.end_headers()
            return
        with lock:
            data = json.dumps(records).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        msg_id = self.headers.get("webhook-id")
        timestamp = self.headers.get("webhook-timestamp")
        signature = self.headers.get("webhook-signature")
        with lock:
            fail = failures_left[0] > 0
            if fail:
                failures_left[0] -= 1
            status = 503 if fail else 200
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            records.append({
                "path": self.path, "id": msg_id, "timestamp": timestamp, "signature": signature,
                "verified": verify(msg_id, timestamp, body, signature),
                "timestamp_fresh": bool(timestamp) and abs(time.time() - int(timestamp)) < 300,
                "answered": status, "body": parsed, "raw": body.decode("utf-8", "replace"),
                "headers": {k.lower(): v for k, v in self.headers.items()},
            })
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    parent_watch.exit_with_parent(1)
    print("READY %d" % server.server_address[1], flush=True)
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    main()
