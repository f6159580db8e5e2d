#!/usr/bin/env bash
# P6 benchmark: a SIZE-byte upload to the GCS emulator with `comfy-cli gcs upload` (release build) versus Google's
# Python client (google-cloud-storage upload_from_filename), side by side, fresh emulator per run, objects verified.
# Reports wall time, throughput, peak RSS (memory must stay flat), CPU of the uploader and of the emulator, and the
# throughput ratio per chunk size.
#
# Usage: scripts/bench/gcs-upload.sh [SIZE_BYTES] [RUNS] [CHUNKS_MIB]     (defaults: 1073741824, 3, "100")
# Makes (git-ignored): bench-data/gcs-<size>.bin and a 128 MiB file for the memory check. Uses the test venv
# (scripts/bootstrap.sh). Tools run alternately so both see the same load from other jobs on the machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${1:-1073741824}
runs=${2:-3}
chunks=${3:-100}
scripts/bootstrap.sh >/dev/null
mkdir -p bench-data
input=bench-data/gcs-$size.bin
if [ ! -s "$input" ] || [ "$(stat -c %s "$input")" != "$size" ]; then
    head -c "$size" /dev/urandom >"$input"
fi
small=bench-data/gcs-134217728.bin
[ -s "$small" ] || head -c 134217728 /dev/urandom >"$small"
swift build -c release --product comfy-cli >/dev/null
bin=$(swift build -c release --show-bin-path)/comfy-cli
exec .venv-test/bin/python scripts/bench/gcs-upload.py --cli "$bin" --venv .venv-test --file "$input" --runs "$runs" \
    --chunks "$chunks" --small-file "$small"
