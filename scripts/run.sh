#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine and runs ComfyLock's main job on the example lock:
# installs the system packages, builds the release binaries, and checks the example lock.
# Usage: scripts/run.sh [LOCK]   (default: lockfiles/example.lock.json)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
swift build -c release --product comfy-cli
bin=$(swift build -c release --show-bin-path)
lock=${1:-lockfiles/example.lock.json}
"$bin/comfy-cli" lock validate "$lock"
"$bin/comfy-cli" lock digest "$lock"
