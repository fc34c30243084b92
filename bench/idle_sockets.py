#!/usr/bin/env python3
"""Holds COUNT idle TCP connections to HOST:PORT for SECONDS: open, send nothing, and open
another whenever the server closes one (an attacker keeps the pressure on). Prints how
many it held at the end and how many the server closed. Part of bench/target.sh."""
import resource
import selectors
import socket
import sys
import time


def main():
    host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, count + 1024), hard))
    sel = selectors.DefaultSelector()
    closed = failed = 0

    def open_one():
        nonlocal failed
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect((host, port))
        except BlockingIOError:
            pass
        except OSError:
            failed += 1
            s.close()
            return
        sel.register(s, selectors.EVENT_READ)

    for _ in range(count):
        open_one()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:  # the server closed it (a deadline, or shedding): open another
                sel.unregister(s)
                s.close()
                closed += 1
                open_one()
    print(f"held {len(sel.get_map())} idle sockets; the server closed {closed}; {failed} connects failed")


if __name__ == "__main__":
    main()
