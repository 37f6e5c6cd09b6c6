#!/usr/bin/env python3
"""ptykeys.py - runs an interactive program on a pseudo-terminal and types.

    ptykeys.py KEYS PROGRAM [ARGS...]

Starts PROGRAM on a new pty (TERM=dumb, 10 lines by 200 columns), waits a
second for it to draw, then types KEYS one at a time, a second apart, and
waits for it to exit. Writes everything it drew to standard output (\\r
removed) and exits with its exit status (128+N for a signal N). Used to
drive less(1) through a table file as a person would.
"""
import os
import pty
import select
import sys
import time


def main():
    keys, argv = sys.argv[1], sys.argv[2:]
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(TERM="dumb", LINES="10", COLUMNS="200")
        os.execvp(argv[0], argv)
    out = bytearray()

    def pump(seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                try:
                    out.extend(os.read(fd, 65536))
                except OSError:
                    return

    pump(1.0)
    for k in keys:
        os.write(fd, k.encode())
        pump(1.0)
    _, st = os.waitpid(pid, 0)
    pump(0.1)
    sys.stdout.buffer.write(bytes(out).replace(b"\r", b""))
    sys.exit(os.waitstatus_to_exitcode(st) if os.WIFEXITED(st) else 128 + os.WTERMSIG(st))


if __name__ == "__main__":
    main()
