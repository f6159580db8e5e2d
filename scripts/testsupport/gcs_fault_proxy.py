#!/usr/bin/env python3
"""Fault-injecting loopback proxy in front of a GCS emulator (Python stdlib only; used by ComfyGCSTests).

It forwards JSON-API requests to the upstream emulator and, following a fault plan, breaks some of them the way
real networks and real GCS do. It also stands in for the parts of GCS the emulator lacks or gets wrong:

* resumable status queries (``Content-Range: bytes */N``): gcp-storage-emulator finalizes the object on them, so the
  proxy answers from what it forwarded, like GCS: ``308`` with ``Range: bytes=0-(n-1)``, or no ``Range`` for 0 bytes;
* ``buckets.testIamPermissions`` (``--iam-permissions``): answers with the configured subset;
* bearer tokens (``--valid-tokens-file``): every request must carry a token listed in that file (written by the token
  or metadata stand-in), else ``401``.

Fault plan (``--faults`` JSON list, each used once, in arrival order of the matching requests):
  {"on": "chunk", "index": 1, "action": "drop"}      read half the chunk, then close the connection (nothing stored)
  {"on": "chunk", "index": 2, "action": "persist-partial"}  store the first 256 KiB multiple below half of the
                                                     chunk upstream, then close the connection without an answer
  {"on": "chunk", "index": 0, "action": "503"}       answer 503 (nothing stored); also "429" (Retry-After: 1),
                                                     "500", "408"
  {"on": "chunk", "index": 3, "action": "410"}       the session expired: this and later requests to it get 410
  {"on": "init", "index": 0, "action": "503"}        the session-creating POST (also "412")
  {"on": "media", "index": 0, "action": "503"}       a simple media upload (also "drop", "412", "corrupt-crc")
  {"on": "status", "index": 0, "action": "503"}      a status query
  {"on": "final", "index": 0, "action": "corrupt-crc"}  the finishing answer reports a wrong crc32c
Chunk indexes count data-carrying PUTs to any session, from 0.

Prints ``PORT <n>`` on stdout once listening on 127.0.0.1 (port 0 = any free port). ``--log FILE`` appends one
JSON line per request (method, path, Content-Range, whether Authorization was present — never its value, action).
"""
import argparse
import http.client
import json
import socket
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "upgrade", "content-length"}


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.upstream = urllib.parse.urlsplit(args.upstream)
        self.faults = json.loads(args.faults) if args.faults else []
        self.counters = {}
        self.persisted = {}  # upload_id -> bytes stored upstream
        self.finished = {}  # upload_id -> (status, headers, body)
        self.expired = set()
        self.iam = None if args.iam_permissions is None else [p for p in args.iam_permissions.split(",") if p]
        self.tokens_file = args.valid_tokens_file
        self.log_path = args.log

    def next_fault(self, kind):
        with self.lock:
            index = self.counters.get(kind, 0)
            self.counters[kind] = index + 1
            for fault in self.faults:
                if fault.get("on") == kind and fault.get("index") == index and not fault.get("used"):
                    fault["used"] = True
                    return fault["action"]
        return None

    def log(self, entry):
        if not self.log_path:
            return
        with self.lock, open(self.log_path, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")

    def valid_tokens(self):
        try:
            with open(self.tokens_file) as f:
                return {line.strip() for line in f if line.strip()}
        except FileNotFoundError:
            return set()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state: State = None

    def log_message(self, *args):
        pass

    # -- helpers -------------------------------------------------------------------------------------------
    def read_body(self, limit=None):
        length = int(self.headers.get("Content-Length") or 0)
        want = length if limit is None else min(limit, length)
        data = b""
        while len(data) < want:
            piece = self.rfile.read(min(1 << 16, want - len(data)))
            if not piece:
                break
            data += piece
        return data, length

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def reply_json(self, status, obj, headers=None):
        h = {"Content-Type": "application/json"}
        h.update(headers or {})
        self.reply(status, json.dumps(obj).encode(), h)

    def error(self, status, message, headers=None):
        self.reply_json(status, {"error": {"code": status, "message": message}}, headers)

    def drop(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def forward(self, body, headers_override=None, method=None):
        up = self.state.upstream
        conn = http.client.HTTPConnection(up.hostname, up.port, timeout=600)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP and k.lower() != "authorization"}
        headers.update(headers_override or {})
        headers["Content-Length"] = str(len(body))
        conn.request(method or self.command, self.path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        out = {}
        for k, v in response.getheaders():
            if k.lower() in HOP or k.lower() in ("server", "date"):
                continue
            if k.lower() == "location":
                own = "http://%s" % self.headers.get("Host")
                v = v.replace("http://%s:%d" % (up.hostname, up.port), own)
            out[k] = v
        conn.close()
        return response.status, out, data

    def fault_status(self, action):
        extra = {"Retry-After": "1"} if action == "429" else {}
        self.error(int(action), "injected fault %s" % action, extra)

    # -- request handling ----------------------------------------------------------------------------------
    def handle_any(self):
        parsed = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parsed.query)
        entry = {
            "method": self.command, "path": self.path, "contentRange": self.headers.get("Content-Range"),
            "xGoogHash": self.headers.get("X-Goog-Hash"), "authorization": "Authorization" in self.headers,
            "length": int(self.headers.get("Content-Length") or 0),
        }
        action = None
        try:
            if self.state.tokens_file is not None:
                auth = self.headers.get("Authorization", "")
                token = auth[7:] if auth.startswith("Bearer ") else None
                if token is None or token not in self.state.valid_tokens():
                    self.read_body()
                    entry["action"] = "401"
                    return self.error(401, "invalid or missing bearer token")
            if parsed.path.endswith("/iam/testPermissions") and self.state.iam is not None:
                asked = query.get("permissions", [])
                return self.reply_json(200, {
                    "kind": "storage#testIamPermissionsResponse",
                    "permissions": [p for p in asked if p in self.state.iam]})
            upload_id = query.get("upload_id", [None])[0]
            is_upload = parsed.path.startswith("/upload/storage/v1/")
            if is_upload and self.command == "PUT" and upload_id:
                action = self.session_put(upload_id, entry)
                return
            if is_upload and self.command == "POST" and query.get("uploadType") == ["resumable"]:
                action = self.state.next_fault("init")
                if action in ("503", "429", "500", "408", "412"):
                    self.read_body()
                    return self.fault_status(action)
            if is_upload and self.command == "POST" and query.get("uploadType") == ["media"]:
                action = self.state.next_fault("media")
                if action == "drop":
                    self.read_body(limit=int(self.headers.get("Content-Length") or 0) // 2)
                    return self.drop()
                if action in ("503", "429", "500", "408", "412"):
                    self.read_body()
                    return self.fault_status(action)
                if action == "corrupt-crc":
                    body, _ = self.read_body()
                    status, headers, data = self.forward(body)
                    if status == 200:
                        obj = json.loads(data)
                        obj["crc32c"] = "AAAAAA=="
                        data = json.dumps(obj).encode()
                    return self.reply(status, data, headers)
            body, _ = self.read_body()
            status, headers, data = self.forward(body)
            self.reply(status, data, headers)
        finally:
            entry["action"] = entry.get("action") or action
            self.state.log(entry)

    def session_put(self, upload_id, entry):
        state = self.state
        content_range = (self.headers.get("Content-Range") or "").strip()
        if upload_id in state.expired:
            self.read_body()
            self.error(410, "upload session expired")
            return "410"
        if content_range.startswith("bytes */"):
            action = state.next_fault("status")
            self.read_body()
            if action in ("503", "429", "500", "408"):
                self.fault_status(action)
                return action
            if upload_id in state.finished:
                status, headers, data = state.finished[upload_id]
                self.reply(status, data, headers)
                return "status-finished"
            n = state.persisted.get(upload_id, 0)
            self.reply(308, b"", {"Range": "bytes=0-%d" % (n - 1)} if n > 0 else {})
            return "status"
        action = state.next_fault("chunk")
        length = int(self.headers.get("Content-Length") or 0)
        if action == "drop":
            self.read_body(limit=length // 2)
            self.drop()
            return action
        if action in ("503", "429", "500", "408"):
            self.read_body()
            self.fault_status(action)
            return action
        if action == "410":
            self.read_body()
            state.expired.add(upload_id)
            self.error(410, "upload session expired")
            return action
        body, _ = self.read_body()
        start, end, total = parse_range(content_range)
        expected = state.persisted.get(upload_id, 0)
        if start != expected:
            # Real GCS requires chunks to continue exactly where the stored data ends.
            n = expected
            self.reply(308 if n < total else 400, b"", {"Range": "bytes=0-%d" % (n - 1)} if n > 0 else {})
            entry["note"] = "misaligned chunk start %d, expected %d" % (start, expected)
            return "misaligned"
        if action == "persist-partial":
            keep = (len(body) // 2) // (256 * 1024) * (256 * 1024)
            if keep > 0:
                part = body[:keep]
                status, _, _ = self.forward(
                    part, {"Content-Range": "bytes %d-%d/%d" % (start, start + keep - 1, total)})
                if status == 308:
                    state.persisted[upload_id] = start + keep
            self.drop()
            return action
        status, headers, data = self.forward(body)
        if status == 308:
            state.persisted[upload_id] = start + len(body)
        elif status in (200, 201):
            state.persisted[upload_id] = total
            final = state.next_fault("final")
            if final == "corrupt-crc":
                obj = json.loads(data)
                obj["crc32c"] = "AAAAAA=="
                data = json.dumps(obj).encode()
                action = final
            state.finished[upload_id] = (status, headers, data)
        self.reply(status, data, headers)
        return action or "forward"

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any


def parse_range(value):
    spec = value.split(" ", 1)[1]
    span, total = spec.split("/")
    start, end = span.split("-")
    return int(start), int(end), int(total)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", required=True, help="emulator base URL, e.g. http://127.0.0.1:9023")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--faults", default="")
    parser.add_argument("--iam-permissions", default=None)
    parser.add_argument("--valid-tokens-file", default=None)
    parser.add_argument("--log", default=None)
    args = parser.parse_args()
    Handler.state = State(args)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("PORT %d" % server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
