#!/usr/bin/env bash
# Regenerates lockfiles/example.lock.json with the tool itself (run it again whenever the lock schema changes):
#   1. `comfy-cli lock import --from comfy-pack` of the realistic comfy-pack snapshot fixture (ComfyUI commit, git and
#      registry nodes, Python version, models with sizes, SHA-256s and Hugging Face / Civitai sources);
#   2. completes what the import reports missing: Python artifact URLs + SHA-256s from pip's own resolution report
#      (`pip install --dry-run --report` of binary wheels for this Debian 12 x86_64 / CPython 3.11 machine, whose
#      most specific tag is manylinux_2_36_x86_64; real PyPI data, needs PyPI access), the platform tag, and
#      drops the fixture's local-only model (no hash, no source: a lock cannot pin it);
#   3. adds a reference workflow that needs no model weights (no expected outputs yet: `repro` records those);
#   4. `comfy-cli lock fmt` + `comfy-cli lock validate` — the script fails unless the result is a valid lock.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product comfy-cli >/dev/null
cli="$(swift build --show-bin-path)/comfy-cli"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
out=lockfiles/example.lock.json
platform=manylinux_2_36_x86_64

"$cli" lock import --from comfy-pack Tests/Fixtures/import/comfy-pack-snapshot.json --tag example \
    -o "$work/imported.lock.json"

python3 -m venv "$work/venv"
python3 - "$work" "$platform" <<'PY'
import json, subprocess, sys
work, platform = sys.argv[1], sys.argv[2]
lock = json.load(open(f"{work}/imported.lock.json"))
python = lock["python"]
reqs = [f'{p["name"]}=={p["version"]}' for p in python["packages"] if not p["artifacts"] and "vcs" not in p]
subprocess.run([f"{work}/venv/bin/python", "-m", "pip", "install", "--isolated", "--quiet", "--disable-pip-version-check",
                "--dry-run", "--ignore-installed", "--no-deps", "--only-binary=:all:", "--index-url", "https://pypi.org/simple", "--report", f"{work}/report.json",
                *reqs], check=True)
report = json.load(open(f"{work}/report.json"))
chosen = {}
for item in report["install"]:
    meta, info = item["metadata"], item["download_info"]
    name = meta["name"].lower().replace("_", "-").replace(".", "-")
    url = info["url"]
    chosen[name] = {"url": url, "sha256": info["archive_info"]["hashes"]["sha256"], "filename": url.rsplit("/", 1)[1]}
for package in python["packages"]:
    if package["name"] in chosen and not package["artifacts"]:
        package["artifacts"] = [chosen[package["name"]]]
python["platform"] = platform
python["indexUrls"] = ["https://pypi.org/simple"]
lock["models"] = [m for m in lock["models"] if m["sha256"] and m["sources"]]
lock["workflows"] = [{
    "name": "probe-no-weights",
    "inline": {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 64, "height": 64, "batch_size": 1, "color": 16711680}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "probe"}},
    },
    "expectedOutputs": [],
}]
json.dump(lock, open(f"{work}/completed.lock.json", "w"), indent=2)
PY

mkdir -p lockfiles
cp "$work/completed.lock.json" "$out"
"$cli" lock fmt "$out"
"$cli" lock validate "$out"
"$cli" lock digest "$out"
