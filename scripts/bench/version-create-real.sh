#!/usr/bin/env bash
# Opt-in (never in CI) P4 on a REAL-sized closure (issue 10): warm `version create` vs `uv pip install --offline` of
# the same closure, medians of interleaved runs.
#   - ComfyUI: a copy of /work/realcomfy/ComfyUI (the real 0.3.64 tree; a plain directory, so it is copied to a temp
#     dir, `git init`-ed and committed as one commit: the lock's ComfyUI is that local file:// repository),
#   - Python: the 90 pinned packages of lockfiles/demo.lock.json (ComfyUI 0.3.64's closure incl. torch, 3.1 GB of
#     wheels), installed offline from /work/realcomfy/wheelhouse,
#   - no custom nodes and no models (the synthetic scripts/bench/version-create.sh covers those).
# Reference per run: `uv venv` + `uv pip install --offline --no-index --find-links WHEELHOUSE --no-deps` of the same
# name==version list, from the same warm uv cache (what version create itself drives).
# Usage: scripts/bench/version-create-real.sh   (COMFY_CLI=path, BENCH_DIR=dir, P4_RUNS=5)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
bench=${BENCH_DIR:-/tmp/comfylock-bench-p4-real}
tree=${COMFYUI_TREE:-/work/realcomfy/ComfyUI}
wheels=${WHEELHOUSE:-/work/realcomfy/wheelhouse}
cli=${COMFY_CLI:-$repo/.build/debug/comfy-cli}
uv=${COMFYLOCK_UV:-$repo/.venv-test/bin/uv}
python=${BENCH_PYTHON:-python3.11}
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=b GIT_AUTHOR_EMAIL=b@x GIT_COMMITTER_NAME=b GIT_COMMITTER_EMAIL=b@x
export COMFYLOCK_STORE=$bench/store COMFYLOCK_UV=$uv COMFYLOCK_UV_CACHE_DIR=$bench/uv-cache
rm -rf "$bench"
mkdir -p "$bench/ComfyUI"
(cd "$tree" && tar --exclude=./venv --exclude='__pycache__' --exclude=./user --exclude=./output --exclude=./temp \
    --exclude=./input -cf - .) | tar -xf - -C "$bench/ComfyUI"
git -C "$bench/ComfyUI" init -q -b master
git -C "$bench/ComfyUI" add -A
git -C "$bench/ComfyUI" commit -q -m "ComfyUI 0.3.64 tree"
commit=$(git -C "$bench/ComfyUI" rev-parse HEAD)
"$python" - "$repo/lockfiles/demo.lock.json" "$bench" "$commit" <<'PY'
import json, sys
lock = json.load(open(sys.argv[1]))
lock["comfyui"] = {"url": "file://" + sys.argv[2] + "/ComfyUI", "commit": sys.argv[3], "ref": "v0.3.64"}
lock["tag"] = "p4-real"
json.dump(lock, open(sys.argv[2] + "/lock.json", "w"), indent=1)
open(sys.argv[2] + "/pinned.txt", "w").write("".join("%s==%s\n" % (p["name"], p["version"]) for p in lock["python"]["packages"]))
PY
"$cli" lock fmt "$bench/lock.json" >/dev/null
create() {
    "$cli" version create "$1" --lock "$bench/lock.json" --root "$bench/versions" --offline --wheelhouse "$wheels" \
        --python "$python" --json >"$bench/$1.json" 2>/dev/null
}
reference() {
    "$uv" venv -q --python "$python" "$bench/uv-$1"
    "$uv" pip install -q --python "$bench/uv-$1/bin/python" --offline --no-index --find-links "$wheels" --no-deps \
        --cache-dir "$bench/uv-cache" -r "$bench/pinned.txt"
}
now() { date +%s.%N; }
echo "== uptime before: $(uptime)"
echo "== warm-up: the first version fills the store, the git cache and uv's cache"
a=$(now); create cold; b=$(now)
echo "cold version create: $(echo "$b - $a" | bc) s"
runs=${P4_RUNS:-5}
: >"$bench/create.txt"
: >"$bench/uv.txt"
: >"$bench/verify.txt"
for i in $(seq 1 "$runs"); do
    a=$(now); create "warm-$i"; b=$(now)
    echo "$b - $a" | bc >>"$bench/create.txt"
    "$python" -c "import json; print(json.load(open('$bench/warm-$i.json'))['stepSeconds']['verify'])" >>"$bench/verify.txt"
    a=$(now); reference "$i"; b=$(now)
    echo "$b - $a" | bc >>"$bench/uv.txt"
    rm -rf "$bench/uv-$i"
    [ "$i" = 1 ] || rm -rf "$bench/versions/warm-$i"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "warm version create runs: $(tr '\n' ' ' <"$bench/create.txt")"
echo "uv venv + uv pip install --offline runs: $(tr '\n' ' ' <"$bench/uv.txt")"
printf '| median warm version create (%d runs) | %.2f s |\n' "$runs" "$(median "$bench/create.txt")"
printf '| median uv venv + uv pip install --offline (%d runs) | %.2f s |\n' "$runs" "$(median "$bench/uv.txt")"
echo "verify step runs: $(tr '\n' ' ' <"$bench/verify.txt")"
printf '| median verify step of the warm version create (%d runs) | %.3f s |\n' "$runs" "$(median "$bench/verify.txt")"
"$python" -c "import json; r=json.load(open('$bench/warm-1.json')); print('warm steps (s):', {k: round(v, 2) for k, v in sorted(r['stepSeconds'].items())})"
"$cli" version status warm-1 --root "$bench/versions" >/dev/null && echo "status: warm-1 clean"
echo "== uptime after: $(uptime)"
