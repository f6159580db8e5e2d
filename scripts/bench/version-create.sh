#!/usr/bin/env bash
# P4 benchmark: a second version from warm caches (ComfyUI repo + 3 nodes + >= 30 pinned packages + 5 models >= 1 GB).
# Builds a synthetic but realistically sized setup under $BENCH_DIR (default /tmp/comfylock-bench-p4):
#   - a ComfyUI-like git repo (1,200 files, 40 commits) and 3 node repos (150 files, 10 commits each),
#   - 40 tiny generated pure-Python wheels (with dependencies between them) in an offline wheelhouse,
#   - 5 random model files, 1.1 GB in total, served by a loopback HTTP server,
#   - a lock naming all of it (git URLs are rewritten to the local repos with COMFYLOCK_GIT_MIRROR).
# Then times `comfy-cli version create` cold (empty store, empty uv cache, empty git cache) and warm (same caches),
# and a naive reference (git clone --no-local ×4 + uv venv + uv pip install + cp of the models), and checks that the
# warm version copied 0 model bytes (hard-link counts, inode equality with the store blobs, du).
# Usage: scripts/bench/version-create.sh        (COMFY_CLI=path to use an existing comfy-cli build)
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
bench=${BENCH_DIR:-/tmp/comfylock-bench-p4}
uv=${COMFYLOCK_UV:-$repo/.venv-test/bin/uv}
python=${BENCH_PYTHON:-$(command -v python3)}
if [ -z "${COMFY_CLI:-}" ]; then
    swift build -c release --product comfy-cli >/dev/null
    COMFY_CLI="$(swift build -c release --show-bin-path)/comfy-cli"
fi
rm -rf "$bench"
mkdir -p "$bench"/{upstream,served,wheels}

echo "== generating fixtures in $bench"
"$python" - "$bench" <<'PY'
import hashlib, json, os, random, subprocess, sys, zipfile, base64
bench = sys.argv[1]
rng = random.Random(4)
env = dict(os.environ, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="b", GIT_COMMITTER_EMAIL="b@x")
def git(d, *a):
    return subprocess.run(["git", "-C", d, *a], check=True, env=env, capture_output=True, text=True).stdout.strip()
def make_repo(name, files, commits):
    d = os.path.join(bench, "upstream", name + ".git")
    os.makedirs(d)
    git(d, "init", "-q", "-b", "main")
    for c in range(commits):
        for i in range(files if c == 0 else files // 20):
            p = os.path.join(d, f"pkg{i % 17}", f"mod{i}.py")
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as f:
                f.write(f"# {name} commit {c}\n" + "".join(f"def f{j}_{c}(): return {rng.random()!r}\n" for j in range(120)))
        if c == 0:
            with open(os.path.join(d, "requirements.txt"), "w") as f: f.write("# none\n")
        git(d, "add", "-A"); git(d, "commit", "-q", "-m", f"c{c}")
    return git(d, "rev-parse", "HEAD")
commits = {"ComfyUI": make_repo("ComfyUI", 1200, 40)}
for n in ("node-one", "node-two", "node-three"):
    commits[n] = make_repo(n, 150, 10)
# 40 wheels: pkg00..pkg39, each depends on the next two (a chain), ~40 KB of code each.
packages = []
for i in range(40):
    name = f"benchpkg{i:02d}"
    fn = f"{name}-1.0-py3-none-any.whl"
    path = os.path.join(bench, "wheels", fn)
    deps = [f"benchpkg{j:02d}==1.0" for j in (i + 1, i + 2) if j < 40]
    files = {
        f"{name}/__init__.py": "".join(f"X{k} = {rng.random()!r}\n" for k in range(1500)),
        f"{name}-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n%s" % (name, "".join(f"Requires-Dist: {d}\n" for d in deps)),
        f"{name}-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for arc, text in files.items():
            data = text.encode()
            z.writestr(arc, data)
            h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{arc},sha256={h},{len(data)}")
        record.append(f"{name}-1.0.dist-info/RECORD,,")
        z.writestr(f"{name}-1.0.dist-info/RECORD", "\n".join(record) + "\n")
    sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
    packages.append({"name": name, "version": "1.0", "artifacts": [{"url": f"http://127.0.0.1:9/files/{fn}", "sha256": sha, "filename": fn}]})
# 5 models, 1.1 GB in total.
models = []
for i, (folder, size) in enumerate([("checkpoints", 400), ("checkpoints", 300), ("loras", 150), ("vae", 150), ("controlnet", 100)]):
    fn = f"model{i}.safetensors"
    p = os.path.join(bench, "served", fn)
    h = hashlib.sha256()
    with open(p, "wb") as f:
        for _ in range(size):
            block = os.urandom(1 << 20); f.write(block); h.update(block)
    models.append({"path": f"{folder}/{fn}", "size": size << 20, "sha256": h.hexdigest(), "sources": [f"http://127.0.0.1:PORT/{fn}"]})
lock = {
    "schemaVersion": 1, "tag": "bench", "createdBy": "comfylock bench",
    "comfyui": {"url": "https://git.bench.invalid/ComfyUI.git", "commit": commits["ComfyUI"]},
    "customNodes": [{"name": n, "kind": "git", "url": f"https://git.bench.invalid/{n}.git", "commit": commits[n], "enabled": True} for n in ("node-one", "node-three", "node-two")],
    "python": {"version": "3.11", "platform": "linux_x86_64", "indexUrls": ["http://127.0.0.1:9/simple"], "packages": packages},
    "models": sorted(models, key=lambda m: m["path"]), "workflows": [],
}
json.dump(lock, open(os.path.join(bench, "lock.template.json"), "w"), indent=1)
PY

port=$("$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$python" -m http.server "$port" --bind 127.0.0.1 --directory "$bench/served" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
sed "s/PORT/$port/g" "$bench/lock.template.json" >"$bench/lock.json"
sleep 1

export COMFYLOCK_STORE=$bench/store COMFYLOCK_UV=$uv COMFYLOCK_UV_CACHE_DIR=$bench/uv-cache
export COMFYLOCK_GIT_MIRROR="https://git.bench.invalid/=$bench/upstream/"
create() {
    "$COMFY_CLI" version create "$1" --lock "$bench/lock.json" --root "$bench/versions" --offline \
        --wheelhouse "$bench/wheels" --python "$python" --json >"$bench/$1.json"
}
now() { date +%s.%N; }

echo "== cold: empty store, git cache and uv cache"
t0=$(now); create cold; t1=$(now)
echo "== warm: second version from the same caches"
t2=$(now); create warm; t3=$(now)

echo "== naive reference: git clone --no-local x4, uv venv + offline install, cp models"
ref=$bench/reference
t4=$(now)
mkdir -p "$ref/models"
git clone -q --no-local "$bench/upstream/ComfyUI.git" "$ref/ComfyUI"
mkdir -p "$ref/ComfyUI/custom_nodes"
for n in node-one node-two node-three; do git clone -q --no-local "$bench/upstream/$n.git" "$ref/ComfyUI/custom_nodes/$n"; done
"$uv" venv -q --python "$python" "$ref/venv"
"$uv" pip install -q --python "$ref/venv/bin/python" --offline --no-index --find-links "$bench/wheels" --no-deps \
    --cache-dir "$bench/uv-cache-ref" "$bench"/wheels/*.whl
cp -r "$bench/served/." "$ref/models/"
t5=$(now)

echo "== P4 (issue 10): warm version create vs uv pip install --offline of the same closure, interleaved"
# Both from warm caches: the version build reuses the store, the git mirrors and uv's cache; the reference is only the
# Python install (uv venv + uv pip install --offline of the 40 pinned wheels from the same warm uv cache).
runs=${P4_RUNS:-5}
: >"$bench/p4-create.txt"
: >"$bench/p4-uv.txt"
for i in $(seq 1 "$runs"); do
    a=$(now); create "p4-$i"; b=$(now)
    echo "$b - $a" | bc >>"$bench/p4-create.txt"
    a=$(now)
    "$uv" venv -q --python "$python" "$bench/p4-uv-$i"
    "$uv" pip install -q --python "$bench/p4-uv-$i/bin/python" --offline --no-index --find-links "$bench/wheels" \
        --no-deps --cache-dir "$bench/uv-cache" "$bench"/wheels/*.whl
    b=$(now)
    echo "$b - $a" | bc >>"$bench/p4-uv.txt"
done
median() { sort -n "$1" | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
echo "warm version create runs: $(tr '\n' ' ' <"$bench/p4-create.txt")"
echo "uv venv + uv pip install --offline runs: $(tr '\n' ' ' <"$bench/p4-uv.txt")"
printf '| median warm version create (%d runs) | %.2f s |\n' "$runs" "$(median "$bench/p4-create.txt")"
printf '| median uv venv + uv pip install --offline (%d runs) | %.2f s |\n' "$runs" "$(median "$bench/p4-uv.txt")"
uptime

echo "== checks"
"$COMFY_CLI" version status warm --root "$bench/versions" >/dev/null && echo "status: warm version clean"
d1=$("$COMFY_CLI" version digest cold --root "$bench/versions"); d2=$("$COMFY_CLI" version digest warm --root "$bench/versions")
[ "$d1" = "$d2" ] && echo "digest: equal ($d1)"
copied=$("$python" -c "import json,sys; print(json.load(open('$bench/warm.json'))['modelBytesCopied'])")
echo "model bytes copied (report): $copied"
links=$(find "$bench/versions/warm/models" -type f -links +2 | wc -l)
echo "model files with link count >= 3 (blob + cold + warm): $links of 5"
same=0
for f in $(find "$bench/versions/warm/models" -type f); do
    sha=$(sha256sum "$f" | cut -c1-64)
    [ "$(stat -c %i "$f")" = "$(stat -c %i "$COMFYLOCK_STORE/blobs/sha256/$sha")" ] && same=$((same + 1))
done
echo "model files sharing the store blob's inode: $same of 5"
echo "du (store blobs, then the warm version's models counted after them): $(du -sh "$COMFYLOCK_STORE/blobs" | cut -f1), $(du -sch "$COMFYLOCK_STORE/blobs" "$bench/versions/warm/models" | tail -1 | cut -f1) together"
printf '\n| run | wall |\n|---|---|\n'
printf '| cold version create | %.1f s |\n' "$(echo "$t1 - $t0" | bc)"
printf '| warm version create | %.1f s |\n' "$(echo "$t3 - $t2" | bc)"
printf '| naive reference (clone + install + cp) | %.1f s |\n' "$(echo "$t5 - $t4" | bc)"
"$python" -c "import json; r=json.load(open('$bench/warm.json')); print('warm steps:', {k: round(v, 2) for k, v in sorted(r['stepSeconds'].items())})"
"$python" -c "import json; r=json.load(open('$bench/cold.json')); print('cold steps:', {k: round(v, 2) for k, v in sorted(r['stepSeconds'].items())})"
