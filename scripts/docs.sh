#!/usr/bin/env bash
# Builds the DocC documentation of every library (catalogs in Sources/<Module>/<Module>.docc) with swift-docc-plugin.
# Fails on any DocC warning in a catalog (a broken symbol link, a missing page), so the catalogs stay true to the API.
# Output: .build/docs/<Module>.doccarchive (open with `xcrun docc preview` on macOS or serve it as static files).
# Usage: scripts/docs.sh [MODULE ...]   (default: every library)
set -euo pipefail
cd "$(dirname "$0")/.."
modules=("$@")
if ((${#modules[@]} == 0)); then
    modules=(ComfySupport ComfyCrypto ComfyProcess ComfyLock ComfyTransport ComfyModels ComfyGCS ComfyRuntime
        ComfyServer ComfyHandler ComfyHandlerHTTP ComfyCLI)
fi
targets=()
for m in "${modules[@]}"; do targets+=(--target "$m"); done
out=.build/docs
mkdir -p "$out"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
swift package --allow-writing-to-directory "$out" generate-documentation "${targets[@]}" \
    --disable-indexing --output-path "$out" >"$log" 2>&1 || { cat "$log"; exit 2; }
# DocC's own problems (a symbol link that does not resolve, a malformed page) are "warning:" lines printed after
# "Building documentation for ..." (SwiftPM's warnings about dependencies come before); treat them as errors.
if awk '/^Building documentation for/ {docc = 1} docc && /warning:/ {found = 1} docc && found {print} END {exit !found}' \
    "$log"; then
    echo "docs: the DocC catalogs above have problems" >&2
    exit 1
fi
echo "docs: built ${#modules[@]} module(s) into $out"
