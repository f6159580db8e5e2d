#!/usr/bin/env bash
# ComfyLock's main job: set up this machine (Debian 12: packages, test venv, release build), build a version — a
# locked ComfyUI with its pinned Python closure — from lockfiles/demo.lock.json, and run the weight-free demo workflow
# through `comfy-handler --test-input`. Prints the output's sha256, the lock digest and where the version lives.
# A second run reuses the version (its status is checked against the lock) and only runs the workflow again.
#
# Usage: scripts/run.sh [LOCK [WORKFLOW]]   (defaults: lockfiles/demo.lock.json, workflows/probe-invert.json)
# Mirrors (see docs/instructions.md; the lock keeps the original URLs, only fetches are redirected):
#   COMFYLOCK_GIT_MIRROR      git repositories: PREFIX=REPLACEMENT;... or a base (BASE/HOST/PATH)
#   COMFYLOCK_PACKAGE_MIRROR  pinned Python artifacts: PREFIX=REPLACEMENT;... (e.g. https://files.pythonhosted.org/=…)
#   COMFYLOCK_MODEL_MIRROR    model sources: PREFIX=REPLACEMENT;...
#   COMFYLOCK_MIRRORS         a mirrors file (git:/packages:/models: PREFIX = REPLACEMENT lines)
# Locations: COMFYLOCK_STORE (default ~/.cache/comfylock), COMFYLOCK_VERSIONS (default ~/comfy-versions),
#   COMFYLOCK_WHEELHOUSE (default ~/.cache/comfylock-run/wheelhouse: the lock's artifacts, for the offline install).
# COMFYLOCK_BIN_DIR=DIR uses the comfy-cli and comfy-handler in DIR and skips the set-up (the tests do this).
# Exit status: 0 the workflow ran; 1 it ran and failed (the handler's error is printed); 2 set-up or build failed.
set -euo pipefail
# Paths given on the command line are relative to where the script was started.
abs() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
lock_arg=${1:+$(abs "$1")}
workflow_arg=${2:+$(abs "$2")}
cd "$(dirname "$0")/.."
started=$(date +%s)
say() { echo "run: $*"; }
die() { echo "run: $*" >&2; exit 2; }

if [ -n "${COMFYLOCK_BIN_DIR:-}" ]; then
    bin=$COMFYLOCK_BIN_DIR
else
    scripts/bootstrap.sh
    # Put uv (installed by bootstrap into the test venv) where ComfyRuntime finds it: ~20x faster installs than pip.
    [ -n "${COMFYLOCK_UV:-}" ] || ! [ -x .venv-test/bin/uv ] || export COMFYLOCK_UV=$PWD/.venv-test/bin/uv
    for product in comfy-cli comfy-handler; do
        swift build -c release --product "$product" 2>&1 | grep -E "error|warning: unre|Build complete" | tail -3
    done
    bin=$(swift build -c release --show-bin-path)
fi
cli=$bin/comfy-cli
handler=$bin/comfy-handler
[ -x "$cli" ] && [ -x "$handler" ] || die "no comfy-cli/comfy-handler in $bin"

lock=${lock_arg:-lockfiles/demo.lock.json}
workflow=${workflow_arg:-workflows/probe-invert.json}
[ -f "$lock" ] || die "no lock at $lock"
[ -f "$workflow" ] || die "no workflow at $workflow"
"$cli" lock validate "$lock" >/dev/null || die "$lock is not a valid lock (comfy-cli lock validate $lock)"
digest=$("$cli" lock digest "$lock")
root=${COMFYLOCK_VERSIONS:-$HOME/comfy-versions}
wheelhouse=${COMFYLOCK_WHEELHOUSE:-${XDG_CACHE_HOME:-$HOME/.cache}/comfylock-run/wheelhouse}
# The version is named after the lock's digest: a changed lock builds a new version, the same lock reuses it.
name="$(basename "$lock" .lock.json)-${digest:0:12}"
version=$root/$name

if [ -d "$version" ] && "$cli" version status "$name" --root "$root" >/dev/null 2>&1; then
    say "version $name is built and matches its lock: reusing it"
else
    if [ -d "$version" ]; then
        "$cli" version status "$name" --root "$root" >&2 || true
        die "version $version exists but has drifted from $lock (above); repair or remove it: comfy-cli version remove $name --root $root --yes"
    fi
    say "fetching the lock's Python artifacts into $wheelhouse (hash-checked)"
    "$cli" pin wheelhouse --lock "$lock" "$wheelhouse" || die "could not fetch the pinned Python artifacts (above)"
    say "building version $name (ComfyUI, custom nodes, venv offline from the wheelhouse, models)"
    "$cli" version create "$name" --lock "$lock" --root "$root" --offline --wheelhouse "$wheelhouse" \
        || die "version create failed (above)"
fi

say "running $workflow through comfy-handler --test-input"
job=$(python3 -c 'import json,sys; print(json.dumps({"input": {"workflow": json.load(open(sys.argv[1]))}}))' "$workflow")
# ComfyUI needs --cpu where there is no NVIDIA GPU (the demo's torch is PyPI's CUDA build, which runs on CPU).
gpu_args=()
if ! nvidia-smi -L >/dev/null 2>&1; then
    say "no NVIDIA GPU found: ComfyUI runs with --cpu"
    gpu_args=(--comfyui-arg=--cpu)
fi
set +e
result=$("$handler" --version-dir "$version" "${gpu_args[@]}" --test-input "$job")
status=$?
set -e
python3 - "$result" "$digest" "$version" "$status" "$started" <<'PY'
import json, sys, time
text, digest, version, status, started = sys.argv[1:]
try:
    result = json.loads(text)
except ValueError:
    print("run: the handler printed no JSON result:\n" + text[-2000:], file=sys.stderr)
    sys.exit(2)
if "error" in result or int(status) != 0:
    print("run: the workflow failed: " + json.dumps(result.get("error", result))[:2000], file=sys.stderr)
    sys.exit(1)
output = result["output"]
for item in output.get("outputs", []):
    print("output     %s %s sha256 %s" % (item.get("kind"), item.get("filename"), item.get("sha256")))
print("lock       %s" % digest)
if output.get("lock_digest") not in (None, digest):
    print("run: the handler ran lock %s, not %s" % (output.get("lock_digest"), digest), file=sys.stderr)
    sys.exit(1)
env = output.get("environment") or {}
print("version    %s (environment digest %s)" % (version, env.get("version_digest")))
print("comfyui    %s" % env.get("comfyui_commit"))
print("done in    %ds" % (time.time() - int(started)))
PY
