#!/usr/bin/env bash
# Whole-process benchmark of the front end's local delivery: a 64 MiB
# message (LF line ends, as a Unix mail program writes it) through the
# binary to the MDA, beside Debian's esmtp 1.2 on the same input, with
# peak RSS. The MDA is `cat > /dev/null`, so the figure is esmtp's own
# cost: reading standard input, the header scan, the spool and the copy
# into the MDA's pipe. A 2 KB message through the MDA is timed too.
#
#   bash tests/bench/frontend.sh        # needs hyperfine and /usr/bin/esmtp
#   RUNS=20 ESMTP_BENCH_BIN=path/to/esmtp bash tests/bench/frontend.sh
#   ESMTP_BENCH_BEFORE=path/to/older/esmtp ...   # adds an older build
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=${RUNS:-10}
bin=${ESMTP_BENCH_BIN:-target/release/esmtp}
if [ -z "${ESMTP_BENCH_BIN:-}" ]; then
  cargo build --release --bin esmtp >/dev/null 2>&1
fi
work=$(mktemp -d /tmp/esmtp-frontend-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export HOME="$work/home"
mkdir -p "$HOME"
printf 'mda "cat > /dev/null"\n' > "$work/esmtprc"
chmod 600 "$work/esmtprc"

python3 - "$work" <<'PY'
import sys
work = sys.argv[1]
head = b"From: Bench <sender@example.org>\nTo: bob\nSubject: big\nDate: Wed, 25 Nov 2026 08:00:00 +0000\nMessage-ID: <big@example.org>\n\n"
line = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-\n"
open(work + "/big.eml", "wb").write(head + line * ((64 << 20) // len(line)))
open(work + "/small.eml", "wb").write(head + b"A line of a small message body, long enough to be normal.\n" * 30)
PY
ls -l "$work/big.eml" "$work/small.eml" | awk '{print $5, $9}'

ours="$bin -C $work/esmtprc -f sender@example.org bob"
orig="/usr/bin/esmtp -C $work/esmtprc -f sender@example.org bob"
before=${ESMTP_BENCH_BEFORE:-}
bcmd="$before -C $work/esmtprc -f sender@example.org bob"
for cmd in "$ours" "$orig"; do
  sh -c "exec $cmd < $work/small.eml" || { echo "failed: $cmd" >&2; exit 1; }
done

for msg in small big; do
  r=$runs
  [ "$msg" = small ] && r=$((runs * 20))
  echo
  echo "== $msg message to the MDA, $r runs each"
  extra=()
  [ -n "$before" ] && extra=(-n "esmtp (before)" "sh -c 'exec $bcmd < $work/$msg.eml'")
  hyperfine -N --warmup 2 --runs "$r" --export-json "$work/$msg.json" \
    -n "esmtp (new)" "sh -c 'exec $ours < $work/$msg.eml'" "${extra[@]}" \
    -n "esmtp 1.2 (Debian)" "sh -c 'exec $orig < $work/$msg.eml'" 2>&1 | grep -v '^ *$' || true
  python3 - "$work/$msg.json" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
orig = next(r["median"] for r in res if r["command"].startswith("esmtp 1.2"))
for r in res:
    print("%-22s median %8.2f ms  min %8.2f ms  %5.2fx original" % (r["command"], r["median"] * 1e3, r["min"] * 1e3, r["median"] / orig))
PY
done

echo
echo "== peak RSS (/usr/bin/time -v), KB"
rss() { /usr/bin/time -v sh -c "exec $1 < $2" 2>&1 >/dev/null | awk -F': ' '/Maximum resident/ {print $2}'; }
printf '%-22s %10s %10s\n' program 2KB 64MB
printf '%-22s %10s %10s\n' "esmtp (new)" "$(rss "$ours" "$work/small.eml")" "$(rss "$ours" "$work/big.eml")"
[ -n "$before" ] && printf '%-22s %10s %10s\n' "esmtp (before)" "$(rss "$bcmd" "$work/small.eml")" "$(rss "$bcmd" "$work/big.eml")"
printf '%-22s %10s %10s\n' "esmtp 1.2 (Debian)" "$(rss "$orig" "$work/small.eml")" "$(rss "$orig" "$work/big.eml")"
