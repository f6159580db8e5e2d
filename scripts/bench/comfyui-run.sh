#!/usr/bin/env bash
# ComfyServer benchmarks on the ComfyUI stand-in (release build): per-job overhead of WorkflowRunner over a minimal raw
# client, attach-to-ready, crash detection. Usage: [CONFIG=debug] scripts/bench/comfyui-run.sh [JOBS]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/bootstrap.sh >/dev/null
swift build -c "${CONFIG:-release}" --product comfylock-bench-server 2>&1 | grep -E "error|Compiling|Build complete" | tail -3
uptime
"$(swift build -c "${CONFIG:-release}" --show-bin-path)/comfylock-bench-server" "$PWD/.venv-test/bin/python" \
    "$PWD/scripts/testsupport/comfyui_standin.py" "${1:-30}"
