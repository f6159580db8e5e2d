#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs (scripts/bootstrap.sh), builds everything, runs swift test.
# Extra arguments go to `swift test` (e.g. scripts/test.sh --filter ComfyLockTests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export COMFYLOCK_TEST_VENV="$PWD/.venv-test"
# Tests start their own loopback servers (and stop them); this is the backstop if a test crashes mid-way.
cleanup() {
    pkill -KILL -f "$PWD/scripts/testsupport/" 2>/dev/null || true
    pkill -KILL -f "$PWD/.venv-test/bin/gcp-storage-emulator" 2>/dev/null || true
}
trap cleanup EXIT
# The worker image's Dockerfile must stay hadolint-clean (cheap; the image build itself is the opt-in smoke below).
"$COMFYLOCK_TEST_VENV/bin/hadolint" docker/Dockerfile
# The formatter contract (.swift-format: 4 spaces, 120 columns, documented public API): seconds. To fix what it
# reports: swift format -i -r Sources Tests
swift format lint --strict -r Sources Tests
swift build --build-tests
# Examples/ (one program per SDK layer) against the public API: seconds. The full package build takes minutes (it
# compiles the SDK again in Examples/.build): COMFYLOCK_EXAMPLES=1.
scripts/check-examples.sh
[ "${COMFYLOCK_EXAMPLES:-}" != 1 ] || scripts/check-examples.sh --full
# The DocC catalog of every library (swift-docc-plugin; ~2 min; a broken symbol link fails the run). COMFYLOCK_DOCS=0
# skips it for a quick local run.
[ "${COMFYLOCK_DOCS:-}" = 0 ] || scripts/docs.sh
# Tests write only into temp directories: the source tree is listed before and after, and any file or directory a
# test run left in it fails the run (the ComfyUI stand-in once wrote temp/ and user/ beside itself).
source_tree() {
    find Sources Tests scripts docs Examples \( -name '.build*' -o -name __pycache__ \) -prune -o -print | LC_ALL=C sort
}
# The same for the user's own store (~/.cache/comfylock: blobs, the git cache): every test passes its own store, so a
# test that fell back to the default one (pin --lock once filled the git cache with temp repos) fails the run.
user_store() { find "$HOME/.cache/comfylock" -maxdepth 2 2>/dev/null | LC_ALL=C sort; }
tree_before=$(source_tree)
store_before=$(user_store)
swift test --skip-build "$@"
tree_after=$(source_tree)
store_after=$(user_store)
if [ "$tree_before" != "$tree_after" ]; then
    echo "error: the test run wrote into the source tree:" >&2
    diff <(echo "$tree_before") <(echo "$tree_after") | grep '^[<>]' | head -20 >&2
    exit 1
fi
if [ "$store_before" != "$store_after" ]; then
    echo "error: the test run wrote into the user's store $HOME/.cache/comfylock:" >&2
    diff <(echo "$store_before") <(echo "$store_after") | grep '^[<>]' | head -20 >&2
    exit 1
fi
# Opt-in (minutes): build THE worker image with podman/buildah and run it in every mode (scripts/docker_smoke.sh).
if [ "${COMFYLOCK_DOCKER_SMOKE:-}" = 1 ]; then
    scripts/docker_smoke.sh
fi
