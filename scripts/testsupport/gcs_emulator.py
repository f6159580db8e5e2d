#!/usr/bin/env python3
"""gcp-storage-emulator (in memory) on a port the kernel picks, so tests never race for a free port.

`gcp-storage-emulator start --port=P` needs the port up front; this starts the same server through the package's
own `create_server` on port 0, then prints "READY <port>" once it listens. The emulator builds its URLs (resumable
upload sessions, media links) from the bound address, so they carry the real port. Exits when its parent dies.

Usage: gcs_emulator.py [--host 127.0.0.1] [--default-bucket test-bucket]
"""

import argparse
import logging
import os
import sys
import time

from gcp_storage_emulator.server import create_server
import parent_watch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--default-bucket", default="test-bucket")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)

    server = create_server(args.host, 0, in_memory=True, default_bucket=args.default_bucket)
    server.start()
    # The API thread's HTTPServer (gcp-storage-emulator 2024.8.3, pinned in requirements.txt) knows the bound port.
    httpd = getattr(getattr(server, "_api", None), "_httpd", None)
    if httpd is None:
        print("gcs_emulator.py: this gcp-storage-emulator does not expose its HTTP server", file=sys.stderr)
        os._exit(2)

    parent_watch.exit_with_parent(0.5)
    print("READY %d" % httpd.server_address[1], flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
