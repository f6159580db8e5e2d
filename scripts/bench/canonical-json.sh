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

# Runs "$@" $runs times (output discarded) and prints "median-wall-seconds median-cpu-seconds" (cpu = user + sys,
# which stays meaningful when other jobs share the machine).
measure() {
    local walls=() cpus=()
    for _ in $(seq "$runs"); do
        local line
        /usr/bin/time -o bench-data/time.txt -f "%e %U %S" "$@" >/dev/null 2>/dev/null
        line=$(tail -1 bench-data/time.txt)
        walls+=("$(echo "$line" | awk '{print $1}')")
        cpus+=("$(echo "$line" | awk '{print $2 + $3}')")
    done
    local wall cpu
    wall=$(printf '%s\n' "${walls[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    cpu=$(printf '%s\n' "${cpus[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$wall $cpu"
}

read -r swift_wall swift_cpu < <(measure "$bin" lock canonicalize "$input")
read -r python_wall python_cpu < <(measure "$venv/bin/python" -c "$python_canonicalize" "$input")
bytes=$(stat -c %s "$input")
printf 'input: %s (%s bytes), outputs byte-identical (%s bytes); median of %s runs each\n' \
    "$input" "$bytes" "$(stat -c %s bench-data/out-swift.json)" "$runs"
printf '%-34s wall %6.3f s  cpu %6.3f s  (%.1f MB/s wall)\n' "comfy-cli lock canonicalize:" "$swift_wall" "$swift_cpu" \
    "$(echo "$bytes / $swift_wall / 1000000" | bc -l)"
printf '%-34s wall %6.3f s  cpu %6.3f s  (%.1f MB/s wall)\n' "python json.loads + rfc8785.dumps:" "$python_wall" \
    "$python_cpu" "$(echo "$bytes / $python_wall / 1000000" | bc -l)"
printf 'ratio python / comfy-cli: wall %.2fx, cpu %.2fx\n' "$(echo "$python_wall / $swift_wall" | bc -l)" \
    "$(echo "$python_cpu / $swift_cpu" | bc -l)"
