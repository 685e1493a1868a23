"""Run a command where only 127.0.0.1 exists: `unshare -rn python tests/support/netns.py ...`.

Why: the README's example commands name the example fleet (10.20.x API servers, a Rancher
at rancher.example). Their tests must run them exactly as written without sending a packet
off the machine; in a fresh network namespace every non-loopback address is unreachable at
once (ENETUNREACH), which is also what a laptop away from the fleet sees, only faster.

    netns.py run ARGV...                    # exit with the command's code
    netns.py serve PORT PATH ARGV...        # start, GET http://127.0.0.1:PORT/PATH, stop

`serve` prints the status line, then the body; the server is stopped by its PID.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """A new network namespace starts with `lo` down; bring it up (what `ip link set lo up` does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifr = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, ifr))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def serve(port: int, path: str, argv: list[str], timeout: float = 60.0) -> int:
    proc = subprocess.Popen(argv, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                print(f"exited {proc.returncode} before answering", flush=True)
                return 1
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as resp:
                    print(f"HTTP {resp.status}", flush=True)
                    print(resp.read().decode(errors="replace"), flush=True)
                    return 0
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        print(f"no answer on port {port} within {timeout:.0f}s", flush=True)
        return 1
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def main(args: list[str]) -> int:
    loopback_up()
    if args[0] == "run":
        return subprocess.run(args[1:], check=False).returncode
    if args[0] == "serve":
        return serve(int(args[1]), args[2], args[3:])
    raise SystemExit(f"usage: {sys.argv[0]} run ARGV... | serve PORT PATH ARGV...")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
