#!/usr/bin/env bash
# Runs the whole test suite: installs what it needs (scripts/bootstrap.sh), builds everything, runs swift test.
# Extra arguments go to `swift test` (e.g. scripts/test.sh --filter ComfyLockTests).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export COMFYLOCK_TEST_VENV="$PWD/.venv-test"
swift build --build-tests
swift test --skip-build "$@"
