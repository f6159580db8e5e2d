#!/usr/bin/env python3
"""P6 benchmark: upload one large file to the GCS emulator with `comfy-cli gcs upload` and with Google's Python
client (google-cloud-storage, `blob.upload_from_filename`), side by side on the same machine and emulator build.

Each run gets a fresh in-memory gcp-storage-emulator (so earlier objects do not weigh on it), the upload is timed
(wall clock), the uploader's peak RSS and CPU come from wait4(2), the emulator's CPU is read from /proc, and the object
is checked afterwards with google-cloud-storage (size + CRC32C equal to the local file's). Prints a table with medians
and the throughput ratio comfy-cli / python for each chunk size.

Run through scripts/bench/gcs-upload.sh (builds the release comfy-cli, prepares the test venv).
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time

MiB = 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_emulator(venv):
    port = free_port()
    proc = subprocess.Popen(
        [os.path.join(venv, "bin/gcp-storage-emulator"), "start", "--host=127.0.0.1", "--port=%d" % port,
         "--in-memory", "--default-bucket=test-bucket"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, "http://127.0.0.1:%d" % port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("emulator did not start")


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime + stime


def run_with_rusage(cmd, env):
    start = time.perf_counter()
    pid = os.posix_spawn(cmd[0], cmd, env)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    return code, wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def verify(venv, emulator, name, size, crc):
    script = (
        "import sys\nfrom google.cloud import storage\n"
        "b = storage.Client(project='bench').bucket('test-bucket').blob(sys.argv[1]); b.reload()\n"
        "print(b.size, b.crc32c)\n")
    env = dict(os.environ, STORAGE_EMULATOR_HOST=emulator)
    out = subprocess.run([os.path.join(venv, "bin/python"), "-c", script, name], env=env, capture_output=True,
                         text=True, check=True).stdout.split()
    if int(out[0]) != size or out[1] != crc:
        raise SystemExit("object %s is wrong on the emulator: %s (want %d %s)" % (name, out, size, crc))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--venv", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunks", default="16,100", help="chunk sizes in MiB, comma-separated")
    args = parser.parse_args()

    import base64
    import google_crc32c  # from the test venv (re-exec'd there by the shell wrapper)
    crc = google_crc32c.Checksum()
    with open(args.file, "rb") as f:
        while True:
            block = f.read(64 * MiB)
            if not block:
                break
            crc.update(block)
    crc_b64 = base64.b64encode(crc.digest()).decode()
    size = os.path.getsize(args.file)

    python_upload = (
        "import sys\nfrom google.cloud import storage\n"
        "blob = storage.Client(project='bench').bucket('test-bucket').blob(sys.argv[2])\n"
        "blob.chunk_size = int(sys.argv[3])\n"
        "blob.upload_from_filename(sys.argv[1])\n")

    results = []
    for chunk in [int(c) for c in args.chunks.split(",")]:
        for tool in ("comfy-cli", "python"):
            walls, rss, cpus, emu_cpus = [], [], [], []
            for run in range(args.runs):
                emulator_proc, emulator = start_emulator(args.venv)
                try:
                    env = dict(os.environ, STORAGE_EMULATOR_HOST=emulator, HOME=os.environ.get("HOME", "/root"))
                    for k in ("GOOGLE_APPLICATION_CREDENTIALS", "GCS_ACCESS_TOKEN", "GCS_API_ENDPOINT"):
                        env.pop(k, None)
                    name = "bench-%s-%d-%d" % (tool, chunk, run)
                    if tool == "comfy-cli":
                        cmd = [args.cli, "gcs", "upload", args.file, "--bucket", "test-bucket", "--object", name,
                               "--chunk-size", str(chunk)]
                    else:
                        cmd = [os.path.join(args.venv, "bin/python"), "-c", python_upload, args.file, name,
                               str(chunk * MiB)]
                    emu_before = proc_cpu_seconds(emulator_proc.pid)
                    code, wall, peak, cpu = run_with_rusage(cmd, env)
                    emu_cpu = proc_cpu_seconds(emulator_proc.pid) - emu_before
                    if code != 0:
                        raise SystemExit("%s failed (exit %d): %s" % (tool, code, " ".join(cmd)))
                    verify(args.venv, emulator, name, size, crc_b64)
                finally:
                    emulator_proc.send_signal(signal.SIGKILL)
                    emulator_proc.wait()
                walls.append(wall)
                rss.append(peak)
                cpus.append(cpu)
                emu_cpus.append(emu_cpu)
                print("  %-9s chunk %4d MiB run %d: %6.2f s  %7.1f MB/s  peak RSS %7.1f MiB  cpu %5.2f s  "
                      "emulator cpu %5.2f s" % (tool, chunk, run + 1, wall, size / wall / 1e6, peak, cpu, emu_cpu),
                      flush=True)
            results.append({
                "tool": tool, "chunkMiB": chunk, "wall": statistics.median(walls), "rssMiB": max(rss),
                "cpu": statistics.median(cpus), "emulatorCpu": statistics.median(emu_cpus)})

    print()
    print("file: %s, %d bytes; median of %d runs; fresh emulator per run; every object verified (size + crc32c)"
          % (args.file, size, args.runs))
    print("%-10s %6s %9s %10s %12s %10s %14s" % ("tool", "chunk", "wall s", "MB/s", "peak RSS MiB", "cpu s",
                                               "emulator cpu s"))
    for r in results:
        print("%-10s %4dMi %9.2f %10.1f %12.1f %10.2f %14.2f" % (
            r["tool"], r["chunkMiB"], r["wall"], size / r["wall"] / 1e6, r["rssMiB"], r["cpu"], r["emulatorCpu"]))
    print()
    for chunk in sorted({r["chunkMiB"] for r in results}):
        ours = next(r for r in results if r["tool"] == "comfy-cli" and r["chunkMiB"] == chunk)
        theirs = next(r for r in results if r["tool"] == "python" and r["chunkMiB"] == chunk)
        print("chunk %3d MiB: comfy-cli throughput / google-cloud-storage throughput = %.2fx" % (
            chunk, theirs["wall"] / ours["wall"]))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
