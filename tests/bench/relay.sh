#!/usr/bin/env bash
# Whole-process benchmark of the SMTP relay (issue 9), side by side in one
# run: our relay, Debian's esmtp 1.2 and msmtp, each relaying the same
# message to Postfix's smtp-sink on loopback.
#
#  1. a 2 KB message: hyperfine, median wall time (target: ours <= 0.6x the
#     original esmtp);
#  2. a 21 MB message: hyperfine wall time (target: ours <= the original's)
#     and peak RSS from /usr/bin/time -v (target: within 2 MB of the 2 KB
#     case: the body streams); standard input a file (sent as it is read)
#     and, interleaved only, a pipe (spooled first);
#  3. many messages over one connection (transport::Session): messages/s.
#
# Ours is timed twice: the real binary (`esmtp -C RC -f SENDER RCPT`, built
# with --release, or ESMTP_BENCH_BIN) and the transport alone: the driver
# tests/bench/relay.rs (example `relay`), which calls
# esmtp::transport::relay on standard input without the front end's plan
# load, header scan and spool. The Session throughput uses the driver.
#
#   bash tests/bench/relay.sh          # needs hyperfine, smtp-sink, esmtp, msmtp
#   ESMTP_BENCH_BEFORE=/path/to/older/esmtp bash tests/bench/relay.sh
#                                      # adds an older build to the interleaved
#                                      # runs and the RSS table (before/after)
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${RUNS:-200}
cargo build --release --bin esmtp --example relay --example relay_floor >/dev/null 2>&1
. tests/bench/lib.sh
bench_workdir esmtp-relay-bench
bench_sink 256

# The 2 KB message: headers plus 8-bit-free text lines.
{
  printf 'From: Bench Sender <sender@example.org>\r\nTo: rcpt@example.net\r\n'
  printf 'Subject: relay benchmark\r\nDate: Wed, 25 Nov 2026 08:00:00 +0000\r\n'
  printf 'Message-ID: <bench@example.org>\r\n\r\n'
  for i in $(seq 1 24); do
    printf 'Line %02d of the benchmark body, long enough to be a normal line.\r\n' "$i"
  done
} > "$work/small.eml"
# The 21 MB message: the same headers and 8-bit text lines.
{
  head -c 200 "$work/small.eml" | sed -n '1,6p'
  python3 -c '
import sys
line = "Gr\u00fc\u00dfe aus K\u00f6ln \u2014 a line of a big message, with 8-bit text.\r\n".encode()
n = 21 * 1024 * 1024 // len(line)
sys.stdout.buffer.write(line * n)
'
} > "$work/big.eml"
ls -l "$work/small.eml" "$work/big.eml" | awk '{print $5, $9}'

# A home of its own: nothing from the real ~ (caches, ~/.authenticate).
export HOME="$work/home"
mkdir -p "$HOME"
printf 'hostname 127.0.0.1:%s\n' "$port" > "$work/esmtprc"
chmod 600 "$work/esmtprc"

bin=${ESMTP_BENCH_BIN:-target/release/esmtp}
ours="$bin -C $work/esmtprc -f sender@example.org rcpt@example.net"
label="esmtp (new)"
alone="target/release/examples/relay 127.0.0.1 $port sender@example.org rcpt@example.net"
alabel="transport alone"
relay_bin=target/release/examples/relay
floor="target/release/examples/relay_floor 127.0.0.1:$port sender@example.org rcpt@example.net"
orig="/usr/bin/esmtp -C $work/esmtprc -f sender@example.org rcpt@example.net"
before=${ESMTP_BENCH_BEFORE:-}
bcmd="$before -C $work/esmtprc -f sender@example.org rcpt@example.net"
msmtp="/usr/bin/msmtp --file=/dev/null --host=127.0.0.1 --port=$port --auth=off --tls=off --from=sender@example.org rcpt@example.net"

# Each must succeed once before timing.
for cmd in "$ours" "$alone" "$floor" "$orig" "$msmtp"; do
  sh -c "exec $cmd < $work/small.eml" || { echo "failed: $cmd" >&2; exit 1; }
done

# Median wall time of each command and its ratio to the original esmtp.
medians() {
  python3 - "$1" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
orig = next(r["median"] for r in res if r["command"].startswith("esmtp 1.2"))
print("%-22s %12s %12s %10s" % ("program", "median ms", "min ms", "x original"))
for r in res:
    print("%-22s %12.2f %12.2f %10.2f" % (r["command"], r["median"] * 1e3, r["min"] * 1e3, r["median"] / orig))
PY
}

# timed NAME WARMUP RUNS: hyperfine on $work/NAME.eml for every program,
# then the medians.
timed() {
  hyperfine -N --warmup "$2" --runs "$3" --export-json "$work/$1.json" \
    -n "$label" "sh -c 'exec $ours < $work/$1.eml'" \
    -n "$alabel" "sh -c 'exec $alone < $work/$1.eml'" \
    -n "esmtp 1.2 (Debian)" "sh -c 'exec $orig < $work/$1.eml'" \
    -n "msmtp" "sh -c 'exec $msmtp < $work/$1.eml'" 2>&1 | grep -v '^ *$' || true
  medians "$work/$1.json"
}

echo
echo "== 2 KB message, $runs runs each"
timed small 20 "$runs"

# The machine is shared: hyperfine runs one command's runs after the
# other's, so load drift lands on one of them. Interleaving the runs
# (A B C A B C ...) gives the ratio that drift cannot skew.
#
# interleaved MSG RUNS file|pipe [floor]: every program on MSG, stdin a
# file (`exec CMD < MSG`, as hyperfine and mutt give it) or a pipe (`cat
# MSG | CMD`, as git send-email or cron give it: the message is spooled
# before the session). Reference rows: "sh alone" is the harness itself
# (`sh -c 'exec /bin/true < MSG'`, in every row; the "x above sh" column
# divides what each program adds to it by what the original adds), and,
# with `floor`, tests/bench/relay_floor.rs: the least a Rust process can
# do to relay a small message (std only, no checks; it reads the whole
# message into memory first, so it is no floor for a big one).
interleaved() {
  local extra=()
  [ -n "$before" ] && extra+=("esmtp (before)|$bcmd")
  [ "${4:-}" = floor ] && extra+=("floor (std only)|$floor")
  python3 - "$1" "$2" "$3" "$label|$ours" "${extra[@]}" "$alabel|$alone" \
    "esmtp 1.2 (Debian)|$orig" "msmtp|$msmtp" "sh alone|/bin/true" <<'PY'
import os, statistics, sys, time
msg, runs, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
cmds = [a.split("|", 1) for a in sys.argv[4:]]
times = {name: [] for name, _ in cmds}
devnull = os.open("/dev/null", os.O_WRONLY)
for i in range(runs):
    order = cmds if i % 2 == 0 else list(reversed(cmds))
    for name, cmd in order:
        # posix_spawn (vfork-like) keeps the harness's own cost small and
        # equal for everyone.
        if mode == "pipe":
            line = "cat %s 2>/dev/null | %s" % (msg, cmd)
        else:
            line = "exec %s < %s" % (cmd, msg)
        t = time.perf_counter()
        pid = os.posix_spawn("/bin/sh", ["sh", "-c", line], os.environ,
                             file_actions=[(os.POSIX_SPAWN_DUP2, devnull, 1)])
        _, status = os.waitpid(pid, 0)
        times[name].append(time.perf_counter() - t)
        if status != 0:
            sys.exit("failed (%d): %s" % (status, line))
orig = statistics.median(times["esmtp 1.2 (Debian)"])
sh = statistics.median(times["sh alone"])
print("%-22s %12s %10s %12s   (interleaved, %d runs each, stdin: %s)"
      % ("program", "median ms", "x original", "x above sh", runs, mode))
for name, _ in cmds:
    m = statistics.median(times[name])
    above = (m - sh) / (orig - sh) if name != "sh alone" else 0.0
    print("%-22s %12.2f %10.2f %12.2f" % (name, m * 1e3, m / orig, above))
PY
}
echo
echo "== 2 KB message, interleaved"
interleaved "$work/small.eml" "$runs" file floor

echo
echo "== 21 MB message, ${BIG_RUNS:-10} runs each"
timed big 2 "${BIG_RUNS:-10}"

echo
echo "== 21 MB message, interleaved"
interleaved "$work/big.eml" "${BIG_RUNS:-10}" file

echo
echo "== 21 MB message through a pipe, interleaved"
interleaved "$work/big.eml" "${BIG_RUNS:-10}" pipe

echo
echo "== peak RSS (/usr/bin/time -v), KB"
rss() { /usr/bin/time -v sh -c "exec $1 < $2" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}'; }
printf '%-22s %10s %10s\n' program 2KB 21MB
pairs=("$label|$ours")
[ -n "$before" ] && pairs+=("esmtp (before)|$bcmd")
for pair in "${pairs[@]}" "$alabel|$alone" "esmtp 1.2 (Debian)|$orig" "msmtp|$msmtp"; do
  name=${pair%%|*}
  cmd=${pair#*|}
  printf '%-22s %10s %10s\n' "$name" "$(rss "$cmd" "$work/small.eml")" "$(rss "$cmd" "$work/big.eml")"
done

echo
echo "== many messages over one connection (transport::Session, 2 KB each)"
for n in 1000 5000; do
  "$relay_bin" -n "$n" 127.0.0.1 "$port" sender@example.org rcpt@example.net < "$work/small.eml"
done
