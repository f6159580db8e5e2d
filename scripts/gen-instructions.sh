#!/usr/bin/env bash
# Regenerates the command reference in docs/instructions.md from the tools' own help (every command, argument and
# flag of comfy-cli and comfy-handler), leaving the hand-written parts alone.
#   scripts/gen-instructions.sh           rewrite the generated section
#   scripts/gen-instructions.sh --check   exit 1 when it is out of date (nothing written)
# Run it after adding or changing a command, an option or a help text, then add a worked example by hand if the
# command is new. Tests/ComfyCLITests/InstructionsTests.swift fails until the doc covers every command and flag.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product comfy-cli >/dev/null
swift build --product comfy-handler >/dev/null
bin=$(swift build --show-bin-path)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin/comfy-cli" --experimental-dump-help >"$tmp/comfy-cli.json"
dumps=("$tmp/comfy-cli.json")
if "$bin/comfy-handler" --experimental-dump-help >"$tmp/comfy-handler.json" 2>/dev/null; then
    dumps+=("$tmp/comfy-handler.json")
else
    echo "gen-instructions: comfy-handler has no command-line interface yet; skipped" >&2
fi
python3 scripts/docs/render_reference.py docs/instructions.md "${dumps[@]}" "$@"
