#!/usr/bin/env python3
"""Loopback HTTP test server for ComfyLock's tests (Python stdlib only).

Serves files under --root (GET/HEAD with single byte ranges, If-Range, ETag, Last-Modified, directory listings),
optionally a PEP 503 "simple" index of the wheels/sdists in --simple-index DIR (/simple/, /simple/<project>/,
files under /packages/<filename> with #sha256= fragments), and injects faults on demand.

Start: python3 http_server.py --root DIR [--port 0] [--host 127.0.0.1] [--simple-index DIR] [--tls-cert C --tls-key K]
It prints "READY <port>" on stdout once listening. Use 127.0.0.1 and localhost as two different "hosts" (the
request log records the Host header of every request).

Control API (JSON bodies):
  POST /_control/fault   {"path": "/a.bin", "kind": KIND, ..., "times": 1}   queue a fault for the next request(s)
      kinds: close {offset}            send the body up to file offset `offset`, then drop the connection
             status {status, retry_after?, body?, echo_headers?}   answer with that status (e.g. 500, 503,
                    429, 408, 404); echo_headers puts every request header (Authorization too) into the body
             truncate {length}         a consistent but short response: only the first `length` bytes
             corrupt {offset}          flip the byte at file offset `offset` (wrong bytes, right length)
             stall {offset, seconds}   send up to `offset`, then sleep `seconds`, then drop the connection
             ignore_range              answer 200 with the whole file even when a Range was asked
             redirect {location, code?}
             slow {bytes_per_second, hold_until_in_flight?, hold_seconds?}
                                       send the body at about that rate (to make transfers overlap); with
                                       hold_until_in_flight N, first wait until N requests are answered at once
                                       (at most hold_seconds, default 30)
             short {length}            declare the full length, send only `length` bytes, drop the connection
      any fault may carry "range_start": N — then only a request whose Range starts at byte N takes it (faults
      in one range of a parallel ranged download)
  POST /_control/etag    {"path": "/a.bin", "etag": "\"v2\""}   override the validator of a path (null clears)
  POST /_control/reset   clear faults, validators and the request log
  GET  /_control/log     {"requests": [{method, path, host, range, status, bytes_sent, headers}],
                          "bytes_sent": {path: total body bytes}, "peak_in_flight": most requests answered at once}
Helpers:
  GET /_redirect?to=URL[&code=302]   redirect (to may be absolute or a path)
  GET /_loop                         redirects to itself forever
  ANY /_echo                         JSON {method, path, headers, body_size, body_sha256}
"""
import argparse
import email.utils
import hashlib
import html
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import parent_watch

LOCK = threading.Lock()
FAULTS = {}  # path -> [fault dict]
ETAGS = {}  # path -> etag override
LOG = []
BYTES_SENT = {}
IN_FLIGHT_CHANGED = threading.Condition(LOCK)  # notified whenever a request starts being answered
IN_FLIGHT = {"now": 0, "peak": 0}  # requests being answered (control requests excluded): now, and the most at once
ROOT = "."
SIMPLE = None
CHUNK = 256 * 1024


def normalize(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def project_of(filename):
    if filename.endswith(".whl"):
        return normalize(filename.split("-")[0])
    for ext in (".tar.gz", ".zip", ".tar.bz2", ".tgz"):
        if filename.endswith(ext):
            return normalize(filename[: -len(ext)].rsplit("-", 1)[0])
    return None


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 20)
            if not b:
                return h.hexdigest()
            h.update(b)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "comfylock-test-server"

    def log_message(self, fmt, *args):  # quiet
        pass

    # --- bookkeeping -------------------------------------------------------------------------------------------
    def record(self, status, sent):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_control/"):
            return
        with LOCK:
            LOG.append({
                "method": self.command, "path": path, "host": self.headers.get("Host", ""),
                "range": self.headers.get("Range"), "status": status, "bytes_sent": sent,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            })
            BYTES_SENT[path] = BYTES_SENT.get(path, 0) + sent

    def range_start(self):
        m = re.fullmatch(r"bytes=(\d+)-\d*", (self.headers.get("Range") or "").strip())
        return int(m.group(1)) if m else None

    def take_fault(self, path):
        """The first queued fault for `path` that applies to this request: a fault with `range_start` applies only
        to a request whose Range starts at that offset (per-range faults of a parallel ranged download)."""
        start = self.range_start()
        with LOCK:
            queue = FAULTS.get(path)
            if not queue:
                return None
            for index, fault in enumerate(queue):
                if fault.get("range_start") is not None and fault["range_start"] != start:
                    continue
                fault["times"] = fault.get("times", 1) - 1
                if fault["times"] <= 0:
                    queue.pop(index)
                return dict(fault)
            return None

    def read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = b""
        while len(data) < length:
            chunk = self.rfile.read(min(CHUNK, length - len(data)))
            if not chunk:
                break
            data += chunk
        return data

    def send_json(self, status, value, extra=None):
        body = json.dumps(value, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.record(status, len(body))

    def send_simple(self, status, text, extra=None, content_type="text/plain"):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self.record(status, len(body) if self.command != "HEAD" else 0)

    # --- methods ------------------------------------------------------------------------------------------------
    def do_HEAD(self):
        self.dispatch()

    def do_GET(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_PATCH(self):
        self.dispatch()

    def dispatch(self):
        counted = not urllib.parse.urlsplit(self.path).path.startswith("/_control/")
        if counted:
            with LOCK:
                IN_FLIGHT["now"] += 1
                IN_FLIGHT["peak"] = max(IN_FLIGHT["peak"], IN_FLIGHT["now"])
                IN_FLIGHT_CHANGED.notify_all()
        try:
            self.route()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        finally:
            if counted:
                with LOCK:
                    IN_FLIGHT["now"] -= 1

    def route(self):
        parts = urllib.parse.urlsplit(self.path)
        path = parts.path
        query = urllib.parse.parse_qs(parts.query)
        if path.startswith("/_control/"):
            return self.control(path[len("/_control/"):])
        if path == "/_echo":
            body = self.read_body()
            return self.send_json(200, {
                "method": self.command, "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body_size": len(body), "body_sha256": hashlib.sha256(body).hexdigest(),
            })
        if self.command in ("POST", "PUT", "PATCH"):
            self.read_body()
        fault = self.take_fault(path)
        if fault and fault["kind"] == "status":
            extra = {}
            if fault.get("retry_after") is not None:
                extra["Retry-After"] = str(fault["retry_after"])
            body = fault.get("body", "injected status\n")
            if fault.get("echo_headers"):  # a hostile server: echo every request header (tokens too) in the error body
                body = json.dumps({"error": "denied", "request_headers": dict(self.headers.items())}) + "\n"
            return self.send_simple(int(fault["status"]), body, extra)
        if fault and fault["kind"] == "redirect":
            return self.send_simple(int(fault.get("code", 302)), "", {"Location": fault["location"]})
        if path == "/_redirect":
            code = int(query.get("code", ["302"])[0])
            return self.send_simple(code, "redirecting\n", {"Location": query["to"][0]})
        if path == "/_loop":
            return self.send_simple(302, "", {"Location": "/_loop"})
        if SIMPLE and (path == "/simple" or path.startswith("/simple/")):
            return self.simple_index(path)
        if SIMPLE and path.startswith("/packages/"):
            name = urllib.parse.unquote(path[len("/packages/"):])
            if "/" in name or name.startswith("."):
                return self.send_simple(404, "not found\n")
            return self.serve_file(os.path.join(SIMPLE, name), path, fault)
        fs = os.path.realpath(os.path.join(ROOT, urllib.parse.unquote(path).lstrip("/")))
        if not (fs == ROOT or fs.startswith(ROOT + os.sep)):
            return self.send_simple(403, "outside the root\n")
        if os.path.isdir(fs):
            return self.listing(fs, path)
        return self.serve_file(fs, path, fault)

    # --- control ------------------------------------------------------------------------------------------------
    def control(self, what):
        body = self.read_body() if self.command in ("POST", "PUT") else b""
        value = json.loads(body or b"{}")
        if what == "fault":
            with LOCK:
                FAULTS.setdefault(value["path"], []).append(value)
            return self.send_json(200, {"ok": True})
        if what == "etag":
            with LOCK:
                if value.get("etag") is None:
                    ETAGS.pop(value["path"], None)
                else:
                    ETAGS[value["path"]] = value["etag"]
            return self.send_json(200, {"ok": True})
        if what == "reset":
            with LOCK:
                FAULTS.clear()
                ETAGS.clear()
                LOG.clear()
                BYTES_SENT.clear()
                IN_FLIGHT["peak"] = IN_FLIGHT["now"]
            return self.send_json(200, {"ok": True})
        if what == "log":
            with LOCK:
                snapshot = {"requests": list(LOG), "bytes_sent": dict(BYTES_SENT), "peak_in_flight": IN_FLIGHT["peak"]}
            body = json.dumps(snapshot, sort_keys=True).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return None
        return self.send_json(404, {"error": "unknown control " + what})

    # --- files --------------------------------------------------------------------------------------------------
    def validators(self, fs, path, st):
        with LOCK:
            etag = ETAGS.get(path)
        if etag is None:
            etag = '"%x-%x"' % (st.st_size, st.st_mtime_ns)
        return etag, email.utils.formatdate(st.st_mtime, usegmt=True)

    def serve_file(self, fs, path, fault):
        try:
            st = os.stat(fs)
        except OSError:
            return self.send_simple(404, "not found: %s\n" % path)
        size = st.st_size
        etag, modified = self.validators(fs, path, st)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if_range = self.headers.get("If-Range")
        if rng and if_range is not None and if_range not in (etag, modified):
            rng = None  # validator changed: send the whole (new) file
        if rng and fault and fault["kind"] == "ignore_range":
            rng = None
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if m and (m.group(1) or m.group(2)):
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                else:
                    start = max(0, size - int(m.group(2)))
                if start >= size or start > end:
                    return self.send_simple(416, "range not satisfiable\n", {"Content-Range": "bytes */%d" % size})
                status = 206
        length = end - start + 1 if size > 0 else 0
        declared = length
        if fault and fault["kind"] == "truncate":
            end = min(end, start + int(fault["length"]) - 1)
            length = declared = max(0, end - start + 1)
        self.send_response(status)
        self.send_header("Content-Type", "text/html" if fs.endswith(".html") else "application/octet-stream")
        self.send_header("Content-Length", str(declared))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("ETag", etag)
        self.send_header("Last-Modified", modified)
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        if self.command == "HEAD":
            self.record(status, 0)
            return None
        stop_at = end + 1  # exclusive file offset
        drop = False
        chunk_size = 16 * 1024 if fault and fault["kind"] == "slow" else CHUNK
        if fault and fault["kind"] == "slow" and "hold_until_in_flight" in fault:
            # A barrier: the body waits until that many requests are being answered at once (or the hold runs out),
            # so a test of concurrency does not depend on how fast a loaded machine starts the requests.
            with IN_FLIGHT_CHANGED:
                IN_FLIGHT_CHANGED.wait_for(
                    lambda: IN_FLIGHT["now"] >= int(fault["hold_until_in_flight"]),
                    timeout=float(fault.get("hold_seconds", 30)))
        if fault and fault["kind"] in ("close", "stall"):
            stop_at = max(start, min(stop_at, int(fault["offset"])))
            drop = True
        if fault and fault["kind"] == "short":  # the declared length, but only `length` bytes, then a drop
            stop_at = min(stop_at, start + int(fault["length"]))
            drop = True
        sent = 0
        recorded = False
        try:
            with open(fs, "rb") as f:
                f.seek(start)
                pos = start
                while pos < stop_at:
                    data = f.read(min(chunk_size, stop_at - pos))
                    if not data:
                        break
                    if fault and fault["kind"] == "corrupt":
                        off = int(fault["offset"])
                        if pos <= off < pos + len(data):
                            b = bytearray(data)
                            b[off - pos] ^= 0xFF
                            data = bytes(b)
                    self.wfile.write(data)
                    sent += len(data)
                    pos += len(data)
                    if fault and fault["kind"] == "slow":
                        time.sleep(len(data) / float(fault["bytes_per_second"]))
            if drop:
                self.wfile.flush()
                if fault["kind"] == "stall":
                    self.record(status, sent)  # log it now: the client gives up long before the sleep ends
                    recorded = True
                    time.sleep(float(fault.get("seconds", 30)))
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        finally:
            if not recorded:
                self.record(status, sent)
        return None

    def listing(self, fs, path):
        index = os.path.join(fs, "index.html")
        if os.path.isfile(index):
            return self.serve_file(index, path.rstrip("/") + "/index.html", None)
        if not path.endswith("/"):
            return self.send_simple(301, "", {"Location": path + "/"})
        links = "".join('<a href="%s">%s</a><br/>\n' % (urllib.parse.quote(n) + ("/" if os.path.isdir(os.path.join(fs, n)) else ""), html.escape(n))
                        for n in sorted(os.listdir(fs)))
        return self.send_simple(200, "<!DOCTYPE html><html><body>\n%s</body></html>\n" % links,
                                content_type="text/html")

    def simple_index(self, path):
        files = sorted(f for f in os.listdir(SIMPLE) if project_of(f))
        projects = sorted({project_of(f) for f in files})
        rest = path[len("/simple"):].strip("/")
        if path in ("/simple",):
            return self.send_simple(301, "", {"Location": "/simple/"})
        if rest == "":
            links = "".join('<a href="/simple/%s/">%s</a>\n' % (p, p) for p in projects)
            return self.send_simple(200, "<!DOCTYPE html><html><body>\n%s</body></html>\n" % links,
                                    content_type="text/html")
        project = normalize(rest)
        if project != rest:
            return self.send_simple(301, "", {"Location": "/simple/%s/" % project})
        mine = [f for f in files if project_of(f) == project]
        if not mine:
            return self.send_simple(404, "no project %s\n" % project)
        links = "".join('<a href="/packages/%s#sha256=%s">%s</a>\n' % (
            urllib.parse.quote(f), file_sha256(os.path.join(SIMPLE, f)), html.escape(f)) for f in mine)
        return self.send_simple(200, "<!DOCTYPE html><html><body>\n%s</body></html>\n" % links,
                                content_type="text/html")


def main():
    global ROOT, SIMPLE
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a parent may have left SIGTERM ignored
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=".")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--simple-index", default=None)
    parser.add_argument("--tls-cert", default=None, help="serve HTTPS with this PEM certificate chain")
    parser.add_argument("--tls-key", default=None, help="the certificate's PEM private key")
    args = parser.parse_args()
    ROOT = os.path.realpath(args.root)
    SIMPLE = os.path.realpath(args.simple_index) if args.simple_index else None
    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    if args.tls_cert:
        import ssl
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    # Exit with the process that started us (a crashed test run must not leave servers behind).
    parent_watch.exit_with_parent(1)
    print("READY %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
