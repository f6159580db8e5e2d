#!/usr/bin/env bash
# Builds THE worker image (docker/Dockerfile, the one users build) with podman/buildah and runs it for real:
#   0. base images (scripts/docker_base_images.sh: debootstrap Debian 12 + this machine's Swift toolchain);
#   1. fixtures: a "ComfyUI" git repo whose main.py is the ComfyUI-API stand-in, its lock (Pillow pinned by
#      `comfy-cli pin` against PyPI, one small model served from loopback), the wheelhouse (`comfy-cli pin wheelhouse`);
#   2. `podman build` with LOCK/WHEELHOUSE/GIT_MIRROR/MODEL_MIRROR build args: the version is baked offline;
#   3. runs the image's own ENTRYPOINT (tini → comfy-handler) with a volume at /runpod-volume:
#      (a) --test-input with the demo workflow, (b) the local HTTP API with a few jobs, (c) the RunPod loop against the
#      loopback RunPod stand-in, (d) a drifted volume (corrupted model): refused with the reason, repaired with
#      --on-drift repair; plus the volume checks (read-only, full, wrong owner → clear error; absent → works).
# What cannot run here: `podman run` (crun 1.8 fails on setrlimit RLIMIT_NOFILE/NPROC inside this VM, even with the
# current values), so containers run with `buildah run --isolation=chroot`: the image's root file system, its
# ENTRYPOINT argv and ENV, bind-mounted volumes — but no PID/network namespace (tini is not PID 1, loopback is the
# host's) and no cgroup limits. Everything inside the image runs for real.
# Usage: scripts/docker_smoke.sh   (root; minutes; COMFYLOCK_SMOKE_DIR=/var/tmp/comfylock-docker-smoke keeps fixtures;
#        COMFYLOCK_SMOKE_REUSE_IMAGE=1 reuses the image an earlier run built instead of building it again)
# Prints a summary; the last run is recorded in docs/benchmarks.md by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
work=${COMFYLOCK_SMOKE_DIR:-/var/tmp/comfylock-docker-smoke}
image=${COMFYLOCK_SMOKE_IMAGE:-localhost/comfylock-smoke:latest}
swift_image=${SWIFT_IMAGE:-localhost/comfylock-swift:bookworm}
base_image=${BASE_IMAGE:-localhost/debian:bookworm-slim}
B=(buildah --cgroup-manager=cgroupfs)
P=(podman --cgroup-manager=cgroupfs)
t0=$(date +%s.%N)
log() { printf 'smoke [%6.1fs] %s\n' "$(echo "$(date +%s.%N) - $t0" | bc)" "$*"; }
fail() { echo "smoke: FAILED: $*" >&2; exit 1; }
pids=()
containers=()
cleanup() {
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for c in "${containers[@]}"; do "${B[@]}" rm "$c" >/dev/null 2>&1 || true; done
    for m in "$work"/mnt-*; do [ -d "$m" ] && umount "$m" 2>/dev/null || true; done
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] || fail "run as root (podman/buildah with chroot isolation)"
[ -z "${SWIFT_IMAGE:-}" ] && [ -z "${BASE_IMAGE:-}" ] && scripts/docker_base_images.sh | sed 's/^/smoke: /'
scripts/bootstrap.sh
py=$repo/.venv-test/bin/python
if [ -n "${COMFY_CLI:-}" ]; then
    cli=$COMFY_CLI
else
    swift build --product comfy-cli 2>&1 | grep -E "error|Build complete" | head -5
    cli="$(swift build --show-bin-path)/comfy-cli"
fi
standin=${COMFYLOCK_STANDIN:-$repo/scripts/testsupport/comfyui_standin.py}
[ -f "$standin" ] || fail "no ComfyUI stand-in at $standin"

mkdir -p "$work"
# ---------------------------------------------------------------------------------------------- 1. fixtures ---
log "fixtures in $work"
ctx=$work/context
rm -rf "$ctx" "$work/src"
mkdir -p "$ctx/.smoke" "$work/src" "$work/models"
# The build context is this checkout's source files (tracked + untracked, not ignored): what a user's clone holds.
git ls-files -co --exclude-standard -z | tar --null -T - -c | tar -x -C "$ctx"

# "ComfyUI": the stand-in as main.py, its one requirement, in a git repo with a fixed author/date (stable commit id).
comfy=$work/src/ComfyUI
mkdir -p "$comfy"
cp "$standin" "$comfy/main.py"
printf 'Pillow\n' >"$comfy/requirements.txt"
mkdir -p "$comfy/models/checkpoints" && touch "$comfy/models/checkpoints/put_checkpoints_here"
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=smoke GIT_AUTHOR_EMAIL=smoke@invalid GIT_COMMITTER_NAME=smoke \
    GIT_COMMITTER_EMAIL=smoke@invalid GIT_AUTHOR_DATE=2025-10-08T00:00:00Z GIT_COMMITTER_DATE=2025-10-08T00:00:00Z
git -C "$comfy" init -q -b master
git -C "$comfy" add -A
git -C "$comfy" commit -q -m "ComfyUI stand-in"
git clone -q --bare "$comfy" "$ctx/.smoke/git/git.smoke.invalid/ComfyUI.git"
commit=$(git -C "$comfy" rev-parse HEAD)
unset GIT_CONFIG_NOSYSTEM

# One small model (1 MiB of random bytes) served by a loopback HTTP server: the lock's source for it.
model=$work/models/smoke.safetensors
[ -f "$model" ] || head -c 1048576 /dev/urandom >"$model"
model_sha=$(sha256sum "$model" | cut -d' ' -f1)
# (The port file is removed first: a stale one from an earlier run could be read before the new server truncates it.)
rm -f "$work/models.port"
"$py" scripts/testsupport/http_server.py --root "$work/models" --port 0 >"$work/models.port" 2>"$work/models.log" &
pids+=($!)
for _ in $(seq 50); do grep -q READY "$work/models.port" 2>/dev/null && break; sleep 0.1; done
model_port=$(awk '/READY/{print $2}' "$work/models.port")
[ -n "$model_port" ] || fail "model server did not start: $(cat "$work/models.log")"

# Pins: comfy-cli pin against PyPI for the image's Python (Debian 12: CPython 3.11, glibc 2.36).
if [ ! -s "$work/pins.json" ]; then
    "$cli" pin "$comfy/requirements.txt" --python-version 3.11 --platform manylinux_2_36_x86_64 \
        --index-url https://pypi.org/simple -o "$work/pins.json" >/dev/null
fi
"$py" - "$work/pins.json" "$commit" "$model_sha" "$ctx/.smoke/smoke.lock.json" "$repo/workflows/probe-invert.json" <<'PY'
import json, os, sys
pins, commit, sha, out, workflow = sys.argv[1:]
lock = {
    "schemaVersion": 1, "tag": "docker-smoke", "createdBy": "scripts/docker_smoke.sh",
    "comfyui": {"url": "https://git.smoke.invalid/ComfyUI.git", "commit": commit},
    "customNodes": [],
    "python": json.load(open(pins)),
    "models": [{"path": "checkpoints/smoke.safetensors", "sha256": sha, "size": 1048576,
                "sources": ["https://models.smoke.invalid/smoke.safetensors"]}],
    "workflows": [{"name": "probe-invert", "inline": json.load(open(workflow)), "expectedOutputs": []}],
}
json.dump(lock, open(out, "w"))
PY
"$cli" lock fmt "$ctx/.smoke/smoke.lock.json" >/dev/null
"$cli" lock validate "$ctx/.smoke/smoke.lock.json" >/dev/null || fail "the smoke lock does not validate"
lock_digest=$("$cli" lock digest "$ctx/.smoke/smoke.lock.json" | awk '{print $NF}')
"$cli" pin wheelhouse --lock "$ctx/.smoke/smoke.lock.json" "$ctx/.smoke/wheelhouse" --store "$work/host-store" \
    | sed 's/^/smoke: /'
model_mirror="https://models.smoke.invalid/=http://127.0.0.1:$model_port/"

[ "${COMFYLOCK_SMOKE_STOP:-}" = fixtures ] && { log "fixtures ready (COMFYLOCK_SMOKE_STOP=fixtures)"; exit 0; }

# ------------------------------------------------------------------------------------------------ 2. build ---
if [ "${COMFYLOCK_SMOKE_REUSE_IMAGE:-}" = 1 ] && "${P[@]}" image exists "$image"; then
    log "reusing $image (COMFYLOCK_SMOKE_REUSE_IMAGE=1: built by an earlier run from the same fixtures)"
    build_s=0
else
log "building $image from docker/Dockerfile (SWIFT_IMAGE=$swift_image BASE_IMAGE=$base_image)"
build_start=$(date +%s.%N)
"${P[@]}" build --isolation=chroot -f docker/Dockerfile -t "$image" \
    --build-arg SWIFT_IMAGE="$swift_image" --build-arg BASE_IMAGE="$base_image" \
    --build-arg LOCK=.smoke/smoke.lock.json --build-arg WHEELHOUSE=.smoke/wheelhouse \
    --build-arg GIT_MIRROR=/context/.smoke/git --build-arg MODEL_MIRROR="$model_mirror" \
    "$ctx" >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; fail "image build"; }
build_s=$(echo "$(date +%s.%N) - $build_start" | bc)
fi
image_size=$("${P[@]}" image inspect "$image" --format '{{.Size}}')
log "built in ${build_s}s, image size $image_size bytes"

# The image's own ENTRYPOINT argv and ENV: what `docker run IMAGE ARGS` would start.
mapfile -t entrypoint < <("${P[@]}" image inspect "$image" --format '{{range .Config.Entrypoint}}{{println .}}{{end}}' | sed '/^$/d')
[ "${entrypoint[0]}" = /usr/bin/tini ] || fail "unexpected ENTRYPOINT ${entrypoint[*]}"

# run_image [-v HOST:CTR[:ro]]... [-e K=V]... [--user U] -- ARGS...   (the entrypoint + ARGS, in the image)
run_image() {
    local opts=() envs=()
    while [ "$1" != -- ]; do
        case $1 in
            -v | --user) opts+=("$1" "$2"); shift 2 ;;
            -e) envs+=("$2"); shift 2 ;;
            *) fail "run_image: $1" ;;
        esac
    done
    shift
    local ctr
    ctr=$("${B[@]}" from --pull-never "$image")
    containers+=("$ctr")
    # `buildah run --env`, like `docker run -e`: the value is passed as is. (`buildah config --env` would expand the
    # `$ID` / `$RUNPOD_POD_ID` placeholders RunPod's webhook URLs carry, which the worker must substitute itself.)
    for e in "${envs[@]}"; do opts+=(--env "$e"); done
    "${B[@]}" run --isolation=chroot "${opts[@]}" "$ctr" -- "${entrypoint[@]}" "$@"
}

# ------------------------------------------------------------------------------------------------- 3. runs ---
vol=$work/volume
rm -rf "$vol" && mkdir -p "$vol"
job=$("$py" -c 'import json,sys; print(json.dumps({"input": {"workflow": json.load(open(sys.argv[1]))}}))' \
    workflows/probe-invert.json)

log "(a) --test-input with the demo workflow, volume at /runpod-volume"
run_image -v "$vol:/runpod-volume" -- --version-dir /opt/comfylock/versions/baked --test-input "$job" \
    >"$work/a.json" 2>"$work/a.log" || { tail -20 "$work/a.log"; fail "(a) --test-input"; }
"$py" - "$work/a.json" "$lock_digest" <<'PY' || fail "(a) result"
import json, sys
result = json.load(open(sys.argv[1]))
out = result["output"]
assert out["lock_digest"] == sys.argv[2], (out["lock_digest"], sys.argv[2])
images = [o for o in out["outputs"] if o["kind"] == "image"]
assert images and images[0]["sha256"], out
print("smoke: (a) ok: %d output(s), sha256 %s, lock %s" % (len(out["outputs"]), images[0]["sha256"], out["lock_digest"]))
PY

# The baked environment on its own: status clean against its lock (what the handler checks first).
c=$("${B[@]}" from --pull-never "$image"); containers+=("$c")
"${B[@]}" run --isolation=chroot "$c" -- comfy-cli version status baked --root /opt/comfylock/versions >/dev/null \
    || fail "the baked version is not clean against its lock"

log "(b) the local HTTP API: serve, /ready, a few /runsync and /run + /status jobs"
port=$("$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run_image -v "$vol:/runpod-volume" -- serve --host 127.0.0.1 --port "$port" \
    --version-dir /opt/comfylock/versions/baked >"$work/b.log" 2>&1 &
serve_pid=$!
pids+=($serve_pid)
for _ in $(seq 1200); do
    curl -fsS "http://127.0.0.1:$port/ready" >/dev/null 2>&1 && break
    kill -0 $serve_pid 2>/dev/null || { tail -20 "$work/b.log"; fail "(b) serve exited"; }
    sleep 0.1
done
"$py" - "$port" "$job" "$lock_digest" <<'PY' || { tail -20 "$work/b.log"; fail "(b) HTTP API"; }
import json, sys, time, urllib.request
port, job, digest = int(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3]
def post(path, body):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=120))
shas = set()
for i in range(3):
    r = post("/runsync", job)
    assert r["status"] == "COMPLETED", r
    assert r["output"]["lock_digest"] == digest
    shas.add(r["output"]["outputs"][0]["sha256"])
queued = post("/run", job)
assert queued["status"] in ("IN_QUEUE", "IN_PROGRESS"), queued
deadline = time.time() + 120
while True:
    s = json.load(urllib.request.urlopen("http://127.0.0.1:%d/status/%s" % (port, queued["id"]), timeout=120))
    if s["status"] in ("COMPLETED", "FAILED") or time.time() > deadline: break
    time.sleep(0.2)
assert s["status"] == "COMPLETED", s
bad = post("/runsync", {"input": {"workflow": "not a graph"}})
assert bad["status"] == "FAILED" and bad.get("error"), bad
print("smoke: (b) ok: 3 runsync + run/status COMPLETED (%d distinct output sha256), a malformed job FAILED" % len(shas))
PY
kill -TERM $serve_pid 2>/dev/null; pkill -TERM -f "comfy-handler serve --host 127.0.0.1 --port $port" || true
wait $serve_pid 2>/dev/null || true

log "(c) the RunPod loop against the loopback RunPod stand-in"
rm -f "$work/rp.port"
"$py" scripts/testsupport/runpod_standin.py --port 0 --api-key smoke-key >"$work/rp.port" 2>"$work/rp.log" &
pids+=($!)
for _ in $(seq 50); do grep -q READY "$work/rp.port" 2>/dev/null && break; sleep 0.1; done
rp=$(awk '/READY/{print $2}' "$work/rp.port")
[ -n "$rp" ] || fail "RunPod stand-in did not start: $(cat "$work/rp.log")"
"$py" - "$rp" "$job" <<'PY'
import json, sys, urllib.request
port, job = int(sys.argv[1]), json.loads(sys.argv[2])
jobs = [dict(id="job-%d" % i, **job) for i in range(3)] + [{"id": "job-bad", "input": {"workflow": 7}}]
req = urllib.request.Request("http://127.0.0.1:%d/_control/jobs" % port, data=json.dumps({"jobs": jobs}).encode(),
                             headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
PY
base="http://127.0.0.1:$rp/v2/smoke-endpoint"
run_image -v "$vol:/runpod-volume" -e RUNPOD_WEBHOOK_GET_JOB="$base/job-take/\$RUNPOD_POD_ID?gpu=smoke" \
    -e RUNPOD_WEBHOOK_POST_OUTPUT="$base/job-done/\$RUNPOD_POD_ID/\$ID?gpu=smoke" \
    -e RUNPOD_WEBHOOK_PING="$base/ping/\$RUNPOD_POD_ID?gpu=smoke" -e RUNPOD_AI_API_KEY=smoke-key \
    -e RUNPOD_POD_ID=smoke-worker -e RUNPOD_PING_INTERVAL=500 -- \
    --version-dir /opt/comfylock/versions/baked >"$work/c.log" 2>&1 &
worker=$!
pids+=($worker)
"$py" - "$rp" "$lock_digest" <<'PY' || { tail -30 "$work/c.log"; fail "(c) RunPod loop"; }
import json, sys, time, urllib.request
port, digest = int(sys.argv[1]), sys.argv[2]
deadline = time.time() + 300
while time.time() < deadline:
    log = json.load(urllib.request.urlopen("http://127.0.0.1:%d/_control/log" % port))
    if len(log["results"]) >= 4: break
    time.sleep(0.5)
results = log["results"]
assert len(results) == 4, ("results", list(results))
for i in range(3):
    posts = results["job-%d" % i]
    assert len(posts) == 1, posts
    body = posts[0]["body"]  # the stand-in logs each post as {t, worker, body, is_stream, content_type}
    assert "output" in body, body
    assert body["output"]["lock_digest"] == digest, body
assert "error" in results["job-bad"][0]["body"], results["job-bad"]
assert log["pings"], "no heartbeat"
assert log["unauthorized"] == 0
print("smoke: (c) ok: 3 jobs answered once each with the lock digest, the malformed one with an error, %d pings"
      % len(log["pings"]))
PY
# SIGTERM reaches the handler through tini; the worker drains and exits.
term_start=$(date +%s.%N)
pkill -TERM -f "^/usr/bin/tini -- /usr/local/bin/comfy-handler --version-dir" || true
for _ in $(seq 300); do kill -0 $worker 2>/dev/null || break; sleep 0.1; done
kill -0 $worker 2>/dev/null && fail "(c) the worker did not exit after SIGTERM"
log "(c) SIGTERM → exit in $(echo "$(date +%s.%N) - $term_start" | bc)s"

log "(d) a drifted volume: version on the volume, a corrupted model → refused; --on-drift repair → repaired"
dvol=$work/volume-drift
rm -rf "$dvol" && mkdir -p "$dvol"
c=$("${B[@]}" from --pull-never "$image"); containers+=("$c")
"${B[@]}" run --isolation=chroot -v "$dvol:/runpod-volume" -v "$ctx/.smoke:/smoke:ro" "$c" -- \
    env COMFYLOCK_GIT_MIRROR=/smoke/git COMFYLOCK_MODEL_MIRROR="$model_mirror" \
    comfy-cli version create smoke --lock /smoke/smoke.lock.json --root /runpod-volume/comfylock/versions \
    --offline --wheelhouse /smoke/wheelhouse >"$work/d-create.log" 2>&1 || { tail "$work/d-create.log"; fail "(d) create"; }
target=$dvol/comfylock/versions/smoke/models/checkpoints/smoke.safetensors
[ -f "$target" ] || fail "(d) no model at $target"
# Corrupt one byte in place (the blob is read-only and may be shared: what a bad disk or a stray write does).
chmod u+w "$target"
printf '\x00' | dd of="$target" bs=1 seek=4096 conv=notrunc status=none
drift_args=(--version smoke --root /runpod-volume/comfylock/versions)
if run_image -v "$dvol:/runpod-volume" -e COMFYLOCK_MODEL_MIRROR="$model_mirror" -- "${drift_args[@]}" \
    --test-input "$job" >"$work/d-refuse.json" 2>"$work/d-refuse.log"; then
    fail "(d) a drifted version ran a job"
fi
grep -q "smoke.safetensors" "$work/d-refuse.json" "$work/d-refuse.log" || fail "(d) the refusal does not name the model"
log "(d) refused: $(grep -h -o '[^"]*smoke.safetensors[^"]*' "$work/d-refuse.log" "$work/d-refuse.json" | head -1)"
run_image -v "$dvol:/runpod-volume" -e COMFYLOCK_MODEL_MIRROR="$model_mirror" -- "${drift_args[@]}" \
    --on-drift repair --test-input "$job" >"$work/d-repair.json" 2>"$work/d-repair.log" \
    || { tail -20 "$work/d-repair.log"; fail "(d) --on-drift repair"; }
[ "$(sha256sum "$target" | cut -d' ' -f1)" = "$model_sha" ] || fail "(d) the model was not repaired"
log "(d) repaired and ran the job"

log "volume checks: read-only, full, wrong owner → clear error; absent → runs from the image"
ro=$work/volume-ro; mkdir -p "$ro"
if run_image -v "$ro:/runpod-volume:ro" -- --version-dir /opt/comfylock/versions/baked --test-input "$job" \
    >/dev/null 2>"$work/ro.log"; then fail "read-only volume accepted"; fi
grep -q "read-only" "$work/ro.log" || { cat "$work/ro.log"; fail "read-only: no clear error"; }
full=$work/mnt-full; mkdir -p "$full"; mount -t tmpfs -o size=1m tmpfs "$full"
head -c 900k /dev/urandom >"$full/filler" 2>/dev/null || true
if run_image -v "$full:/runpod-volume" -- --version-dir /opt/comfylock/versions/baked --test-input "$job" \
    >/dev/null 2>"$work/full.log"; then fail "full volume accepted"; fi
umount "$full"
grep -q "is full" "$work/full.log" || { cat "$work/full.log"; fail "full: no clear error"; }
owned=$work/volume-owned; rm -rf "$owned"; mkdir -p "$owned/comfylock"; chmod 755 "$owned" "$owned/comfylock"
if run_image -v "$owned:/runpod-volume" --user 4242:4242 -- --version-dir /opt/comfylock/versions/baked \
    --test-input "$job" >/dev/null 2>"$work/owner.log"; then fail "a volume owned by root accepted for uid 4242"; fi
grep -q "owned by uid 0" "$work/owner.log" || { cat "$work/owner.log"; fail "wrong owner: no clear error"; }
run_image -- --version-dir /opt/comfylock/versions/baked --test-input "$job" >"$work/novol.json" 2>"$work/novol.log" \
    || { tail "$work/novol.log"; fail "no volume"; }
log "volume checks ok: $(head -c 160 "$work/ro.log" | tr '\n' ' ')"

echo "smoke: all steps passed in $(echo "$(date +%s.%N) - $t0" | bc)s; image $image_size bytes"
