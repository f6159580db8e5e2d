#!/usr/bin/env python3
"""20 x 512 MiB model files (10 GiB) with real bytes on disk (no sparse extents, no two 1 MiB chunks alike):
a 64 MiB random pool, each 1 MiB chunk stamped with (file, chunk) in its first 16 bytes. Named m<NN>-<sha256>."""
import hashlib, os, struct, sys
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
pool = os.urandom(64 << 20)
MiB = 1 << 20
for n in range(1, 21):
    if any(f.startswith("m%02d-" % n) for f in os.listdir(out)):
        continue
    h = hashlib.sha256()
    tmp = os.path.join(out, "tmp")
    with open(tmp, "wb") as f:
        for c in range(512):
            start = (c * 7 % 64) * MiB
            chunk = bytearray(pool[start:start + MiB])
            chunk[0:16] = struct.pack("<QQ", n, c)
            h.update(chunk)
            f.write(chunk)
        f.flush(); os.fsync(f.fileno())
    os.rename(tmp, os.path.join(out, "m%02d-%s" % (n, h.hexdigest())))
    print(n, flush=True)
