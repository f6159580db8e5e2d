#!/usr/bin/env bash
# Benchmarks of issue 5 (models), each against a reference tool run side by side on the same data:
#   p1  `comfy-cli models hash` on one 2 GB file  vs `openssl dgst -sha256` and `sha256sum`
#   p2  `comfy-cli models verify` of 20 unchanged files (10 GB total, sparse) with the stat cache (target < 0.5 s)
#   p3  `comfy-cli models fetch` of a 2 GB file from a loopback nginx (hash in the same pass) vs `curl -o`,
#       wall time and peak RSS (GNU time -v)
# Usage: scripts/bench/models.sh [p1] [p2] [p3]     (default: all three)
# Env:   BENCH_DIR (default /dev/shm/comfylock-bench: tmpfs, so the shared disk's writeback does not drown the
#        pipeline being measured; set it to a disk path to include the disk), SIZE_MB (default 2048), RUNS (default 5).
# Release build; big files are deleted at the end. Installs nginx (Debian) for p3 if missing; nginx listens on
# 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(p1 p2 p3)
dir=${BENCH_DIR:-/dev/shm/comfylock-bench}
size_mb=${SIZE_MB:-2048}
runs=${RUNS:-5}
mkdir -p "$dir"
cleanup() {
    if [ -f "$dir/nginx/nginx.pid" ]; then kill "$(cat "$dir/nginx/nginx.pid")" 2>/dev/null || true; fi
    chmod -R u+w "$dir" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT

swift build -c release --product comfy-cli >/dev/null
bin="$(swift build -c release --show-bin-path)/comfy-cli"
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), $(uname -r); data in $dir ($(df -T "$dir" | awk 'NR==2{print $2}'))"
echo "tools: $(openssl version), $(sha256sum --version | head -1), $(curl --version | head -1 | cut -d' ' -f1-2)"

# best-of-N wall time in seconds of a command (output discarded)
best() {
    local best_t=999999 t
    for _ in $(seq "$runs"); do
        local s e
        s=$(date +%s.%N)
        "$@" >/dev/null
        e=$(date +%s.%N)
        t=$(echo "$e - $s" | bc -l)
        if (($(echo "$t < $best_t" | bc -l))); then best_t=$t; fi
    done
    printf '%.3f' "$best_t"
}
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

make_random_file() { # path size_mb
    [ -f "$1" ] || head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"
}

p1() {
    local f="$dir/p1.bin"
    make_random_file "$f" "$size_mb"
    cat "$f" >/dev/null # warm the page cache for every tool alike
    local want
    want=$(openssl dgst -sha256 -r "$f" | cut -d' ' -f1)
    [ "$("$bin" models hash "$f" | cut -d' ' -f1)" = "$want" ] || { echo "p1: digest differs" >&2; exit 1; }
    local t_ours t_openssl t_sum
    t_ours=$(best "$bin" models hash "$f")
    t_openssl=$(best openssl dgst -sha256 "$f")
    t_sum=$(best sha256sum "$f")
    echo "P1 hash ${size_mb} MiB (best of $runs): comfy-cli ${t_ours}s, openssl ${t_openssl}s, sha256sum ${t_sum}s"
    echo "P1 throughput vs openssl: $(ratio "$t_openssl" "$t_ours")x (target >= 0.9x); vs sha256sum: $(ratio "$t_sum" "$t_ours")x (target >= 4x)"
    rm -f "$f"
}

p2() {
    local root="$dir/p2/models" store="$dir/p2/store" lock="$dir/p2/lock.json" each_mb=512
    mkdir -p "$root/checkpoints"
    for i in $(seq -w 1 20); do truncate -s "${each_mb}M" "$root/checkpoints/m$i.safetensors"; done
    local sha
    sha=$(head -c "$((each_mb * 1024 * 1024))" /dev/zero | openssl dgst -sha256 -r | cut -d' ' -f1)
    python3 - "$lock" "$sha" "$((each_mb * 1024 * 1024))" <<'PY'
import json, sys
path, sha, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
models = [{"path": "checkpoints/m%02d.safetensors" % i, "sha256": sha, "size": size, "sources": []} for i in range(1, 21)]
lock = {"schemaVersion": 1, "tag": "bench", "createdBy": "comfylock bench",
        "comfyui": {"url": "https://github.com/comfyanonymous/ComfyUI", "commit": "0" * 40},
        "customNodes": [], "models": models, "workflows": []}
open(path, "w").write(json.dumps(lock, sort_keys=True, separators=(",", ":")) + "\n")
PY
    sleep 1 # let the files age past the stat cache's racy window
    local s e first
    s=$(date +%s.%N)
    "$bin" models verify --lock "$lock" --root "$root" --store "$store" >/dev/null
    e=$(date +%s.%N)
    first=$(printf '%.3f' "$(echo "$e - $s" | bc -l)")
    local t_cached
    t_cached=$(best "$bin" models verify --lock "$lock" --root "$root" --store "$store")
    local t_deep
    t_deep=$(RUNS=1 best "$bin" models verify --deep --lock "$lock" --root "$root" --store "$store")
    echo "P2 verify 20 files x ${each_mb} MiB (10 GiB): first run (hashing) ${first}s, --deep ${t_deep}s, unchanged with stat cache ${t_cached}s (best of $runs; target < 0.5s)"
    rm -rf "$dir/p2"
}

p3() {
    if ! command -v nginx >/dev/null; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light >/dev/null 2>&1 \
            || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >/dev/null
    fi
    local www="$dir/www" conf="$dir/nginx" port
    mkdir -p "$www" "$conf"
    make_random_file "$www/model.bin" "$size_mb"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat >"$conf/nginx.conf" <<NGINX
daemon on;
pid $conf/nginx.pid;
error_log $conf/error.log;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$port;
        root $www;
        location / { }
        location /limited/ { alias $www/; limit_rate ${P3_RATE:-300m}; }
    }
}
NGINX
    nginx -c "$conf/nginx.conf" -p "$conf"
    sleep 0.5
    local url="http://127.0.0.1:$port/model.bin" sha
    sha=$(openssl dgst -sha256 -r "$www/model.bin" | cut -d' ' -f1)
    local out="$dir/out" store="$dir/p3store"
    mkdir -p "$out"
    curl_once() { rm -f "$out/curl.bin"; curl -s -o "$out/curl.bin" "$url"; }
    ours_once() {
        chmod -R u+w "$store" 2>/dev/null || true
        rm -rf "$store" "$out/ours.bin"
        "$bin" models fetch "$url" --sha256 "$sha" -o "$out/ours.bin" --store "$store"
    }
    curl_once && ours_once # warm up
    local t_curl t_ours
    t_curl=$(best curl_once)
    t_ours=$(best ours_once)
    [ "$(openssl dgst -sha256 -r "$out/ours.bin" | cut -d' ' -f1)" = "$sha" ] || { echo "p3: wrong bytes" >&2; exit 1; }
    chmod -R u+w "$store"; rm -rf "$store" "$out/ours.bin"
    local rss_ours rss_curl
    rss_ours=$(/usr/bin/time -v "$bin" models fetch "$url" --sha256 "$sha" -o "$out/ours.bin" --store "$store" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p')
    rss_curl=$(/usr/bin/time -v curl -s -o "$out/curl.bin" "$url" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p')
    echo "P3 download ${size_mb} MiB from loopback nginx (best of $runs): comfy-cli models fetch ${t_ours}s (hash + verify + fsync + rename + link), curl -o ${t_curl}s"
    echo "P3 wall time ratio: $(ratio "$t_ours" "$t_curl")x curl (target <= 1.05x); peak RSS comfy-cli $((rss_ours / 1024)) MiB (target <= 64 MiB), curl $((rss_curl / 1024)) MiB"
    # The same through a rate-limited location (a fast CDN link): the transfer, not the CPU, is the bottleneck.
    local rate=${P3_RATE:-300m}
    url="http://127.0.0.1:$port/limited/model.bin"
    t_curl=$(RUNS=2 best curl_once)
    t_ours=$(RUNS=2 best ours_once)
    echo "P3 at ${rate}B/s (nginx limit_rate, best of 2): comfy-cli ${t_ours}s, curl -o ${t_curl}s, ratio $(ratio "$t_ours" "$t_curl")x"
}

for part in "${parts[@]}"; do "$part"; done
