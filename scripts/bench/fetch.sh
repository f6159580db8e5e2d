#!/usr/bin/env bash
# Issue 18 download benchmarks, one command each, reference tools run side by side (interleaved), medians:
#   p3     `models fetch` of one SIZE_MB file from loopback nginx vs `curl -o F && sync -f F` (disk) and `curl -o F`
#          (tmpfs); peak RSS; the variants of the write path (COMFYLOCK_DOWNLOAD_IO) and the logged time breakdown
#   p3b    one big file through nginx `limit_rate` (per request, as CDNs throttle): `models fetch` with N ranged
#          connections vs the single-stream rate, and `aria2c -x N -s N` on the same file and server
#   many   20 models with `models verify --fix` (the lock's parallel fetch): --jobs 1 vs the default (a budget of
#          16 connections: small files one each, big ones 4 ranged each) vs --jobs 4 (round 4's default) vs --jobs 8
# Usage: scripts/bench/fetch.sh [p3] [p3b] [many]          (default: all)
# Env:   DISK_DIR (default /var/tmp/comfylock-bench-fetch: the project's disk), SHM_DIR (/dev/shm/...), SIZE_MB
#        (2048), RUNS (5), P3B_MB (1024), RATE (50m = nginx limit_rate), CONNS ("1 2 4 8"), MANY_MB (250),
#        COMFY_CLI (default: release build in .build-release).
# The source files live on tmpfs (so only the destination differs); every big file is deleted after its part.
# P3_WHERE ("disk shm") picks the destinations of p3.
# Installs nginx and aria2 from Debian if missing (benchmarks only); nginx listens on 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(p3 p3b many)
disk=${DISK_DIR:-/var/tmp/comfylock-bench-fetch}
shm=${SHM_DIR:-/dev/shm/comfylock-bench-fetch}
size_mb=${SIZE_MB:-2048}
runs=${RUNS:-5}
cli=${COMFY_CLI:-$PWD/.build-release/release/comfy-cli}
if [ ! -x "$cli" ]; then swift build -c release --product comfy-cli --scratch-path .build-release >/dev/null; fi
if ! command -v nginx >/dev/null || ! command -v aria2c >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light aria2 >/dev/null 2>&1 \
        || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx aria2 >/dev/null
fi
mkdir -p "$disk" "$shm/www" "$shm/nginx"
cleanup() {
    [ -f "$shm/nginx/nginx.pid" ] && kill "$(cat "$shm/nginx/nginx.pid")" 2>/dev/null || true
    chmod -R u+w "$disk" "$shm" 2>/dev/null || true
    rm -rf "$disk" "$shm"
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$shm/nginx/nginx.conf" <<NGINX
daemon on;
pid $shm/nginx/nginx.pid;
error_log $shm/nginx/error.log;
worker_processes 2;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:$port;
        root $shm/www;
        location / { }
        location /limited/ { alias $shm/www/; limit_rate ${RATE:-50m}; }
    }
}
NGINX
nginx -c "$shm/nginx/nginx.conf" -p "$shm/nginx"
base="http://127.0.0.1:$port"
echo "== $(date -u +%FT%TZ) $(nproc) cores, $(uname -r); uptime: $(uptime)"
echo "== the machine may be shared (see the load above and after): compare rows of one run, not across runs"
echo "== disk: $disk ($(df -T "$disk" | awk 'NR==2{print $2" on "$1}')); tmpfs: $shm"

now() { date +%s.%N; }
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
timed() { local s e; s=$(now); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; e=$(now); echo "$e - $s" | bc -l; }
wipe() { chmod -R u+w "$@" 2>/dev/null || true; rm -rf "$@"; }
random_file() { [ -f "$1" ] || head -c "$(($2 * 1024 * 1024))" /dev/urandom >"$1"; }

p3() {
    random_file "$shm/www/model.bin" "$size_mb"
    local sha url="$base/model.bin" bytes=$((size_mb * 1024 * 1024))
    sha=$(openssl dgst -sha256 -r "$shm/www/model.bin" | cut -d' ' -f1)
    for where in ${P3_WHERE:-disk shm}; do
        local dir
        dir=$([ "$where" = disk ] && echo "$disk" || echo "$shm")/p3
        mkdir -p "$dir"
        curl_ref() {
            rm -f "$dir/curl.bin"
            if [ "$where" = disk ]; then curl -s -o "$dir/curl.bin" "$url" && sync -f "$dir/curl.bin"; else curl -s -o "$dir/curl.bin" "$url"; fi
            rm -f "$dir/curl.bin"
        }
        ours() { # variant = IO:CONNECTIONS
            wipe "$dir/store" "$dir/ours.bin"
            COMFYLOCK_DOWNLOAD_IO=${1%%:*} "$cli" models fetch "$url" --connections "${1##*:}" --sha256 "$sha" --size "$bytes" \
                -o "$dir/ours.bin" --store "$dir/store"
            wipe "$dir/store" "$dir/ours.bin"
        }
        # The default write path is `sync,prealloc` (round 5); `noprealloc` is round 4's default.
        local variants=(${P3_VARIANTS:-sync:1 sync,noprealloc:1 nosync:1 sync:4})
        declare -A t=()
        t[curl]=""
        for v in "${variants[@]}"; do t[$v]=""; done
        curl_ref
        for _ in $(seq "$runs"); do
            t[curl]+=" $(timed curl_ref)"
            for v in "${variants[@]}"; do t[$v]+=" $(timed ours "$v")"; done
        done
        local ref
        ref=$(echo "${t[curl]}" | median)
        local label="curl -o"
        [ "$where" = disk ] && label="curl -o && sync -f"
        printf '| P3 %s, %d MiB | %s | %.2f s | 1.00 |\n' "$where" "$size_mb" "$label" "$ref"
        for v in "${variants[@]}"; do
            local m
            m=$(echo "${t[$v]}" | median)
            printf '| P3 %s, %d MiB | models fetch --connections %s (COMFYLOCK_DOWNLOAD_IO=%s) | %.2f s | %s |\n' "$where" "$size_mb" "${v##*:}" "${v%%:*}" "$m" "$(ratio "$m" "$ref")"
        done
        echo "   runs: curl ${t[curl]}; $(for v in "${variants[@]}"; do printf '%s:%s; ' "$v" "${t[$v]}"; done)"
        # Peak RSS and where the time goes (the store logs it at info level).
        wipe "$dir/store" "$dir/ours.bin"
        local rss
        rss=$(/usr/bin/time -v "$cli" models fetch "$url" --connections 1 --sha256 "$sha" --size "$bytes" -o "$dir/ours.bin" --store "$dir/store" \
            --log-level info --log-format text 2>"$dir/log" >/dev/null; sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/log")
        echo "   peak RSS: models fetch $((rss / 1024)) MiB; breakdown: $(grep -o 'download timings.*' "$dir/log" | head -1)"
        wipe "$dir/store" "$dir/ours.bin"
        rss=$(/usr/bin/time -v curl -s -o "$dir/curl.bin" "$url" 2>&1 >/dev/null | sed -n 's/.*Maximum resident set size (kbytes): //p')
        echo "   peak RSS: curl $((rss / 1024)) MiB"
        rm -rf "$dir"
        unset t
    done
    rm -f "$shm/www/model.bin"
}

p3b() {
    local mb=${P3B_MB:-1024}
    random_file "$shm/www/big.bin" "$mb"
    local sha url="$base/limited/big.bin" bytes=$((mb * 1024 * 1024)) dir="$shm/p3b"
    sha=$(openssl dgst -sha256 -r "$shm/www/big.bin" | cut -d' ' -f1)
    mkdir -p "$dir"
    ours() { wipe "$dir/store" "$dir/o.bin"; "$cli" models fetch --connections "$1" "$url" --sha256 "$sha" --size "$bytes" -o "$dir/o.bin" --store "$dir/store"; wipe "$dir/store" "$dir/o.bin"; }
    aria() { rm -f "$dir/a.bin"; aria2c -q -x "$1" -s "$1" -k 32M --file-allocation=none --allow-overwrite=true -d "$dir" -o a.bin "$url"; rm -f "$dir/a.bin"; }
    local single
    single=$(timed curl -s -o "$dir/c.bin" "$url")
    rm -f "$dir/c.bin"
    local rate1
    rate1=$(echo "$mb / $single" | bc -l)
    printf '| P3b %d MiB at limit_rate %s | curl (one stream) | %.2f s | %.0f MiB/s |\n' "$mb" "${RATE:-50m}" "$single" "$rate1"
    for n in ${CONNS:-1 2 4 8}; do
        local a="" o=""
        for _ in $(seq "${P3B_RUNS:-3}"); do
            o+=" $(timed ours "$n")"
            a+=" $(timed aria "$n")"
        done
        local mo ma
        mo=$(echo "$o" | median)
        ma=$(echo "$a" | median)
        printf '| P3b N=%d | models fetch | %.2f s | %.0f MiB/s = %.2f x N x single |\n' "$n" "$mo" "$(echo "$mb / $mo" | bc -l)" "$(echo "$mb / $mo / $n / $rate1" | bc -l)"
        printf '| P3b N=%d | aria2c -x %d -s %d -k 32M | %.2f s | %.0f MiB/s = %.2f x N x single |\n' "$n" "$n" "$n" "$ma" "$(echo "$mb / $ma" | bc -l)" "$(echo "$mb / $ma / $n / $rate1" | bc -l)"
    done
    rm -rf "$dir" "$shm/www/big.bin"
}

many() {
    local mb=${MANY_MB:-250} dir="$disk/many" n=20
    mkdir -p "$dir"
    python3 - "$shm/www" "$dir/lock.json" "$base" "$mb" "$n" <<'PY'
import hashlib, json, os, sys
www, lock, base, mb, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
models = []
for i in range(n):
    name = "m%02d.bin" % i
    h = hashlib.sha256()
    with open(os.path.join(www, name), "wb") as f:
        for _ in range(mb):
            block = os.urandom(1 << 20)
            f.write(block)
            h.update(block)
    models.append({"path": "checkpoints/" + name, "sha256": h.hexdigest(), "size": mb << 20,
                   "sources": [base + "/limited/" + name]})
json.dump({"schemaVersion": 1, "tag": "bench", "createdBy": "comfylock bench",
           "comfyui": {"url": "https://example.invalid/ComfyUI", "commit": "0" * 40},
           "customNodes": [], "models": models, "workflows": []}, open(lock, "w"))
PY
    fetch_all() { wipe "$dir/store" "$dir/root"; mkdir -p "$dir/root"; "$cli" models verify --fix --lock "$dir/lock.json" --root "$dir/root" --store "$dir/store" "$@" || true; wipe "$dir/store" "$dir/root"; }
    local s="" d="" f="" e=""
    for _ in $(seq "${MANY_RUNS:-3}"); do
        s+=" $(timed fetch_all --jobs 1)"
        d+=" $(timed fetch_all)"
        f+=" $(timed fetch_all --jobs 4)"
        e+=" $(timed fetch_all --jobs 8)"
    done
    printf '| many: %d x %d MiB at limit_rate %s, to disk | --jobs 1 (sequential) | %.2f s |\n' "$n" "$mb" "${RATE:-50m}" "$(echo "$s" | median)"
    printf '| many | default (budget of 16 connections) | %.2f s |\n' "$(echo "$d" | median)"
    printf '| many | --jobs 4 (round 4 default) | %.2f s |\n' "$(echo "$f" | median)"
    printf '| many | --jobs 8 | %.2f s |\n' "$(echo "$e" | median)"
    echo "   runs: jobs1 $s; default $d; jobs4 $f; jobs8 $e"
    rm -rf "$dir" "$shm"/www/m*.bin
}

for part in "${parts[@]}"; do "$part"; done
echo "== uptime after: $(uptime)"
