#!/usr/bin/env python3
"""A lossy, slow link between two network namespaces, in user space.

Used by netns_sync_test.sh where the kernel has no `tc netem`. It opens a TUN device in each
namespace and moves IP packets between them, dropping each with probability LOSS and delaying
the rest by DELAY seconds: what netem would do on a veth pair. It prints "ready" once both
devices exist, then runs until its standard input closes or MAX_SECONDS pass.

usage: lossy_link.py NS_A NS_B LOSS DELAY MAX_SECONDS     (as root)
"""
import ctypes
import fcntl
import heapq
import os
import random
import select
import struct
import sys
import time

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN, IFF_NO_PI = 0x0001, 0x1000
libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns " + path)
    finally:
        os.close(fd)


def open_tun(netns):
    """Opens TUN device tl0 inside namespace `netns`; the fd works from any namespace."""
    setns("/var/run/netns/" + netns)
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", b"tl0", IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd


def main():
    ns_a, ns_b = sys.argv[1], sys.argv[2]
    loss, delay, max_seconds = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
    home = "/proc/self/ns/net"
    home_fd = os.open(home, os.O_RDONLY)
    fds = [open_tun(ns_a), open_tun(ns_b)]
    libc.setns(home_fd, CLONE_NEWNET)
    print("ready", flush=True)
    rng = random.Random(4242)
    queue = []  # (due time, sequence, destination fd, packet)
    seq = 0
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline:
        timeout = max(0.0, min(0.05, queue[0][0] - time.monotonic())) if queue else 0.05
        readable, _, _ = select.select(fds + [sys.stdin], [], [], timeout)
        if sys.stdin in readable and not sys.stdin.read(1):
            return
        for i, fd in enumerate(fds):
            if fd not in readable:
                continue
            while True:
                try:
                    packet = os.read(fd, 65535)
                except BlockingIOError:
                    break
                if rng.random() < loss:
                    continue
                seq += 1
                heapq.heappush(queue, (time.monotonic() + delay, seq, fds[1 - i], packet))
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, dest, packet = heapq.heappop(queue)
            try:
                os.write(dest, packet)
            except OSError:
                pass  # the device went down: the test is ending


if __name__ == "__main__":
    main()
