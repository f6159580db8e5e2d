#!/usr/bin/env python3
"""P5 benchmark of comfy-handler (issue 12 "Performance"), side by side in one run. Driven by scripts/bench/handler.sh.

Rows, all against the same ComfyUI stand-in (scripts/testsupport/comfyui_standin.py), small image (64x64 PNG),
base64 outputs, one job at a time:
  raw            this script as a bare ComfyUI client: WebSocket /ws, POST /prompt, wait for `executing` null,
                 GET /history, GET /view, base64 — what any worker must do at least (keep-alive HTTP session)
  comfy-handler  `comfy-handler serve --comfyui-url ...`, POST /runsync (its local HTTP API; validation, the
                 WorkflowRunner with its watchdog, sha256, base64, result JSON)
  worker-comfyui the peer: runpod-workers/worker-comfyui's handler.py (read from a fetched copy OUTSIDE this
                 repository, never committed) under runpod-python's local API (`--rp_serve_api`), POST /runsync
Latency: interleaved rounds (raw, handler, peer in turn), medians; overhead = median of the per-round differences
to raw. Throughput: back-to-back blocks of N jobs per client, interleaved, jobs/s and the ratio to raw.
Heartbeat jitter: the handler in RunPod mode against scripts/testsupport/runpod_standin.py (ping every 1 s) while a
15 s job runs: the largest |gap - 1 s| between pings. Ready: `comfy-handler serve --version V --root R --volume VOL`
started K times: process start -> READY, minus the handler's own report of ComfyUI's start ("start-up phases").
Every job's answer is checked (a PNG that decodes from base64); a failed check aborts the run.

With --comfyui-url the rows run against that (already running) ComfyUI instead of a stand-in started here — e.g. the
real ComfyUI on CPU (the workflow's EmptyImage, ImageInvert and SaveImage are core nodes that need no model); the
heartbeat row needs the stand-in's StandInSleep node and is skipped then.
"""
import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

import requests
import websocket

PNG = b"\x89PNG\r\n\x1a\n"


def graph(i, seconds=None):
    nodes = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": i}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "bench"}},
    }
    if seconds is not None:
        nodes["4"] = {"class_type": "StandInSleep", "inputs": {"value": ["2", 0], "seconds": seconds}}
        nodes["3"]["inputs"]["images"] = ["4", 0]
    return nodes


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_line(proc, prefix, timeout=180):
    """Reads proc's stderr until a line starting with prefix; returns (line, time seen). Keeps draining after."""
    deadline = time.time() + timeout
    lines = []
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            raise SystemExit("process exited before %r: %s" % (prefix, "".join(lines[-20:])))
        lines.append(line)
        if line.startswith(prefix):
            seen = time.monotonic()
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return line.strip(), seen, lines
    raise SystemExit("timed out waiting for %r" % prefix)


def wait_http(url, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            requests.get(url, timeout=2)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit("%s did not answer" % url)


class Raw:
    name = "raw"

    def __init__(self, host):
        self.host = host
        self.http = requests.Session()

    def run(self, g):
        cid = str(uuid.uuid4())
        ws = websocket.create_connection("ws://%s/ws?clientId=%s" % (self.host, cid), timeout=60)
        try:
            r = self.http.post("http://%s/prompt" % self.host, json={"prompt": g, "client_id": cid}, timeout=60)
            r.raise_for_status()
            pid = r.json()["prompt_id"]
            while True:
                msg = ws.recv()
                if isinstance(msg, bytes):
                    continue
                m = json.loads(msg)
                if m.get("type") == "executing" and m["data"].get("node") is None and m["data"].get("prompt_id") == pid:
                    break
                if m.get("type") == "execution_error":
                    raise SystemExit("raw: execution error %s" % m)
        finally:
            ws.close()
        hist = self.http.get("http://%s/history/%s" % (self.host, pid), timeout=60).json()[pid]
        out = []
        for node in hist["outputs"].values():
            for image in node.get("images", []):
                q = urllib.parse.urlencode(
                    {"filename": image["filename"], "subfolder": image["subfolder"], "type": image["type"]})
                data = self.http.get("http://%s/view?%s" % (self.host, q), timeout=60).content
                out.append(base64.b64encode(data).decode())
        check(out[0])


class RunSync:
    def __init__(self, name, base, extract):
        self.name = name
        self.base = base
        self.extract = extract
        self.http = requests.Session()
        self.timings = []  # the handler's own per-job split (output.timings), where it reports one

    def run(self, g):
        t = time.perf_counter()
        r = self.http.post(self.base + "/runsync", json={"input": {"workflow": g}}, timeout=120)
        r.raise_for_status()
        body = r.json()
        timings = (body.get("output") or {}).get("timings") if isinstance(body.get("output"), dict) else None
        if isinstance(timings, dict):
            self.timings.append(dict(timings, client_ms=(time.perf_counter() - t) * 1000))
        try:
            data = self.extract(body)
        except Exception:
            raise SystemExit("%s: unexpected answer %s" % (self.name, json.dumps(body)[:600]))
        check(data)


def check(b64):
    if not base64.b64decode(b64).startswith(PNG):
        raise SystemExit("an answer is not a PNG")


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def latency(clients, rounds, warmup):
    times = {c.name: [] for c in clients}
    i = 1000
    for r in range(warmup + rounds):
        for c in clients:
            i += 1
            t = time.perf_counter()
            c.run(graph(i))
            if r >= warmup:
                times[c.name].append((time.perf_counter() - t) * 1000)
    return times


def throughput(clients, jobs, blocks):
    rates = {c.name: [] for c in clients}
    i = 500000
    for _ in range(blocks):
        for c in clients:
            t = time.perf_counter()
            for _ in range(jobs):
                i += 1
                c.run(graph(i))
            rates[c.name].append(jobs / (time.perf_counter() - t))
    return rates


def heartbeat(args, comfy):
    key = "bench-key"
    rp = subprocess.Popen(
        [args.python, args.runpod_standin, "--port", "0", "--api-key", key, "--long-poll", "2"],
        stdout=subprocess.PIPE, text=True)
    port = int(rp.stdout.readline().split()[1])
    base = "http://127.0.0.1:%d" % port
    env = dict(os.environ)
    env.update({
        "RUNPOD_WEBHOOK_GET_JOB": base + "/v2/ep1/job-take/$ID?gpu=BENCH",
        "RUNPOD_WEBHOOK_POST_OUTPUT": base + "/v2/ep1/job-done/$RUNPOD_POD_ID/$ID?gpu=BENCH",
        "RUNPOD_WEBHOOK_PING": base + "/v2/ep1/ping/$RUNPOD_POD_ID",
        "RUNPOD_AI_API_KEY": key, "RUNPOD_POD_ID": "bench", "RUNPOD_PING_INTERVAL": "1000",
    })
    requests.post(base + "/_control/jobs", json={"jobs": [{"id": "long", "input": {"workflow": graph(7, 15)}}]})
    worker = subprocess.Popen(
        [args.handler, "--comfyui-url", "http://%s" % comfy], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        log = {}
        while time.time() < deadline:
            log = requests.get(base + "/_control/log").json()
            if log.get("results", {}).get("long"):
                break
            time.sleep(0.5)
        else:
            raise SystemExit("the RunPod job did not finish")
        body = log["results"]["long"][0]["body"]
        check(body["output"]["outputs"][0]["data"])
        pings = [p["t"] for p in log["pings"] if p.get("job_id") == "long"]
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        return {"pings_during_job": len(pings), "gap_min_s": min(gaps), "gap_max_s": max(gaps),
                "jitter_max_s": max(abs(g - 1.0) for g in gaps)}
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
        rp.kill()


def ready(args, runs):
    results = []
    for _ in range(runs):
        cmd = [args.handler, "serve", "--port", "0", "--version", args.version, "--root", args.root,
               "--volume", args.volume]
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            _, seen, lines = wait_line(proc, "READY ")
            text = "".join(lines)
            phases = re.search(r"start-up phases: (.*?) total=(\d+)ms", text)
            if not phases:
                raise SystemExit("no start-up phases line:\n" + text[-2000:])
            parts = dict((k, int(v[:-2])) for k, v in (p.split("=") for p in phases.group(1).split()))
            if "does not match" in text or "refusing jobs" in text:
                raise SystemExit("the bench version drifted:\n" + text[-2000:])
            total_ms = (seen - t0) * 1000
            results.append({"total_ms": total_ms, "comfyui_ms": parts["comfyui"],
                            "beyond_comfyui_ms": total_ms - parts["comfyui"], "phases": parts})
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return results


def summary(report):
    """What was measured, in plain lines (the JSON above has every figure)."""
    print("\n== P5 summary: ComfyUI %s; latency %d rounds; throughput %d blocks x %d jobs (interleaved)" % (
        report["comfyui"], report["rounds"], report["blocks"], report["jobs_per_block"]))
    for name, row in report["latency_ms"].items():
        print("latency    %-30s median %7.2f ms  p90 %7.2f ms  overhead vs raw %+6.2f ms" % (
            name, row["median"], row["p90"], row["overhead_vs_raw_median"]))
    for name, row in report["throughput_jobs_per_s"].items():
        print("throughput %-30s median %7.1f jobs/s  / raw: %.3f (block ratios) %.3f (medians)  blocks %s" % (
            name, row["median"], row["ratio_to_raw_median"], row["ratio_of_medians"], row["blocks"]))
    for name, split in report["handler_split_ms"].items():
        print("split      %-30s %s" % (name, "  ".join("%s %.2f" % kv for kv in split.items())))
    hb = report["heartbeat"]
    if "jitter_max_s" in hb:
        print("heartbeat  jitter max %.1f ms over %d pings" % (hb["jitter_max_s"] * 1000, hb["pings_during_job"]))
    for r in report["ready"]:
        print("ready      %.0f ms beyond ComfyUI's %d ms" % (r["beyond_comfyui_ms"], r["comfyui_ms"]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--handler", required=True)
    ap.add_argument("--python", required=True, help="the test venv's python (runs the stand-ins)")
    ap.add_argument("--standin", required=True)
    ap.add_argument("--runpod-standin", required=True)
    ap.add_argument("--peer", help="directory with worker-comfyui's handler.py and network_volume.py")
    ap.add_argument("--peer-python", help="python with runpod, requests, websocket-client")
    ap.add_argument("--rounds", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=40)
    ap.add_argument("--blocks", type=int, default=3)
    ap.add_argument("--version")
    ap.add_argument("--root")
    ap.add_argument("--volume")
    ap.add_argument("--ready-runs", type=int, default=5)
    ap.add_argument("--json", help="write the figures here")
    ap.add_argument("--handler-b", help="add a row: another comfy-handler binary (an A/B of a change), same flags")
    ap.add_argument("--comfyui-url", help="run against this running ComfyUI (http://host:port) instead of a stand-in")
    ap.add_argument("--per-job-socket", action="store_true",
                    help="add a row: the same handler with COMFY_HANDLER_SOCKET=per-job (one WebSocket per job)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="handler-bench-")  # the stand-in's input/output/temp dirs, removed at the end
    procs = []
    if args.comfyui_url:
        host = urllib.parse.urlsplit(args.comfyui_url).netloc
    else:
        cport = free_port()
        procs.append(subprocess.Popen(
            [args.python, args.standin, "--listen", "127.0.0.1", "--port", str(cport), "--input-directory",
             work + "/input", "--output-directory", work + "/output", "--temp-directory", work + "/temp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        host = "127.0.0.1:%d" % cport
    try:
        wait_http("http://%s/system_stats" % host)
        handler = subprocess.Popen([args.handler, "serve", "--port", "0", "--comfyui-url", "http://" + host],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        procs.append(handler)
        line, _, _ = wait_line(handler, "READY ")
        hport = int(line.split()[1])
        clients = [Raw(host), RunSync("comfy-handler", "http://127.0.0.1:%d" % hport,
                                      lambda b: b["output"]["outputs"][0]["data"])]
        if args.per_job_socket:
            # The same binary with a WebSocket per job (as before the shared socket): the A/B of that change.
            handler2 = subprocess.Popen(
                [args.handler, "serve", "--port", "0", "--comfyui-url", "http://" + host],
                env=dict(os.environ, COMFY_HANDLER_SOCKET="per-job"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                text=True)
            procs.append(handler2)
            line2, _, _ = wait_line(handler2, "READY ")
            clients.append(RunSync("comfy-handler-per-job-socket", "http://127.0.0.1:%d" % int(line2.split()[1]),
                                   lambda b: b["output"]["outputs"][0]["data"]))
        if args.handler_b:
            handler3 = subprocess.Popen(
                [args.handler_b, "serve", "--port", "0", "--comfyui-url", "http://" + host],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            procs.append(handler3)
            line3, _, _ = wait_line(handler3, "READY ")
            clients.append(RunSync("comfy-handler-B", "http://127.0.0.1:%d" % int(line3.split()[1]),
                                   lambda b: b["output"]["outputs"][0]["data"]))
        if args.peer:
            pport = free_port()
            wrapper = (
                "import sys, os; sys.path.insert(0, %r); import handler, runpod; "
                "handler.COMFY_HOST = %r; runpod.serverless.start({'handler': handler.handler})" % (args.peer, host))
            peer = subprocess.Popen(
                [args.peer_python, "-c", wrapper, "--rp_serve_api", "--rp_api_host", "127.0.0.1",
                 "--rp_api_port", str(pport), "--rp_log_level", "ERROR"],
                cwd=args.peer, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            procs.append(peer)
            wait_http("http://127.0.0.1:%d/docs" % pport)
            clients.append(RunSync("worker-comfyui", "http://127.0.0.1:%d" % pport,
                                   lambda b: b["output"]["images"][0]["data"]))
        lat = latency(clients, args.rounds, args.warmup)
        rates = throughput(clients, args.jobs, args.blocks)
        hb = heartbeat(args, host) if not args.comfyui_url else {"skipped": "needs the stand-in's StandInSleep node"}
        rd = ready(args, args.ready_runs) if args.version else []
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)

    raw = lat["raw"]
    report = {"comfyui": args.comfyui_url or "stand-in", "rounds": args.rounds, "jobs_per_block": args.jobs,
              "blocks": args.blocks, "latency_ms": {},
              "throughput_jobs_per_s": {}, "heartbeat": hb, "ready": rd}
    for name, xs in lat.items():
        diffs = [a - b for a, b in zip(xs, raw)]
        report["latency_ms"][name] = {
            "median": round(median(xs), 2), "p90": round(sorted(xs)[int(len(xs) * 0.9) - 1], 2),
            "overhead_vs_raw_median": round(median(diffs), 2)}
    for name, rs in rates.items():
        ratios = [a / b for a, b in zip(rs, rates["raw"])]
        report["throughput_jobs_per_s"][name] = {"median": round(median(rs), 2), "blocks": [round(r, 1) for r in rs],
                                                 "ratio_to_raw_median": round(median(ratios), 3),
                                                 "ratio_of_medians": round(median(rs) / median(rates["raw"]), 3)}
    # Where a handler job's time goes (medians of its own timings, all rounds): queue (job start -> ComfyUI started
    # the prompt: validation, WebSocket, POST /prompt), run (ComfyUI executing), upload (base64 + result), total
    # (inside the handler), client (the HTTP round trip seen here: total + the API layer + JSON transfer).
    report["handler_split_ms"] = {}
    for c in clients:
        rows = getattr(c, "timings", [])
        if rows:
            report["handler_split_ms"][c.name] = {
                key: round(median([row[key] for row in rows if key in row]), 2)
                for key in ("queue_ms", "run_ms", "upload_ms", "total_ms", "client_ms")}
    print(json.dumps(report, indent=1))
    summary(report)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
