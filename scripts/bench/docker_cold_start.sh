#!/usr/bin/env bash
# Cold start of the worker image with 20 models (10 GiB) on the volume, and repeat-job latency/memory.
# Needs the image and fixtures of scripts/docker_smoke.sh (run it first; same COMFYLOCK_SMOKE_DIR).
#
# The 20 model files are real bytes on disk (scripts/bench/make_models.py: no sparse extents, no two 1 MiB chunks
# alike), put into the volume's store as blobs (hard links of the generated files: no second copy on this disk), and a
# version on the volume is built from a lock naming them (`comfy-cli version create` inside the image, as an operator's
# one-off pod would). Then, per run: container start → handler ready (/ready 200 in `serve` mode), with the handler's
# own phase lines; the same with the stat cache removed (every model hashed again: what a brand-new worker on an
# existing volume pays); 100 back-to-back /runsync jobs: 2nd and 10th job latency, handler RSS every 10 jobs.
# Page cache: 10 GiB fits in this machine's RAM, so re-hash figures are warm-cache figures (said in benchmarks.md).
# Usage: scripts/bench/docker_cold_start.sh [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
work=${COMFYLOCK_SMOKE_DIR:-/var/tmp/comfylock-docker-smoke}
bench=${COMFYLOCK_BENCH_DIR:-/var/tmp/comfylock-coldstart}
image=${COMFYLOCK_SMOKE_IMAGE:-localhost/comfylock-smoke:latest}
B=(buildah --cgroup-manager=cgroupfs)
py=$PWD/.venv-test/bin/python
[ -f "$work/context/.smoke/smoke.lock.json" ] || { echo "run scripts/docker_smoke.sh first" >&2; exit 2; }
echo "machine: $(uptime)"

python3 scripts/bench/make_models.py "$bench/blobs"
vol=$bench/volume
mkdir -p "$vol/comfylock/store/blobs/sha256"
lock=$work/context/.smoke/bench.lock.json
"$py" - "$work/context/.smoke/smoke.lock.json" "$bench/blobs" "$vol/comfylock/store/blobs/sha256" "$lock" <<'PY'
import json, os, sys
src, blobs, store, out = sys.argv[1:]
lock = json.load(open(src))
lock["tag"] = "cold-start-bench"
lock["models"] = []
for name in sorted(os.listdir(blobs)):
    if not name.startswith("m"): continue
    n, sha = name[1:3], name.split("-", 1)[1]
    target = os.path.join(store, sha)
    if not os.path.exists(target):
        os.link(os.path.join(blobs, name), target)
        os.chmod(target, 0o444)
    lock["models"].append({"path": "checkpoints/bench-%s.safetensors" % n, "sha256": sha,
                           "size": os.path.getsize(target), "sources": ["https://models.bench.invalid/%s" % sha]})
json.dump(lock, open(out, "w"))
PY
total=$(du -sb --apparent-size "$bench/blobs" | cut -f1)
allocated=$(du -sb "$bench/blobs" | cut -f1)
echo "models: 20 files, $total bytes apparent, $allocated bytes allocated on disk"

mapfile -t entrypoint < <(podman image inspect "$image" --format '{{range .Config.Entrypoint}}{{println .}}{{end}}' | sed '/^$/d')
container() { local c; c=$("${B[@]}" from --pull-never "$image"); echo "$c"; }

if [ ! -d "$vol/comfylock/versions/bench" ]; then
    c=$(container)
    "${B[@]}" run --isolation=chroot -v "$vol:/runpod-volume" -v "$work/context/.smoke:/smoke:ro" "$c" -- \
        env COMFYLOCK_GIT_MIRROR=/smoke/git comfy-cli version create bench --lock /smoke/bench.lock.json \
        --root /runpod-volume/comfylock/versions --offline --wheelhouse /smoke/wheelhouse
    "${B[@]}" rm "$c" >/dev/null
fi

# One measured start: prints "ready_s" and the handler's phase lines; leaves the handler serving on $port.
start_and_wait() {
    local port=$1 logf=$2 c
    c=$(container)
    echo "$c" >"$logf.ctr"
    local t0
    t0=$(date +%s.%N)
    "${B[@]}" run --isolation=chroot -v "$vol:/runpod-volume" "$c" -- "${entrypoint[@]}" \
        serve --host 127.0.0.1 --port "$port" --version bench --root /runpod-volume/comfylock/versions \
        >"$logf" 2>&1 &
    echo $! >"$logf.pid"
    until curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1; do
        sleep 0.05
        kill -0 "$(cat "$logf.pid")" 2>/dev/null || { tail -20 "$logf"; return 1; }
    done
    echo "ready_s $(echo "$(date +%s.%N) - $t0" | bc)"
}
stop_handler() {
    local logf=$1
    pkill -TERM -f "comfy-handler serve --host 127.0.0.1 --port $2" || true
    wait "$(cat "$logf.pid")" 2>/dev/null || true
    "${B[@]}" rm "$(cat "$logf.ctr")" >/dev/null 2>&1 || true
}

job=$("$py" -c 'import json; print(json.dumps({"input": {"workflow": json.load(open("workflows/probe-invert.json"))}}))')
for run in $(seq "$runs"); do
    for mode in warm cold; do
        [ "$mode" = cold ] && rm -rf "$vol/comfylock/store/statcache"
        port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        logf=$bench/start-$run-$mode.log
        echo "run $run $mode: $(start_and_wait "$port" "$logf")"
        grep -iE "phase|ready|verify|apply|warmup|comfyui start" "$logf" | head -12 | sed 's/^/    /'
        if [ "$run" = 1 ] && [ "$mode" = warm ]; then
            pid=$(pgrep -f "comfy-handler serve --host 127.0.0.1 --port $port" | head -1)
            for i in $(seq 100); do
                s=$(date +%s.%N)
                curl -fsS -X POST -H 'Content-Type: application/json' -d "$job" \
                    "http://127.0.0.1:$port/runsync" >/dev/null
                ms=$(echo "($(date +%s.%N) - $s) * 1000" | bc)
                case $i in 1 | 2 | 10 | 50 | 100) echo "    job $i: ${ms} ms" ;; esac
                if [ $((i % 10)) = 0 ] || [ "$i" = 1 ]; then
                    echo "    rss after job $i: $(awk '/VmRSS/{print $2}' /proc/"$pid"/status) kB"
                fi
            done
        fi
        stop_handler "$logf" "$port"
    done
done
