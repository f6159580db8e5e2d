#!/bin/sh
# Worker start: make sure the version named by the lock exists and matches it, then hand over to the handler.
#   COMFYLOCK_LOCK      lock file to apply (required to apply one; without it the handler starts as is)
#   COMFYLOCK_VERSION   version name (default: the lock's file name without .lock.json)
#   COMFYLOCK_VERSIONS  versions root (default set in the image: /runpod-volume/comfylock/versions)
#   COMFYLOCK_STORE     content-addressed store shared by all versions (models, git mirrors)
set -eu
if [ -n "${COMFYLOCK_LOCK:-}" ]; then
    name=${COMFYLOCK_VERSION:-$(basename "$COMFYLOCK_LOCK" .lock.json)}
    if comfy-cli version status "$name" --root "$COMFYLOCK_VERSIONS" >/dev/null 2>&1; then
        echo "comfylock: version $name is present and matches its lock"
    else
        echo "comfylock: building version $name from $COMFYLOCK_LOCK"
        comfy-cli version create "$name" --lock "$COMFYLOCK_LOCK" --root "$COMFYLOCK_VERSIONS"
    fi
fi
exec comfy-handler "$@"
