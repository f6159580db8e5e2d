#!/usr/bin/env bash
# Benchmark: canonicalize a 10 MB lock-like document with `comfy-cli lock canonicalize` (release build) versus
# Python's json.loads + rfc8785.dumps (pip package rfc8785, the reference implementation), side by side on the
# same input. Checks both outputs are byte-identical, then prints the median wall time of RUNS runs each and the ratio.
#
# Usage: scripts/bench/canonical-json.sh [SIZE_BYTES] [RUNS]      (defaults: 10000000 and 7)
# Makes (git-ignored): bench-data/lock-like-<size>.json and the benchmark venv .venv-bench (with rfc8785).
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-10000000}
runs=${2:-7}
mkdir -p bench-data
input=bench-data/lock-like-$size.json
[ -s "$input" ] || python3 scripts/bench/make-lock-like.py "$input" "$size"

venv=.venv-bench
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import rfc8785" 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --isolated -q --disable-pip-version-check rfc8785
fi

swift build -c release --product comfy-cli >/dev/null
bin=$(swift build -c release --show-bin-path)/comfy-cli

python_canonicalize='import sys, json, rfc8785
data = open(sys.argv[1], "rb").read()
sys.stdout.buffer.write(rfc8785.dumps(json.loads(data)))'

"$bin" lock canonicalize "$input" >bench-data/out-swift.json
"$venv/bin/python" -c "$python_canonicalize" "$input" >bench-data/out-python.json
if ! cmp -s bench-data/out-swift.json bench-data/out-python.json; then
    echo "MISMATCH: comfy-cli and rfc8785 disagree on $input" >&2
    cmp bench-data/out-swift.json bench-data/out-python.json >&2 || true
    exit 1
fi

# Median wall-clock seconds of running "$@" $runs times (output discarded).
median() {
    local times=()
    for _ in $(seq "$runs"); do
        local start end
        start=$(date +%s.%N)
        "$@" >/dev/null
        end=$(date +%s.%N)
        times+=("$(echo "$end - $start" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

swift_s=$(median "$bin" lock canonicalize "$input")
python_s=$(median "$venv/bin/python" -c "$python_canonicalize" "$input")
bytes=$(stat -c %s "$input")
printf 'input: %s (%s bytes), outputs identical (%s bytes)\n' "$input" "$bytes" "$(stat -c %s bench-data/out-swift.json)"
printf 'comfy-cli lock canonicalize:      %.3f s  (%.1f MB/s)\n' "$swift_s" "$(echo "$bytes / $swift_s / 1000000" | bc -l)"
printf 'python json.loads+rfc8785.dumps: %.3f s  (%.1f MB/s)\n' "$python_s" "$(echo "$bytes / $python_s / 1000000" | bc -l)"
printf 'ratio (python / comfy-cli): %.2fx\n' "$(echo "$python_s / $swift_s" | bc -l)"
