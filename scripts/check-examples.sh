#!/usr/bin/env bash
# Checks that every program in Examples/ compiles against the public API of the root package.
#   scripts/check-examples.sh          type-check each example against the modules `swift build` already made
#                                      (seconds; what scripts/test.sh runs). Only public symbols are visible to it.
#   scripts/check-examples.sh --full   build the Examples package itself: its own .build, a real path dependency
#                                      on the root, one product per example (minutes; COMFYLOCK_EXAMPLES=1 in test.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--full" ]; then
    swift build --package-path Examples 2>&1 | grep -E "error|warning: .*Examples|Build complete" || true
    swift build --package-path Examples >/dev/null
    echo "examples: Examples package built"
    exit 0
fi
modules="$(swift build --show-bin-path)/Modules"
[ -d "$modules" ] || { echo "examples: $modules missing; run swift build first" >&2; exit 2; }
# The system-library targets' module maps (clients of ComfyCrypto/ComfyTransport load them transitively).
maps=()
for map in Sources/C*/module.modulemap; do maps+=(-Xcc "-fmodule-map-file=$map"); done
# C targets of dependencies (SwiftNIO and friends, for ComfyServer) keep their module maps in the build directory.
while IFS= read -r map; do maps+=(-Xcc "-fmodule-map-file=$map"); done < <(
    find "$(swift build --show-bin-path)" -maxdepth 2 -name module.modulemap 2>/dev/null)
# C targets of dependencies that ship their own module map in their sources (swift-atomics' shims, CNIOWindows…),
# which clients of ComfyServer load transitively.
while IFS= read -r map; do maps+=(-Xcc "-fmodule-map-file=$map"); done < <(
    find .build/checkouts -path '*/Sources/*/module.modulemap' 2>/dev/null)
failed=0
for dir in Examples/Sources/*/; do
    name=$(basename "$dir")
    if ! swiftc -typecheck -swift-version 6 -I "$modules" "${maps[@]}" "$dir"*.swift; then
        echo "examples: $name does not compile against the current API" >&2
        failed=1
    fi
done
[ "$failed" = 0 ] || exit 1
echo "examples: $(ls -d Examples/Sources/*/ | wc -l) example(s) type-check against the public API"
