#!/usr/bin/env python3
"""Per-message cost of the built-in OAuth 2 token source with a cached
access token, against a password submission, interleaved (each round runs
every case once, in turn, so load drift moves all alike).

  python3 tests/bench/oauth.py [target/release/esmtp]     # N=300 rounds

Cases, each a 2 KB message relayed on loopback to a minimal SMTP sink
written here (Postfix's smtp-sink offers no XOAUTH2; this one offers PLAIN,
LOGIN and XOAUTH2 and accepts any AUTH), `esmtp -f SENDER RCPT < msg` with
a cached plan:
  password  `username` and `password` in the file, AUTH PLAIN;
  oauth2    `oauth2 custom` with a stored access token good for a day,
            AUTH XOAUTH2: the token file is read, no HTTP request (the
            token URL points at a closed port, so a request would fail);
  none      no AUTH at all, for scale.
The issue's target: oauth2 within 10 % of password (median).
"""

SINK = r"""
import socket, sys, threading
def serve(c):
    f = c.makefile("rb")
    c.sendall(b"220 bench ESMTP\r\n")
    data = False
    for line in f:
        if data:
            if line == b".\r\n":
                data = False
                c.sendall(b"250 2.0.0 Ok\r\n")
            continue
        v = line[:4].upper()
        if v == b"EHLO":
            c.sendall(b"250-bench\r\n250-PIPELINING\r\n250-8BITMIME\r\n250 AUTH PLAIN LOGIN XOAUTH2\r\n")
        elif v == b"AUTH":
            c.sendall(b"235 2.7.0 Ok\r\n")
        elif v == b"DATA":
            data = True
            c.sendall(b"354 go\r\n")
        elif v == b"QUIT":
            c.sendall(b"221 bye\r\n")
            break
        else:
            c.sendall(b"250 2.0.0 Ok\r\n")
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(100)
print("ready", flush=True)
while True:
    c, _ = s.accept()
    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from builds import free_port, timed  # noqa: E402


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                            os.path.join(ROOT, "target/release/esmtp"))
    rounds = int(os.environ.get("N", "300"))
    work = tempfile.mkdtemp(prefix="esmtp-bench-oauth-")
    port, closed = free_port(), free_port()
    msg = os.path.join(work, "msg")
    with open(msg, "w") as f:
        f.write("From: me@example.org\nTo: you@example.com\nSubject: bench\n\n")
        f.write(("x" * 71 + "\n") * 27)
    sink = subprocess.Popen([sys.executable, "-c", SINK, str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    sink.stdout.readline()
    head = f"identity me@example.org\nhostname 127.0.0.1:{port}\n"
    cases = {
        "password": head + "username me\npassword secret\nauth plain\n",
        "oauth2": head + ("oauth2 custom\noauth2_client_id bench\n"
                          f"oauth2_token_url http://127.0.0.1:{closed}/token\n"),
        "none": head,
    }
    envs = {}
    for name, rc in cases.items():
        home = os.path.join(work, name)
        os.makedirs(home, mode=0o700)
        path = os.path.join(home, ".esmtprc")
        with open(path, "w") as f:
            f.write(rc)
        os.chmod(path, 0o600)
        envs[name] = {"HOME": home, "PATH": "/usr/bin:/bin"}
    store = os.path.join(work, "oauth2", ".local/share/esmtp/oauth2")
    os.makedirs(store, mode=0o700)
    os.chmod(os.path.dirname(store), 0o700)
    token = os.path.join(store, "me@example.org_127.0.0.1.json")
    with open(token, "w") as f:
        json.dump({"refresh_token": "r", "access_token": "a" * 200,
                   "expires_at": int(time.time()) + 86400, "scope": "smtp",
                   "token_url": "x"}, f)
    os.chmod(token, 0o600)
    argv = [build, "-f", "me@example.org", "you@example.com"]
    times = {n: [] for n in cases}
    with open(os.devnull, "w") as dn:
        devnull = dn.fileno()
        try:
            for name in cases:  # warm the plan caches
                timed(build, argv, envs[name], msg, devnull)
            for _ in range(rounds):
                for name in cases:
                    times[name].append(timed(build, argv, envs[name], msg, devnull))
        finally:
            sink.terminate()
            sink.wait()
            if not os.environ.get("KEEP"):
                subprocess.run(["rm", "-rf", work])
    base = statistics.median(times["password"])
    for name in cases:
        med = statistics.median(times[name])
        print(f"{name:9} median {med:6.3f} ms  min {min(times[name]):6.3f} ms  "
              f"{med / base:5.3f}x password")


if __name__ == "__main__":
    main()
