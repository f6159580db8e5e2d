#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal (its controlling terminal) and answers every prompt containing
"Password" with the given line, as a person at a terminal would; prints the whole transcript and exits with the
command's status. Used by the tests of comfy-cli's no-echo password prompt: echoed input would show in the transcript.

    pty_drive.py [--prompt TEXT] ANSWER COMMAND [ARG...]

--prompt answers prompts containing TEXT instead (e.g. "[y/N]" for comfy-cli's write confirmations).
"""
import fcntl
import os
import subprocess
import sys
import termios
import time


def main() -> int:
    args, marker = sys.argv[1:], b"Password"
    if args and args[0] == "--prompt":
        marker, args = args[1].encode(), args[2:]
    answer, command = args[0].encode() + b"\n", args[1:]
    master, slave = os.openpty()

    def controlling_terminal() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        command, stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_terminal, close_fds=True
    )
    os.close(slave)
    transcript, answered, deadline = b"", 0, time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the command closed the terminal (it exited)
            break
        if not chunk:
            break
        transcript += chunk
        # The prompt is written after echo is turned off, so answering on seeing it cannot race the echo setting.
        while transcript.count(marker) > answered:
            os.write(master, answer)
            answered += 1
    try:
        status = proc.wait(timeout=max(1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        status = 124
    sys.stdout.write(transcript.decode(errors="replace"))
    return status


if __name__ == "__main__":
    sys.exit(main())
