#!/usr/bin/env python3
"""Interleaved whole-process comparison of several esmtp builds (before and
after a change): each round runs every build once, in turn, so load drift
on a shared machine moves all of them alike.

  python3 tests/bench/builds.py OLD/esmtp NEW/esmtp [...]   # N=300 rounds

Two cases, median wall time and the ratio to the first build:
  relay  a 2 KB message relayed to Postfix's smtp-sink on loopback
         (`esmtp -f SENDER RCPT < msg`, the cached plan of a one-line file);
  route  `esmtp route -C FILE` with a cached plan of a typical file
         (tests/bench/small.rc): the start-up of every submission.
Each build gets its own HOME, so its own cached plan. The files must be
named `esmtp` (subcommands exist only under that name). The same build may
be given twice (as two paths) with a different esmtprc: RC_EXTRA holds one
extra text per build, separated by `|`, appended to that build's file, e.g.
the delivery log on for the second one only:

  RC_EXTRA='|logfile ~/esmtp.log' python3 tests/bench/builds.py A/esmtp B/esmtp
"""
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(build, argv, env, stdin_path, devnull):
    fd = os.open(stdin_path, os.O_RDONLY) if stdin_path else devnull
    actions = [(os.POSIX_SPAWN_DUP2, fd, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
               (os.POSIX_SPAWN_DUP2, devnull, 2)]
    start = time.perf_counter_ns()
    pid = os.posix_spawn(build, argv, env, file_actions=actions)
    _, status = os.waitpid(pid, 0)
    took = (time.perf_counter_ns() - start) / 1e6
    if stdin_path:
        os.close(fd)
    if status != 0:
        sys.exit(f"{build} {argv[1:]} failed: wait status {status}")
    return took


def main():
    builds = [os.path.abspath(b) for b in sys.argv[1:]]
    if not builds or any(os.path.basename(b) != "esmtp" for b in builds):
        sys.exit(__doc__)
    rounds = int(os.environ.get("N", "300"))
    work = tempfile.mkdtemp(prefix="esmtp-builds-")
    port = free_port()
    msg = os.path.join(work, "msg")
    with open(msg, "w") as f:
        f.write("From: me@example.org\nTo: you@example.com\nSubject: bench\n\n")
        f.write(("x" * 71 + "\n") * 27)
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", f"127.0.0.1:{port}", "1000"],
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port)).close()
                break
            except OSError:
                time.sleep(0.05)
        small = os.path.join(ROOT, "tests/bench/small.rc")
        homes = {}
        extras = os.environ.get("RC_EXTRA", "").split("|")
        for i, b in enumerate(builds):
            home = os.path.join(work, f"home{i}")
            os.makedirs(home)
            rc = os.path.join(home, ".esmtprc")
            with open(rc, "w") as f:
                f.write(f"hostname 127.0.0.1:{port}\n")
                extra = extras[i] if i < len(extras) else ""
                if extra:
                    f.write(extra + "\n")
            os.chmod(rc, 0o600)
            homes[b] = home
        os.chmod(small, 0o600)
        devnull = os.open(os.devnull, os.O_WRONLY)
        cases = {
            "relay 2 KB": (["esmtp", "-f", "me@example.org", "you@example.com"], msg),
            "route, cached": (["esmtp", "route", "-C", small, "-f", "me@example.org",
                               "you@example.com"], None),
        }
        for name, (argv, stdin_path) in cases.items():
            times = {b: [] for b in builds}
            for r in range(rounds + 5):
                for b in builds:
                    env = {"HOME": homes[b], "PATH": "/usr/bin:/bin"}
                    t = timed(b, argv, env, stdin_path, devnull)
                    if r >= 5:  # the first rounds compile and warm the caches
                        times[b].append(t)
            first = statistics.median(times[builds[0]])
            for b in builds:
                m = statistics.median(times[b])
                print(f"{name:14} {m:7.3f} ms  {m / first:5.2f}x  {b}")
    finally:
        sink.terminate()


if __name__ == "__main__":
    main()
