#!/usr/bin/env bash
# Whole-process benchmark of the compiled-plan cache (issue 5).
#
# Times a submission up to the point of connecting (find the configuration,
# load the plan, pick the identity) with and without the cache, for a
# 10-line configuration and a 10 000-identity one. By default it runs the
# example driver tests/bench/cache_route.rs; ESMTP_BENCH_BIN=path/to/esmtp
# times `esmtp route -C FILE -f SENDER RCPT` instead (the real front end; the
# file must be named esmtp, subcommands exist only under that name).
#
#   bash tests/bench/cache.sh            # needs hyperfine (valgrind, strace
#                                        # for the instruction counts)
#   cargo build --release && ESMTP_BENCH_BIN=$PWD/target/release/esmtp \
#     bash tests/bench/cache.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

work=$(mktemp -d /tmp/esmtp-cache-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"

# 10 lines, two identities.
cp tests/bench/small.rc "$work/small.rc"
# 10 000 identities, 5 lines each.
awk 'BEGIN {
  for (i = 0; i < 10000; i++) {
    printf "identity user%d@example%d.org\n  hostname smtp%d.example.org:587\n", i, i % 97, i
    printf "  username user%d\n  password pw%dxyz\n  starttls required\n", i, i
  }
}' > "$work/big.rc"
chmod 600 "$work/small.rc" "$work/big.rc"
wc -l -c "$work/small.rc" "$work/big.rc"

small_sender=me@example.org
big_sender=user7777@example17.org

if [ -n "${ESMTP_BENCH_BIN:-}" ]; then
  bin=$ESMTP_BENCH_BIN
  run() { echo "$bin route -C $1 -f $2 rcpt@example.com"; }
  # Without a usable cache directory every run compiles.
  nocache() { run "$@"; }
else
  cargo build --release --example cache_route >/dev/null 2>&1
  bin=target/release/examples/cache_route
  run() { echo "$bin -C $1 -f $2"; }
  # The baseline: compile without any cache code.
  nocache() { echo "$bin -C $1 -f $2 --no-cache"; }
fi

export HOME="$work/home"
mkdir -p "$HOME"
# A cache directory that can never exist: every run compiles.
: > "$work/no-cache"

# Fill the caches, then let the sources settle (a file changed less than
# 3 s before it was read is verified by its hash, not its stat stamp) and
# load once more so the caches are re-stamped.
export XDG_CACHE_HOME="$work/cache"
$(run "$work/small.rc" $small_sender) >/dev/null
$(run "$work/big.rc" $big_sender) >/dev/null
sleep 4
$(run "$work/small.rc" $small_sender)
$(run "$work/big.rc" $big_sender)
ls -l "$work/cache/esmtp"

runs=${ESMTP_BENCH_RUNS:-300}
# Interleave the groups a few times: the machine is shared and noisy.
for round in 1 2 3; do
  XDG_CACHE_HOME="$work/cache" hyperfine -N --warmup 20 --runs "$runs" \
    -n "10-line, cached" "$(run "$work/small.rc" $small_sender)" \
    -n "10000-identity, cached" "$(run "$work/big.rc" $big_sender)" \
    --export-json "$work/cached-$round.json" >/dev/null
  if [ -z "${ESMTP_BENCH_BIN:-}" ]; then
    # The whole plan (cache::load_plan) instead of the sender's selection.
    XDG_CACHE_HOME="$work/cache" hyperfine -N --warmup 5 --runs $((runs / 5)) \
      -n "10000-identity, cached, whole plan" "$(run "$work/big.rc" $big_sender) --full" \
      --export-json "$work/whole-$round.json" >/dev/null
  fi
  XDG_CACHE_HOME="$work/no-cache/x" hyperfine -N --warmup 20 --runs "$runs" \
    -n "10-line, no cache" "$(nocache "$work/small.rc" $small_sender)" \
    --export-json "$work/small-uncached-$round.json" >/dev/null
  XDG_CACHE_HOME="$work/no-cache/x" hyperfine -N --warmup 3 --runs $((runs / 10)) \
    -n "10000-identity, no cache" "$(nocache "$work/big.rc" $big_sender)" \
    --export-json "$work/big-uncached-$round.json" >/dev/null
done
python3 - "$work"/*.json <<'PY'
import json, statistics, sys
times = {}
for f in sys.argv[1:]:
    for r in json.load(open(f))["results"]:
        times.setdefault(r["command"], []).extend(r["times"])
print(f"{'':36} {'median':>9} {'min':>9} {'p90':>9}   runs")
for name in ["10-line, no cache", "10-line, cached", "10000-identity, cached",
             "10000-identity, cached, whole plan", "10000-identity, no cache"]:
    if name not in times:
        continue
    t = sorted(times[name])
    print(f"{name:36} {statistics.median(t)*1e3:8.3f}ms {t[0]*1e3:8.3f}ms {t[int(len(t)*.9)]*1e3:8.3f}ms   {len(t)}")
m = {k: statistics.median(v) for k, v in times.items()}
print(f"10000-identity cached / 10-line cached: {m['10000-identity, cached'] / m['10-line, cached']:.3f} (target <= 1.2)")
print(f"10-line cached / 10-line uncached:      {m['10-line, cached'] / m['10-line, no cache']:.3f} (target <= 1.0)")
PY

# Noise-free complement (the machine is shared): instructions executed per
# invocation (valgrind's callgrind; SHA-NI is hidden from valgrind so SHA-256
# counts in software) and system calls made.
if command -v valgrind >/dev/null && command -v strace >/dev/null; then
  export XDG_CACHE_HOME="$work/cache"
  $(run "$work/small.rc" $small_sender) >/dev/null   # the cache is fresh
  count() {
    local ir sc
    ir=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null |
         sed -n 's/.*Collected : //p')
    sc=$(strace -f -c -o /dev/stdout "$@" 2>/dev/null | awk '/total$/ {print $(NF-2)}')
    echo "$ir instructions, $sc system calls"
  }
  echo "10-line, cached:          $(count $(run "$work/small.rc" $small_sender))"
  echo "10000-identity, cached:   $(count $(run "$work/big.rc" $big_sender))"
  XDG_CACHE_HOME="$work/no-cache/x"
  echo "10-line, no cache:        $(count $(nocache "$work/small.rc" $small_sender))"
fi
