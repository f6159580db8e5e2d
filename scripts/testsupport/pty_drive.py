#!/usr/bin/env python3
"""Runs a command on a new pseudo-terminal (its controlling terminal) and answers every prompt containing
"Password" with the given line, as a person at a terminal would; prints the whole transcript and exits with the
command's status. Used by the tests of comfy-cli's no-echo password prompt: echoed input would show in the transcript.

    pty_drive.py ANSWER COMMAND [ARG...]
"""
import fcntl
import os
import subprocess
import sys
import termios
import time


def main() -> int:
    answer, command = sys.argv[1].encode() + b"\n", sys.argv[2:]
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
        while transcript.count(b"Password") > answered:
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
