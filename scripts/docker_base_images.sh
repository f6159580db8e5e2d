#!/usr/bin/env bash
# Makes the two local base images docker/Dockerfile builds against where no registry can be reached:
#   localhost/debian:bookworm-slim          Debian 12 minbase rootfs (debootstrap), the runtime stage's base;
#   localhost/comfylock-swift:bookworm      that rootfs + the Swift toolchain of this machine (/opt/swift) + the
#                                           Swift packages SwiftPM resolves here (/opt/swift-packages, reached through
#                                           the same system git `insteadOf` rewrite as on the host) + build packages.
# Idempotent: an image that exists is kept (COMFYLOCK_REBUILD_BASE=1 rebuilds). Needs root, podman, buildah and
# debootstrap (installed when missing). Where registries work, skip this script: the Dockerfile's defaults are the
# official images (docker.io/library/swift, nvidia/cuda).
#   COMFYLOCK_DOCKER_CACHE   where the debootstrap rootfs is kept (default /var/cache/comfylock-docker)
#   COMFYLOCK_SWIFT_ROOT     toolchain to copy (default: the directory above the `swift` in PATH, e.g. /opt/swift)
#   COMFYLOCK_SWIFT_PACKAGES package mirror directory (default /opt/swift-packages)
set -euo pipefail
cd "$(dirname "$0")/.."

runtime_image=${COMFYLOCK_RUNTIME_BASE:-localhost/debian:bookworm-slim}
build_image=${COMFYLOCK_BUILD_BASE:-localhost/comfylock-swift:bookworm}
cache=${COMFYLOCK_DOCKER_CACHE:-/var/cache/comfylock-docker}
packages=${COMFYLOCK_SWIFT_PACKAGES:-/opt/swift-packages}
if [ -n "${COMFYLOCK_SWIFT_ROOT:-}" ]; then
    swift_root=$COMFYLOCK_SWIFT_ROOT
else
    swift_bin=$(command -v swift) || { echo "docker_base_images: no swift in PATH" >&2; exit 2; }
    swift_root=$(cd "$(dirname "$(readlink -f "$swift_bin")")/../.." && pwd)
fi
[ -x "$swift_root/usr/bin/swift" ] || { echo "docker_base_images: no toolchain at $swift_root/usr/bin/swift" >&2; exit 2; }

need=()
for pkg in podman buildah debootstrap; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if ((${#need[@]})); then
    echo "docker_base_images: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

B=(buildah --cgroup-manager=cgroupfs)
exists() { podman image exists "$1" && [ -z "${COMFYLOCK_REBUILD_BASE:-}" ]; }

if exists "$runtime_image"; then
    echo "docker_base_images: $runtime_image present"
else
    rootfs="$cache/rootfs-bookworm"
    if [ ! -f "$rootfs/.complete" ]; then
        echo "docker_base_images: debootstrap bookworm into $rootfs (a few minutes)"
        rm -rf "$rootfs.tmp"
        mkdir -p "$cache"
        debootstrap --variant=minbase bookworm "$rootfs.tmp" >"$cache/debootstrap.log" 2>&1 \
            || { tail -20 "$cache/debootstrap.log" >&2; exit 2; }
        # Like the official slim image: no apt lists or caches in the base.
        rm -rf "$rootfs.tmp"/var/lib/apt/lists/* "$rootfs.tmp"/var/cache/apt/*.bin
        rm -rf "$rootfs"
        mv "$rootfs.tmp" "$rootfs"
        touch "$rootfs/.complete"
    fi
    echo "docker_base_images: importing $runtime_image"
    tar --exclude=./.complete -C "$rootfs" -c . | podman import - "$runtime_image" >/dev/null
fi

if exists "$build_image"; then
    echo "docker_base_images: $build_image present"
else
    echo "docker_base_images: building $build_image from $runtime_image + $swift_root + $packages"
    ctr=$("${B[@]}" from --pull-never "$runtime_image")
    trap '"${B[@]}" rm "$ctr" >/dev/null 2>&1 || true' EXIT
    # What the official swift:*-bookworm image installs for the toolchain, plus libcurl/OpenSSL headers for ComfyLock.
    "${B[@]}" run --isolation=chroot "$ctr" -- sh -c 'apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            binutils binutils-gold ca-certificates gcc git libc6-dev libcurl4-openssl-dev libedit2 libgcc-12-dev \
            libncurses6 libpython3-dev libsqlite3-0 libssl-dev libstdc++-12-dev libxml2-dev libz3-dev pkg-config \
            tzdata unzip zlib1g-dev >/dev/null \
        && rm -rf /var/lib/apt/lists/*'
    "${B[@]}" copy "$ctr" "$swift_root" /opt/swift >/dev/null
    if [ -d "$packages" ]; then
        "${B[@]}" copy "$ctr" "$packages" /opt/swift-packages >/dev/null
        # The same rewrite this machine's /etc/gitconfig does: SwiftPM's github.com URLs resolve to the local copies.
        "${B[@]}" run --isolation=chroot "$ctr" -- sh -c '
            git config --system url./opt/swift-packages/.insteadOf https://github.com/
            git config --system --add url./opt/swift-packages/.insteadOf git@github.com:
            git config --system --add url./opt/swift-packages/.insteadOf ssh://git@github.com/
            git config --system --add safe.directory "*"'
    fi
    "${B[@]}" config --env PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        --label org.opencontainers.image.description="Swift $("$swift_root/usr/bin/swift" --version 2>/dev/null \
            | head -1 | sed 's/.*version \([^ ]*\).*/\1/') build base for ComfyLock (local)" "$ctr"
    "${B[@]}" commit --rm "$ctr" "$build_image" >/dev/null
    trap - EXIT
    check=$("${B[@]}" from --pull-never "$build_image")
    "${B[@]}" run --isolation=chroot "$check" -- swift --version 2>&1 | head -1
    "${B[@]}" rm "$check" >/dev/null
fi
podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E "^(${runtime_image}|${build_image}) " || true
