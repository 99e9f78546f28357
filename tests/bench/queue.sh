#!/usr/bin/env bash
# Benchmark: flush N (default 200) queued 2 KB messages to Postfix's
# smtp-sink on loopback.
#   wrapper: the esmtp-wrapper script of esmtp 1.2 run as `deliver`, which
#            starts /usr/bin/esmtp once per message (one connection each);
#   esmtp:   `esmtp queue flush` (one connection for all of them).
# Both start from an identical copy of the same queue before every run
# (hyperfine --prepare). Needs: hyperfine, smtp-sink, esmtp (Debian),
# dotlockfile (liblockfile-bin), all from tests/setup/install-deps.sh.
#
# Usage: bash tests/bench/queue.sh [N]
#   ESMTP_BENCH_BEFORE=/path/to/older/esmtp  also times that build's flush
#     against this one, interleaved (A B B A ...), from the same snapshot;
#   WRAPPER=0  skips the (slow) esmtp-wrapper row.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-200}
RUNS=${RUNS:-5}

cargo build --release -q
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/esmtp

. tests/bench/lib.sh
bench_workdir esmtp-queue-bench
bench_sink 1000 -c >"$work/sink.log" 2>&1

H=$work/home
mkdir -p "$H" "$work/bin" "$work/snap"
printf 'hostname 127.0.0.1:%s\n' "$port" >"$H/.esmtprc"
# esmtp 1.2 rejects the queue keywords, so each side gets its own file.
printf 'hostname 127.0.0.1:%s\nqueue enabled\nqueue_dir %s\n' "$port" "$work/spool" >"$work/esmtprc"
chmod 600 "$H/.esmtprc" "$work/esmtprc"
cp /usr/share/doc/esmtp/examples/esmtp-wrapper "$work/bin/deliver"
chmod +x "$work/bin/deliver"

# The wrapper-format queue: N entries of 2 KB.
wq=$work/snap/.esmtp_queue
mkdir -p "$wq"
body=$(head -c 1900 /dev/zero | tr '\0' 'x' | fold -w 72)
for i in $(seq 1 "$N"); do
  d=$wq/$(printf 'b%07d' "$i")
  mkdir "$d"
  echo "-oi -f me@example.org you@example.net" >"$d/cmd"
  printf 'From: me@example.org\nTo: you@example.net\nSubject: bench %d\nDate: Wed, 25 Nov 2026 08:00:00 +0000\nMessage-ID: <bench%d@example.org>\n\n%s\n' \
    "$i" "$i" "$body" >"$d/mail"
done

cp "$(ls -d "$wq"/* | head -1)/mail" "$work/snap/one.eml"

# Our spool with the same messages: import the wrapper queue once with the
# smarthost unreachable (a closed port), then keep a copy.
printf 'hostname 127.0.0.1:9\nqueue enabled\nqueue_dir %s\n' "$work/spool" >"$work/esmtprc.down"
chmod 600 "$work/esmtprc.down"
cp -a "$wq" "$H/.esmtp_queue"
HOME=$H "$BIN" queue flush -C "$work/esmtprc.down" >/dev/null 2>&1 || true
queued=$(ls "$work/spool/msg" | grep -vc '\.' || true)
if [ "$queued" != "$N" ]; then
  echo "expected $N queued messages, found $queued" >&2
  exit 1
fi
# That attempt scheduled a retry; start from fresh, due entries instead.
rm -f "$work"/spool/msg/*.state
cp -a "$work/spool" "$work/snap/spool"
rm -rf "$H/.esmtp_queue"

wrapper=()
if [ "${WRAPPER:-1}" != 0 ]; then
  wrapper=(-n "esmtp-wrapper + esmtp 1.2 ($N msgs)"
    --prepare "rm -rf $H/.esmtp_queue && cp -a $wq $H/.esmtp_queue && sync"
    "HOME=$H $work/bin/deliver")
fi
hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$work/result.md" \
  "${wrapper[@]}" \
  -n "esmtp queue flush ($N msgs)" \
  --prepare "rm -rf $work/spool && cp -a $work/snap/spool $work/spool && sync" \
  "HOME=$H $BIN queue flush -C $work/esmtprc"

if [ -n "${ESMTP_BENCH_BEFORE:-}" ]; then
  # The same flush by both builds, interleaved, each from a fresh copy of
  # the snapshot (the copy is not timed).
  python3 - "$RUNS" "$work" "$H" "$BIN" "$ESMTP_BENCH_BEFORE" <<'PY'
import os, shutil, statistics, subprocess, sys, time
runs, work, home, new, old = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
cmds = [("esmtp (this tree)", new), ("esmtp (before)", old)]
env = dict(os.environ, HOME=home)
devnull = os.open("/dev/null", os.O_WRONLY)

def run(binary, argv, stdin=None):
    """Wall and CPU (user + system) seconds of one run; argv[0] names the mode."""
    actions = [(os.POSIX_SPAWN_DUP2, devnull, 1)]
    if stdin:
        actions.append((os.POSIX_SPAWN_OPEN, 0, stdin, os.O_RDONLY, 0))
    t = time.perf_counter()
    pid = os.posix_spawn(binary, argv, env, file_actions=actions)
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t
    if status != 0:
        sys.exit("%s %s failed (%d)" % (binary, argv, status))
    return wall, ru.ru_utime + ru.ru_stime

def table(title, times, n, fmt):
    base = statistics.median([w for w, _ in times["esmtp (before)"]])
    cbase = statistics.median([c for _, c in times["esmtp (before)"]])
    print("%-20s %10s %10s %8s %10s %8s   (interleaved, %d runs each)"
          % (title, "median ms", "min ms", "x before", "CPU ms", "x before", n))
    for name, _ in cmds:
        wall = [w for w, _ in times[name]]
        cpu = [c for _, c in times[name]]
        m, c = statistics.median(wall), statistics.median(cpu)
        print(("%-20s " + fmt + " " + fmt + " %8.2f " + fmt + " %8.2f")
              % (name, m * 1e3, min(wall) * 1e3, m / base, c * 1e3, c / cbase))

# The same flush by both builds, each from a fresh copy of the snapshot
# (the copy is not timed).
times = {name: [] for name, _ in cmds}
for i in range(runs + 1):
    for name, binary in (cmds if i % 2 == 0 else list(reversed(cmds))):
        shutil.rmtree(work + "/spool", ignore_errors=True)
        subprocess.run(["cp", "-a", work + "/snap/spool", work + "/spool"], check=True)
        os.sync()
        r = run(binary, ["esmtp", "queue", "flush", "-C", work + "/esmtprc"])
        if any("." not in n for n in os.listdir(work + "/spool/msg")):
            sys.exit("%s: messages left queued" % name)
        if i > 0:  # the first round warms up
            times[name].append(r)
table("flush", times, runs, "%10.1f")

# One 2 KB submission with the queue on and the server up: stored
# (fsynced), delivered, removed.
times = {name: [] for name, _ in cmds}
for i in range(10 * runs + 1):
    for name, binary in (cmds if i % 2 == 0 else list(reversed(cmds))):
        r = run(binary, ["sendmail", "-C", work + "/esmtprc", "-f", "me@example.org",
                         "you@example.net"], work + "/snap/one.eml")
        if i > 0:
            times[name].append(r)
table("submit, queue on", times, 10 * runs, "%10.2f")
PY
fi

# Both delivered everything.
left=$(ls "$work/spool/msg" | grep -vc '\.' || true)
[ "$left" = 0 ] || { echo "esmtp left $left messages queued" >&2; exit 1; }
[ ! -d "$H/.esmtp_queue" ] || [ -z "$(ls "$H/.esmtp_queue")" ] ||
  { echo "the wrapper left messages queued" >&2; exit 1; }
cat "$work/result.md"
