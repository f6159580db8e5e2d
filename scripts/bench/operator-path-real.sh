#!/usr/bin/env bash
# Opt-in (never in CI): the documented operator path on the REAL ComfyUI 0.3.64 tree with its real Python closure
# (torch included), plus one custom node shaped like a real one (a git repo with __init__.py and a requirements.txt
# naming real PyPI packages: opencv-python-headless, imageio):
#   init (from a file:// copy of the tree) → node cloned into custom_nodes + its requirements installed
#   → lock create → pin --lock --with requests → version create → ComfyUI started from the version runs the probe
#   workflow → every package the lock records is installed at its version and its top-level modules import.
# Needs: /work/realcomfy/ComfyUI (the tree, a plain directory: copied and `git init`-ed here, so the lock's ComfyUI URL
# is a local file:// repository, not GitHub), /work/realcomfy/wheelhouse (the 99 wheels of lockfiles/demo.lock.json),
# PyPI for the custom node's requirements and for pin's resolution. Also times `init` against
# `uv venv && uv pip install -r requirements.txt` from the same wheelhouse (P4 init target ≤ 1.2×).
# Usage: scripts/bench/operator-path-real.sh   (COMFY_CLI=path, BENCH_DIR=dir, INIT_RUNS=3)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
bench=${BENCH_DIR:-/tmp/comfylock-operator-real}
tree=${COMFYUI_TREE:-/work/realcomfy/ComfyUI}
wheels=${WHEELHOUSE:-/work/realcomfy/wheelhouse}
cli=${COMFY_CLI:-$repo/.build/debug/comfy-cli}
uv=${COMFYLOCK_UV:-$repo/.venv-test/bin/uv}
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=op GIT_AUTHOR_EMAIL=op@x GIT_COMMITTER_NAME=op GIT_COMMITTER_EMAIL=op@x
export COMFYLOCK_STORE=$bench/store COMFYLOCK_UV=$uv COMFYLOCK_UV_CACHE_DIR=$bench/uv-cache
export COMFYLOCK_VERSIONS=$bench/versions
now() { date +%s.%N; }
rm -rf "$bench"
mkdir -p "$bench"
echo "== uptime: $(uptime)"

echo "== the upstream ComfyUI repository: a copy of $tree (without its venv) committed as one commit, tag v0.3.64"
mkdir "$bench/upstream-ComfyUI"
(cd "$tree" && tar --exclude=./venv --exclude='__pycache__' --exclude=./user --exclude=./output --exclude=./temp \
    --exclude=./input -cf - .) | tar -xf - -C "$bench/upstream-ComfyUI"
git -C "$bench/upstream-ComfyUI" init -q -b master
git -C "$bench/upstream-ComfyUI" add -A
git -C "$bench/upstream-ComfyUI" commit -q -m "ComfyUI 0.3.64 (exported from the bare mirror)"
git -C "$bench/upstream-ComfyUI" tag v0.3.64

echo "== a custom node shaped like a real one (VideoHelperSuite-like: opencv + imageio requirements)"
node=$bench/upstream-ComfyUI-VideoProbe
mkdir -p "$node"
cat >"$node/__init__.py" <<'PY'
import cv2
import imageio
import numpy as np


class VideoProbeFrames:
    """Makes a tiny clip with OpenCV and reads it back with imageio (proves both import and work)."""

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"frames": ("INT", {"default": 2, "min": 1, "max": 8})}}

    RETURN_TYPES = ("INT",)
    FUNCTION = "run"
    CATEGORY = "testing"

    def run(self, frames):
        image = np.zeros((8, 8, 3), dtype=np.uint8)
        cv2.rectangle(image, (1, 1), (6, 6), (255, 255, 255), 1)
        return (len([image] * frames),)


NODE_CLASS_MAPPINGS = {"VideoProbeFrames": VideoProbeFrames}
NODE_DISPLAY_NAME_MAPPINGS = {"VideoProbeFrames": "Video probe frames"}
PY
printf 'opencv-python-headless\nimageio\n' >"$node/requirements.txt"
git -C "$node" init -q -b main
git -C "$node" add -A
git -C "$node" commit -q -m "video probe node"

echo "== P4 init: comfy-cli init vs uv venv && uv pip install -r requirements.txt (same wheelhouse, warm uv cache)"
# Warm uv's cache once (both sides then install from the same warm cache).
"$uv" venv -q --python python3.11 "$bench/warmup-venv"
"$uv" pip install -q --python "$bench/warmup-venv/bin/python" --cache-dir "$bench/uv-cache" --no-index \
    --find-links "$wheels" -r "$bench/upstream-ComfyUI/requirements.txt" requests
rm -rf "$bench/warmup-venv"
runs=${INIT_RUNS:-3}
: >"$bench/init-cli.txt"
: >"$bench/init-uv.txt"
for i in $(seq 1 "$runs"); do
    a=$(now)
    "$cli" init --path "$bench/init-$i" --comfyui-url "file://$bench/upstream-ComfyUI" --ref v0.3.64 \
        --python python3.11 --installer uv --no-index --find-links "$wheels" >"$bench/init-$i.log" 2>&1
    b=$(now)
    echo "$b - $a" | bc >>"$bench/init-cli.txt"
    a=$(now)
    git clone -q "file://$bench/upstream-ComfyUI" "$bench/ref-$i"
    (cd "$bench/ref-$i" && "$uv" venv -q --python python3.11 venv &&
        "$uv" pip install -q --python venv/bin/python --cache-dir "$bench/uv-cache" --no-index --find-links "$wheels" \
            -r requirements.txt)
    b=$(now)
    echo "$b - $a" | bc >>"$bench/init-uv.txt"
    [ "$i" = 1 ] || rm -rf "$bench/init-$i" "$bench/ref-$i"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "init runs: $(tr '\n' ' ' <"$bench/init-cli.txt")"
echo "git clone + uv venv + uv pip install -r runs: $(tr '\n' ' ' <"$bench/init-uv.txt")"
printf '| median comfy-cli init (%d runs) | %.2f s |\n' "$runs" "$(median "$bench/init-cli.txt")"
printf '| median git clone + uv venv + uv pip install -r requirements.txt (%d runs) | %.2f s |\n' "$runs" \
    "$(median "$bench/init-uv.txt")"
echo "== uptime: $(uptime)"

comfy=$bench/init-1
echo "== the operator adds the custom node and installs its requirements (from PyPI)"
git clone -q "file://$node" "$comfy/custom_nodes/ComfyUI-VideoProbe"
"$uv" pip install -q --python "$comfy/venv/bin/python" --cache-dir "$bench/uv-cache" \
    -r "$comfy/custom_nodes/ComfyUI-VideoProbe/requirements.txt" requests

echo "== lock create (no --allow-dirty)"
t0=$(now)
"$cli" lock create --comfyui "$comfy" --tag real -o "$bench/real.lock.json"
t1=$(now)
echo "lock create: $(echo "$t1 - $t0" | bc) s"
"$cli" lock validate "$bench/real.lock.json"

echo "== pin --lock --with requests (ComfyUI imports requests; its requirements.txt does not list it)"
t0=$(now)
"$cli" pin --lock "$bench/real.lock.json" --with requests -o "$bench/pinned.lock.json"
t1=$(now)
echo "pin --lock: $(echo "$t1 - $t0" | bc) s"
"$cli" lock diff "$bench/real.lock.json" "$bench/pinned.lock.json" || true

echo "== version create (from the pinned lock)"
t0=$(now)
"$cli" version create real --lock "$bench/pinned.lock.json" --python python3.11 --json >"$bench/version.json"
t1=$(now)
echo "version create: $(echo "$t1 - $t0" | bc) s"
"$cli" version status real

echo "== every package the lock records is installed at its version and its top-level modules import"
"$bench/versions/real/venv/bin/python" - "$bench/pinned.lock.json" <<'PY'
import importlib, importlib.metadata as md, importlib.util, json, sys
lock = json.load(open(sys.argv[1]))
bad, modules = [], 0
for p in lock["python"]["packages"]:
    try:
        dist = md.distribution(p["name"])
    except md.PackageNotFoundError:
        bad.append(p["name"] + ": not installed"); continue
    if dist.version != p["version"]:
        bad.append(f'{p["name"]}: {dist.version} installed, {p["version"]} locked'); continue
    top = (dist.read_text("top_level.txt") or "").split()
    if not top:
        top = sorted({f.parts[0].removesuffix(".py") for f in dist.files or [] if len(f.parts) >= 1
                      and not f.parts[0].endswith((".dist-info", ".data")) and f.parts[0] not in ("..", "bin")
                      and (f.name == "__init__.py" and len(f.parts) == 2 or (len(f.parts) == 1 and f.suffix == ".py"))})
    for name in top:
        name = name.replace("/", ".")  # top_level.txt may list paths (nvidia/cusparselt, sentencepiece/_version)
        if name.endswith(".__init__"):
            name = name[: -len(".__init__")]
        if name.startswith("_") and name not in ("_cffi_backend", "_yaml"):
            continue
        if "." in name:  # a submodule: only namespace packages' (nvidia.*) count as top level
            spec = importlib.util.find_spec(name.split(".")[0])
            if spec is not None and spec.origin not in (None, "namespace"):
                continue
        try:
            importlib.import_module(name); modules += 1
        except Exception as e:  # noqa: BLE001
            bad.append(f'{p["name"]}: import {name}: {type(e).__name__}: {e}')
print(f'{len(lock["python"]["packages"])} packages recorded, {modules} top-level modules imported, {len(bad)} problems')
for b in bad:
    print("  " + b)
sys.exit(1 if bad else 0)
PY

echo "== ComfyUI starts from the version and runs the probe workflow (CPU)"
"$cli" run --version real --workflow "$repo/workflows/probe-invert.json" --comfyui-arg=--cpu --timeout 600
grep -i "VideoProbe\|IMPORT FAILED" "$bench/versions/real/comfyui.log" || true
echo "== done; uptime: $(uptime)"
