#!/usr/bin/env python3
"""Builds zip archives for the registry-node tests (test side only: the product never uses zipfile).

usage: make_zip.py OUT.zip SPEC.json
SPEC is a JSON list of entries:
  {"name": "a/b.py", "text": "...", "mode": 0o755, "stored": false}   a regular file (deflate unless stored)
  {"name": "dir/", "dir": true}                                      a directory entry
  {"name": "link", "symlink": "../../etc/passwd"}                     a symlink entry (unix mode 0o120777)
  {"name": "fifo", "fifo": true}                                       a FIFO entry (unix mode 0o010644)
  {"name": "bomb.bin", "zeros": 10485760}                              N zero bytes, deflated (a zip bomb)
  {"name": "liar.bin", "zeros": 1048576, "declare": 100}               ... whose headers declare only `declare` bytes
  {"name": "big.bin", "random": 3000000, "seed": 1}                    pseudo-random, partly repetitive bytes
"""
import json
import random
import struct
import sys
import zipfile


def payload(entry):
    if "text" in entry:
        return entry["text"].encode()
    if "zeros" in entry:
        return bytes(entry["zeros"])
    if "random" in entry:
        rng = random.Random(entry.get("seed", 0))
        out = bytearray()
        while len(out) < entry["random"]:
            chunk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 64)))
            out += chunk * rng.randint(1, 8)
        return bytes(out[: entry["random"]])
    return b""


def main():
    out, spec = sys.argv[1], json.load(open(sys.argv[2]))
    lies = {}
    with zipfile.ZipFile(out, "w") as archive:
        for entry in spec:
            info = zipfile.ZipInfo(entry["name"], date_time=(2024, 1, 1, 0, 0, 0))
            info.create_system = 3
            if entry.get("dir"):
                info.external_attr = (0o040755 << 16) | 0x10
                archive.writestr(info, b"")
                continue
            if "symlink" in entry:
                info.external_attr = 0o120777 << 16
                archive.writestr(info, entry["symlink"].encode())
                continue
            if entry.get("fifo"):
                info.external_attr = 0o010644 << 16
                archive.writestr(info, b"")
                continue
            info.external_attr = (0o100000 | entry.get("mode", 0o644)) << 16
            info.compress_type = zipfile.ZIP_STORED if entry.get("stored") else zipfile.ZIP_DEFLATED
            archive.writestr(info, payload(entry))
            if "declare" in entry:
                lies[entry["name"].encode()] = entry["declare"]
    if lies:
        data = bytearray(open(out, "rb").read())
        for signature, size_at, name_at, fixed in ((b"PK\x03\x04", 22, 26, 30), (b"PK\x01\x02", 24, 28, 46)):
            position = data.find(signature)
            while position >= 0:
                (length,) = struct.unpack_from("<H", data, position + name_at)
                name = bytes(data[position + fixed : position + fixed + length])
                if name in lies:
                    struct.pack_into("<I", data, position + size_at, lies[name])
                position = data.find(signature, position + 4)
        open(out, "wb").write(data)


if __name__ == "__main__":
    main()
