#!/usr/bin/env bash
# P5 benchmark of comfy-handler (issue 12): overhead per job over a raw client, the worker-comfyui Python handler as
# the peer row, throughput of back-to-back jobs, heartbeat jitter during a job, ready time with 20 models (10 GiB) on
# the volume. See scripts/bench/handler_bench.py for what each row measures; results go in docs/benchmarks.md.
#
# The peer: worker-comfyui is NOT part of this repository and nothing of it is committed. This script reads
# handler.py and src/network_volume.py from a local git copy of github.com/runpod-workers/worker-comfyui
# ($WORKER_COMFYUI_GIT, a bare repository; default: the session mirror) into $BENCH_DIR/worker-comfyui, and installs
# its PyPI dependencies (requirements.txt: runpod~=1.7.12, websocket-client, requests) into $BENCH_DIR/venv.
# Without a copy the peer row is skipped.
#
# Ready row: needs a version with 20 models on a volume, e.g. the one scripts/bench/docker_cold_start.sh leaves
# (COMFYLOCK_BENCH_VOLUME, default /var/tmp/comfylock-coldstart/hostvol, version "bench"); skipped when absent.
#
# Usage: scripts/bench/handler.sh [ROUNDS=60] [BLOCKS=6] [JOBS_PER_BLOCK=40]
#   COMFY_HANDLER=path picks the binary (default the debug build; the figures in docs/benchmarks.md are from a release
#   build: swift build -c release --product comfy-handler --scratch-path .build-release).
#   COMFYUI_URL=http://127.0.0.1:PORT runs every row against that running ComfyUI (e.g. the real one on CPU, see
#   docs/benchmarks.md "round 5") instead of the stand-in; the heartbeat and ready rows are skipped then.
#   COMFY_HANDLER_B=path adds a row for a second binary (an A/B of a change, interleaved like every row).
#   PER_JOB_SOCKET=1 adds round 4's A/B row: the same binary with COMFY_HANDLER_SOCKET=per-job.
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-60}
blocks=${2:-6}
jobs=${3:-40}
bench=${BENCH_DIR:-/var/tmp/handler-bench}
peer_git=${WORKER_COMFYUI_GIT:-/work/.mirror/runpod-workers+worker-comfyui/repo}
handler=${COMFY_HANDLER:-$PWD/.build/debug/comfy-handler}
volume=${COMFYLOCK_BENCH_VOLUME:-/var/tmp/comfylock-coldstart/hostvol}
py=$PWD/.venv-test/bin/python
[ -x "$handler" ] || { echo "no $handler: swift build first" >&2; exit 2; }
[ -x "$py" ] || { echo "no test venv: scripts/bootstrap.sh first" >&2; exit 2; }
mkdir -p "$bench"

peer_args=()
if [ -d "$peer_git" ]; then
    if [ ! -x "$bench/venv/bin/python" ]; then
        python3 -m venv "$bench/venv"
        "$bench/venv/bin/pip" install -q "runpod~=1.7.12" websocket-client requests
    fi
    mkdir -p "$bench/worker-comfyui"
    git --git-dir="$peer_git" show HEAD:handler.py >"$bench/worker-comfyui/handler.py"
    git --git-dir="$peer_git" show HEAD:src/network_volume.py >"$bench/worker-comfyui/network_volume.py"
    echo "peer: worker-comfyui $(git --git-dir="$peer_git" rev-parse --short HEAD), runpod $("$bench/venv/bin/python" -c 'import runpod; print(runpod.__version__)')"
    peer_args=(--peer "$bench/worker-comfyui" --peer-python "$bench/venv/bin/python")
    driver=$bench/venv/bin/python
else
    echo "peer: no worker-comfyui copy at $peer_git, its row is skipped"
    "$py" -c 'import websocket, requests' 2>/dev/null || { echo "the driver needs websocket-client and requests" >&2; exit 2; }
    driver=$py
fi

ready_args=()
comfy_args=()
extra_args=()
[ -n "${COMFY_HANDLER_B:-}" ] && extra_args+=(--handler-b "$COMFY_HANDLER_B")
[ "${PER_JOB_SOCKET:-0}" = 1 ] && extra_args+=(--per-job-socket)
if [ -n "${COMFYUI_URL:-}" ]; then
    comfy_args=(--comfyui-url "$COMFYUI_URL")
    curl -fsS "$COMFYUI_URL/system_stats" >/dev/null || { echo "no ComfyUI answers at $COMFYUI_URL" >&2; exit 2; }
    echo "comfyui: $COMFYUI_URL ($(curl -fsS "$COMFYUI_URL/system_stats" | "$py" -c 'import json,sys; s=json.load(sys.stdin)["system"]; print("ComfyUI", s.get("comfyui_version"), "pytorch", s.get("pytorch_version"))'))"
    echo "ready: skipped (attached to a running ComfyUI)"
elif [ -d "$volume/comfylock/versions/bench" ]; then
    ready_args=(--version bench --root "$volume/comfylock/versions" --volume "$volume")
    echo "ready: version bench on $volume ($(du -sh --apparent-size "$volume/comfylock/versions/bench/models" | cut -f1) of models)"
else
    echo "ready: no bench version under $volume, the ready row is skipped"
fi

echo "handler: $handler${COMFY_HANDLER_B:+ (B: $COMFY_HANDLER_B)}"
echo "machine before: $(uptime)"
"$driver" scripts/bench/handler_bench.py --handler "$handler" --python "$py" \
    --standin scripts/testsupport/comfyui_standin.py --runpod-standin scripts/testsupport/runpod_standin.py \
    --rounds "$rounds" --blocks "$blocks" --jobs "$jobs" "${extra_args[@]}" "${peer_args[@]}" "${ready_args[@]}" \
    "${comfy_args[@]}" --json "$bench/last.json"
echo "machine after: $(uptime)"
