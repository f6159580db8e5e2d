#!/usr/bin/env bash
# Issue 19 benchmark: the first job on a cold volume with 20 locked models of which the workflow uses 2 —
# `comfy-handler --models lazy` (the 2 fetched before the job) against eager (all 20 fetched at start, then the job).
# Runs the opt-in LazyFetchBenchmark suite (Tests/ComfyHandlerTests/LazyFetchBenchmark.swift): a version built from
# git fixture repos, 20 model files of real bytes served over loopback HTTP, the worker's own fetch/verify/placement
# code and the ComfyUI stand-in as ComfyUI; rounds interleave the modes; medians printed. Results: docs/benchmarks.md.
#
# Usage: scripts/bench/lazy_models.sh [ROUNDS=3] [MODEL_MIB=128]   (needs `swift build --build-tests` and
# scripts/bootstrap.sh; the model files, 20 x MODEL_MIB MiB, are kept in $COMFYLOCK_BENCH_DIR, default
# /var/tmp/comfylock-lazy-bench, and reused)
set -euo pipefail
cd "$(dirname "$0")/../.."
export COMFYLOCK_BENCH_LAZY=1
export COMFYLOCK_BENCH_ROUNDS=${1:-3}
export COMFYLOCK_BENCH_MODEL_MIB=${2:-128}
export COMFYLOCK_TEST_VENV=${COMFYLOCK_TEST_VENV:-$PWD/.venv-test}
echo "machine before: $(uptime)"
swift test --skip-build --filter LazyFetchBenchmark 2>&1 | grep -E "^BENCH|✘|error" || true
echo "machine after: $(uptime)"
