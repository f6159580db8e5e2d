#!/usr/bin/env bash
# Installs what ComfyLock needs to build and test on Debian 12, idempotently:
#   - Debian packages: libcurl (OpenSSL flavour), OpenSSL headers, pkg-config, git, curl, minisign (signature
#     interop tests);
#   - the git-ignored Python venv .venv-test with the GCS emulator, Google's client, uv and wheel tools;
#   - .venv-test/fixture-wheels: real wheels tests serve from a loopback index (scripts/testsupport/fixture-wheels.txt).
# Safe to run again: it only installs what is missing or changed.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pkg in libcurl4-openssl-dev libssl-dev pkg-config git curl ca-certificates minisign; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
    echo "bootstrap: installing Debian packages: ${need[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

venv=.venv-test
req=scripts/testsupport/requirements.txt
stamp="$venv/.requirements.sha256"
fixture_wheels=scripts/testsupport/fixture-wheels.txt
want=$(cat "$req" "$fixture_wheels" | sha256sum | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "bootstrap: preparing $venv"
    python3 -m venv "$venv"
    # --isolated: ignore this machine's pip config (it adds a local find-links folder).
    "$venv/bin/python" -m pip install --isolated -q --disable-pip-version-check -r "$req"
    rm -rf "$venv/fixture-wheels"
    "$venv/bin/python" -m pip download --isolated -q --disable-pip-version-check --no-deps --only-binary=:all: \
        -d "$venv/fixture-wheels" -r "$fixture_wheels"
    echo "$want" >"$stamp"
fi
