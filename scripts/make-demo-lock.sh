#!/usr/bin/env bash
# Regenerates lockfiles/demo.lock.json, the lock scripts/run.sh deploys, with the tool itself:
#   - ComfyUI 0.3.64, the release commit 637221995f7424a561bd825de3e61ea117dfe1e3 of github.com/Comfy-Org/ComfyUI
#     (its requirements.txt is read from a git repository holding that commit: COMFYUI_REPO, default the GitHub URL);
#   - its Python closure pinned by `comfy-cli pin` against PyPI for CPython 3.11 on manylinux_2_36_x86_64 (Debian 12),
#     plus `requests`, which ComfyUI 0.3.64 imports but its requirements.txt does not list;
#   - no model weights; the weight-free probe workflow (workflows/probe-invert.json).
# About torch: PyPI's Linux torch wheel is the CUDA build and pulls ~3 GB of nvidia-* wheels. It runs on CPU
# (ComfyUI `--cpu`), so the demo pins it as PyPI serves it rather than pretending to be CPU-only; a CPU-only closure
# (torch from https://download.pytorch.org/whl/cpu, ~200 MB) is one `--extra-index-url` away where that index is
# reachable (see docs/instructions.md). Needs PyPI access (or PIN_INDEX_URL, a mirror of it).
set -euo pipefail
cd "$(dirname "$0")/.."
cli=${COMFY_CLI:-}
if [ -z "$cli" ]; then
    swift build --product comfy-cli >/dev/null
    cli="$(swift build --show-bin-path)/comfy-cli"
fi
commit=637221995f7424a561bd825de3e61ea117dfe1e3
url=https://github.com/Comfy-Org/ComfyUI
repo=${COMFYUI_REPO:-$url}
index=${PIN_INDEX_URL:-https://pypi.org/simple}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -d "$repo" ]; then
    # A local (possibly partial) mirror: read the one file, no fetch.
    GIT_CONFIG_NOSYSTEM=1 git --git-dir="$repo" show "$commit:requirements.txt" >"$work/requirements.txt"
else
    GIT_CONFIG_NOSYSTEM=1 git init -q --bare "$work/comfyui.git"
    GIT_CONFIG_NOSYSTEM=1 git -C "$work/comfyui.git" fetch -q --depth 1 --filter=blob:none -- "$repo" "$commit"
    GIT_CONFIG_NOSYSTEM=1 git -C "$work/comfyui.git" show "$commit:requirements.txt" >"$work/requirements.txt"
fi
printf '# ComfyUI 0.3.64 imports requests but does not list it\nrequests\n' >"$work/extra.txt"
"$cli" pin "$work/requirements.txt" "$work/extra.txt" --python-version 3.11 --platform manylinux_2_36_x86_64 \
    --index-url "$index" -o "$work/pins.json"
python3 - "$work/pins.json" "$commit" "$url" workflows/probe-invert.json "$work/demo.lock.json" <<'PY'
import json, sys
pins, commit, url, workflow, out = sys.argv[1:]
lock = {
    "schemaVersion": 1,
    "tag": "demo",
    "createdBy": "scripts/make-demo-lock.sh",
    "comfyui": {"url": url, "commit": commit, "ref": "v0.3.64"},
    "customNodes": [],
    "python": json.load(open(pins)),
    "models": [],
    "workflows": [{"name": "probe-invert", "inline": json.load(open(workflow)), "expectedOutputs": []}],
}
json.dump(lock, open(out, "w"))
PY
"$cli" lock fmt "$work/demo.lock.json" >/dev/null
"$cli" lock validate "$work/demo.lock.json"
cp "$work/demo.lock.json" lockfiles/demo.lock.json
echo "wrote lockfiles/demo.lock.json (digest $("$cli" lock digest lockfiles/demo.lock.json))"
