#!/usr/bin/env bash
# Runs comfy-handler locally on the demo workflow (workflows/probe-invert.json), against a running ComfyUI or a
# version directory, and prints the job's result document.
# Usage: scripts/run_handler_local.sh --comfyui-url http://127.0.0.1:8188 [WORKFLOW.json]
#        scripts/run_handler_local.sh --version-dir DIR [WORKFLOW.json]
#        scripts/run_handler_local.sh --serve --comfyui-url URL      (local HTTP API on 127.0.0.1:8000)
# Builds comfy-handler (debug) unless COMFY_HANDLER points at a binary. Exit status: the handler's (0 ok, 1 the job
# failed, 2 start-up/usage error).
set -euo pipefail
cd "$(dirname "$0")/.."
serve=0
target=()
workflow=workflows/probe-invert.json
while [ $# -gt 0 ]; do
    case "$1" in
        --serve) serve=1; shift ;;
        --comfyui-url|--version-dir|--lock|--version|--root|--on-drift) target+=("$1" "$2"); shift 2 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) workflow="$1"; shift ;;
    esac
done
if [ ${#target[@]} -eq 0 ]; then
    echo "give --comfyui-url URL or --version-dir DIR (see --help)" >&2
    exit 2
fi
handler="${COMFY_HANDLER:-}"
if [ -z "$handler" ]; then
    swift build --product comfy-handler >&2
    handler="$(swift build --show-bin-path)/comfy-handler"
fi
if [ "$serve" = 1 ]; then
    exec "$handler" serve "${target[@]}"
fi
input="$(mktemp)"
trap 'rm -f "$input"' EXIT
python3 - "$workflow" > "$input" <<'PY'
import json, sys
with open(sys.argv[1]) as f:
    workflow = json.load(f)
print(json.dumps({"input": {"workflow": workflow}}))
PY
"$handler" "${target[@]}" --test-input "$input"
