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
    """Runs cmd under GNU time: wall (ours), peak RSS and CPU of the command itself. (wait4's ru_maxrss would
    include this driver's RSS, which a spawned child inherits as its high-water mark until exec.)"""
    report = "/tmp/gcs-bench-time-%d.txt" % os.getpid()
    start = time.perf_counter()
    code = subprocess.run(["/usr/bin/time", "-o", report, "-f", "%M %U %S"] + cmd, env=env,
                          stdout=subprocess.DEVNULL).returncode
    wall = time.perf_counter() - start
    with open(report) as f:
        rss_kib, user, system = f.read().split()[-3:]
    os.unlink(report)
    return code, wall, int(rss_kib) / 1024.0, float(user) + float(system)


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


def file_crc32c(path):
    import base64
    import google_crc32c  # from the test venv
    crc = google_crc32c.Checksum()
    with open(path, "rb") as f:
        while True:
            block = f.read(64 * MiB)
            if not block:
                break
            crc.update(block)
    return base64.b64encode(crc.digest()).decode()


PYTHON_UPLOAD = (
    "import sys\nfrom google.cloud import storage\n"
    "blob = storage.Client(project='bench').bucket('test-bucket').blob(sys.argv[2])\n"
    "blob.chunk_size = int(sys.argv[3])\n"
    "blob.upload_from_filename(sys.argv[1])\n")


def one_upload(args, tool, chunk, run, size, crc, path):
    emulator_proc, emulator = start_emulator(args.venv)
    try:
        env = dict(os.environ, STORAGE_EMULATOR_HOST=emulator)
        for k in ("GOOGLE_APPLICATION_CREDENTIALS", "GCS_ACCESS_TOKEN", "GCS_API_ENDPOINT"):
            env.pop(k, None)
        name = "bench-%s-%d-%d" % (tool, chunk, run)
        if tool == "comfy-cli":
            cmd = [args.cli, "gcs", "upload", path, "--bucket", "test-bucket", "--object", name,
                   "--chunk-size", str(chunk)]
        else:
            cmd = [os.path.join(args.venv, "bin/python"), "-c", PYTHON_UPLOAD, path, name, str(chunk * MiB)]
        emu_before = proc_cpu_seconds(emulator_proc.pid)
        code, wall, peak, cpu = run_with_rusage(cmd, env)
        emu_cpu = proc_cpu_seconds(emulator_proc.pid) - emu_before
        if code != 0:
            raise SystemExit("%s failed (exit %d): %s" % (tool, code, " ".join(cmd)))
        verify(args.venv, emulator, name, size, crc)
    finally:
        emulator_proc.send_signal(signal.SIGKILL)
        emulator_proc.wait()
    return wall, peak, cpu, emu_cpu


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cli", required=True)
    parser.add_argument("--venv", required=True)
    parser.add_argument("--file", required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--chunks", default="100", help="chunk sizes in MiB, comma-separated")
    parser.add_argument("--small-file", default=None, help="also upload this smaller file once (memory check)")
    args = parser.parse_args()

    size = os.path.getsize(args.file)
    crc_b64 = file_crc32c(args.file)

    samples = {}
    for chunk in [int(c) for c in args.chunks.split(",")]:
        for run in range(args.runs):
            # Alternate the tools run by run so both see the same machine load (other jobs share it).
            order = ("comfy-cli", "python") if run % 2 == 0 else ("python", "comfy-cli")
            for tool in order:
                wall, peak, cpu, emu_cpu = one_upload(args, tool, chunk, run, size, crc_b64, args.file)
                samples.setdefault((tool, chunk), []).append((wall, peak, cpu, emu_cpu))
                print("  %-9s chunk %4d MiB run %d: %6.2f s  %7.1f MB/s  peak RSS %7.1f MiB  cpu %5.2f s  "
                      "emulator cpu %5.2f s" % (tool, chunk, run + 1, wall, size / wall / 1e6, peak, cpu, emu_cpu),
                      flush=True)
    results = []
    for (tool, chunk), rows in samples.items():
        results.append({
            "tool": tool, "chunkMiB": chunk, "wall": statistics.median(r[0] for r in rows),
            "rssMiB": max(r[1] for r in rows), "cpu": statistics.median(r[2] for r in rows),
            "emulatorCpu": statistics.median(r[3] for r in rows)})
    if args.small_file:
        small_size = os.path.getsize(args.small_file)
        small_crc = file_crc32c(args.small_file)
        wall, peak, cpu, _ = one_upload(args, "comfy-cli", 100, 0, small_size, small_crc, args.small_file)
        print("memory check: comfy-cli uploading %d bytes: peak RSS %.1f MiB (vs %.1f MiB for %d bytes)" % (
            small_size, peak, max(r["rssMiB"] for r in results if r["tool"] == "comfy-cli"), size))
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
