#!/usr/bin/env python3
"""Loopback stand-in for RunPod's serverless job endpoints (Python stdlib only), for ComfyLock's worker tests.

It follows what runpod-python 1.12's worker loop expects of the platform (see ../shared/RUNPOD.md):

  GET  /v2/<endpoint>/job-take/<worker>?<query>&job_in_progress=0|1   long poll: 200 {id, input, ...} when a job is
       queued (waits up to --long-poll seconds for one), else 204. Faults queued with /_control/take_fault answer
       first (400, 429, 500, a malformed body, a batch list, a job without id, ...).
  GET  /v2/<endpoint>/job-take-batch/<worker>?...&batch_size=N        the same, answering a JSON list.
  GET  /v2/<endpoint>/job-stop/<worker>?...                           long poll: 200 {"jobsToStop": [ids]} or 204.
  POST /v2/<endpoint>/job-done/<worker>/<job id>?...&isStream=false|true
       body JSON text (any content type): {"status": "IN_PROGRESS", "output": ...} is recorded as progress; anything
       else is the job's result ({"output"} | {"error"} [+ "stopPod"]). A post after the result is recorded as
       late. Faults from /_control/post_fault answer first (e.g. 500 twice to test retries).
  GET  /v2/<endpoint>/ping/<worker>?job_id=a,b&runpod_version=V       heartbeat, recorded with its time.
Every platform call must carry `Authorization: <--api-key>` (the raw key, no "Bearer"); others get 401 (recorded).

Control API (JSON):
  POST /_control/jobs        {"jobs": [{"id", "input", ...} | any JSON]}   queue jobs (served in order)
  POST /_control/take_fault  {"status": 429, "body": "...", "times": 1}    or {"batch": [jobs]} answered as a list
  POST /_control/post_fault  {"status": 500, "times": 2}
  POST /_control/stop        {"ids": ["a"]}                               the next stop poll answers these
  GET  /_control/log         {"takes": [...], "results": {id: [posts]}, "progress": {id: [...]}, "pings": [...],
                              "stop_polls": n, "unauthorized": n, "late": [...], "queued": n,
                              "failed_posts": [ids whose post got an injected fault]}
  POST /_control/reset
Start: python3 runpod_standin.py [--port 0] [--api-key KEY] [--long-poll 2]; prints "READY <port>"; exits when its
parent goes away.
"""
import argparse
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import parent_watch

COND = threading.Condition()
STATE = {}
API_KEY = None
LONG_POLL = 2.0


def reset():
    STATE.clear()
    STATE.update(
        queue=[], take_faults=[], post_faults=[], stops=[], takes=[], results={}, progress={}, pings=[],
        stop_polls=0, unauthorized=0, late=[], failed_posts=[], done=set(), started=time.time(),
    )


reset()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "runpod-standin"

    def log_message(self, *args):
        pass

    def send(self, status, body=None, content_type="application/json"):
        data = b"" if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if status != 204 and data:
            self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def authorized(self):
        if API_KEY is None:
            return True
        if self.headers.get("Authorization") == API_KEY:
            return True
        with COND:
            STATE["unauthorized"] += 1
        self.send(401, {"error": "unauthorized"})
        return False

    def route(self):
        parsed = urllib.parse.urlsplit(self.path)
        parts = [p for p in parsed.path.split("/") if p]
        query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
        return parsed, parts, query

    def do_GET(self):
        parsed, parts, query = self.route()
        if parsed.path == "/_control/log":
            with COND:
                log = {
                    "takes": STATE["takes"], "results": STATE["results"], "progress": STATE["progress"],
                    "pings": STATE["pings"], "stop_polls": STATE["stop_polls"], "unauthorized": STATE["unauthorized"],
                    "late": STATE["late"], "queued": len(STATE["queue"]), "failed_posts": STATE["failed_posts"],
                }
            return self.send(200, log)
        if len(parts) >= 4 and parts[0] == "v2":
            kind = parts[2]
            if not self.authorized():
                return
            if kind in ("job-take", "job-take-batch"):
                return self.take(parts, query, batch=(kind == "job-take-batch"))
            if kind == "job-stop":
                return self.stop_poll()
            if kind == "ping":
                with COND:
                    STATE["pings"].append({
                        "t": time.time() - STATE["started"], "worker": parts[3],
                        "job_id": query.get("job_id", [""])[0], "runpod_version": query.get("runpod_version", [""])[0],
                    })
                return self.send(200, {"status": "ok"})
        self.send(404, {"error": "not found"})

    def take(self, parts, query, batch):
        record = {
            "t": time.time() - STATE["started"], "worker": parts[3],
            "job_in_progress": query.get("job_in_progress", [None])[0], "query": dict((k, v[0]) for k, v in query.items()),
        }
        deadline = time.time() + LONG_POLL
        with COND:
            STATE["takes"].append(record)
            if STATE["take_faults"]:
                fault = STATE["take_faults"][0]
                fault["times"] = fault.get("times", 1) - 1
                if fault["times"] <= 0:
                    STATE["take_faults"].pop(0)
                record["answer"] = fault.get("status", 200)
                if "batch" in fault:
                    return self.send(200, fault["batch"])
                body = fault.get("body")
                return self.send(fault.get("status", 200), body.encode() if isinstance(body, str) else body)
            while not STATE["queue"]:
                remaining = deadline - time.time()
                if remaining <= 0:
                    record["answer"] = 204
                    return self.send(204)
                COND.wait(remaining)
            if batch:
                size = int(query.get("batch_size", ["1"])[0] or 1)
                jobs, STATE["queue"] = STATE["queue"][:size], STATE["queue"][size:]
                record["answer"] = 200
                record["jobs"] = [j.get("id") if isinstance(j, dict) else None for j in jobs]
                return self.send(200, jobs)
            job = STATE["queue"].pop(0)
            record["answer"] = 200
            record["jobs"] = [job.get("id") if isinstance(job, dict) else None]
        self.send(200, job)

    def stop_poll(self):
        deadline = time.time() + LONG_POLL
        with COND:
            STATE["stop_polls"] += 1
            while not STATE["stops"]:
                remaining = deadline - time.time()
                if remaining <= 0:
                    return self.send(204)
                COND.wait(remaining)
            ids, STATE["stops"] = STATE["stops"], []
        self.send(200, {"jobsToStop": ids})

    def do_POST(self):
        parsed, parts, query = self.route()
        raw = self.body()
        if parsed.path.startswith("/_control/"):
            return self.control(parsed.path, json.loads(raw or b"{}"))
        if len(parts) >= 5 and parts[0] == "v2" and parts[2] == "job-done":
            if not self.authorized():
                return
            job_id = urllib.parse.unquote(parts[4])
            with COND:
                if STATE["post_faults"]:
                    fault = STATE["post_faults"][0]
                    fault["times"] = fault.get("times", 1) - 1
                    if fault["times"] <= 0:
                        STATE["post_faults"].pop(0)
                    STATE["failed_posts"].append(job_id)
                    return self.send(fault.get("status", 500), {"error": "injected"})
                try:
                    body = json.loads(raw)
                except ValueError:
                    body = {"_unparsable": raw.decode("utf-8", "replace")}
                entry = {
                    "t": time.time() - STATE["started"], "worker": parts[3], "body": body,
                    "is_stream": query.get("isStream", [None])[0], "content_type": self.headers.get("Content-Type"),
                }
                if isinstance(body, dict) and body.get("status") == "IN_PROGRESS":
                    if job_id in STATE["done"]:
                        STATE["late"].append(job_id)
                    STATE["progress"].setdefault(job_id, []).append(entry)
                else:
                    STATE["results"].setdefault(job_id, []).append(entry)
                    STATE["done"].add(job_id)
                COND.notify_all()
            return self.send(200, {})
        self.send(404, {"error": "not found"})

    def control(self, path, body):
        with COND:
            if path == "/_control/jobs":
                STATE["queue"].extend(body.get("jobs", []))
            elif path == "/_control/take_fault":
                STATE["take_faults"].append(body)
            elif path == "/_control/post_fault":
                STATE["post_faults"].append(body)
            elif path == "/_control/stop":
                STATE["stops"].extend(body.get("ids", []))
            elif path == "/_control/reset":
                reset()
            else:
                return self.send(404, {"error": "unknown control"})
            COND.notify_all()
        self.send(200, {"ok": True})


def main():
    global API_KEY, LONG_POLL
    import signal
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    parser = argparse.ArgumentParser(description="RunPod job-endpoint stand-in")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--long-poll", type=float, default=2.0)
    args = parser.parse_args()
    API_KEY = args.api_key
    LONG_POLL = args.long_poll
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    parent_watch.exit_with_parent(1)
    print("READY %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
