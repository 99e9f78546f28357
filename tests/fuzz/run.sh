#!/usr/bin/env bash
# Builds the fuzz targets (libFuzzer, stable Rust) and runs each for a
# bounded time; any crash, hang (-timeout) or memory blow-up (-rss_limit_mb)
# fails the run, with the input saved under tests/fuzz/artifacts/new/.
#
#   bash tests/fuzz/run.sh                 # every target, FUZZ_SECONDS each
#   FUZZ_SECONDS=600 bash tests/fuzz/run.sh reply headers
#   FUZZ_MERGE=1 bash tests/fuzz/run.sh    # then keep what was found, minimised
#
# FUZZ_SECONDS (default 20): time per target. FUZZ_JOBS (default 2): targets
# fuzzed at once. FUZZ_MERGE=1: merge the new inputs into corpus/<target>/
# (libFuzzer -merge=1 keeps the seeds and only inputs that add coverage).
#
# Why libFuzzer this way: cargo-fuzz needs a nightly compiler (-Z flags for
# its sanitizers), and only stable Rust is available. libfuzzer-sys builds
# libFuzzer from source with the C++ compiler, and the coverage
# instrumentation it needs is stable rustc flags (-C passes=sancov-module
# and LLVM's sanitizer-coverage options, what cargo-fuzz passes with
# `--sanitizer none`): no tool to install, nothing but crates.io. Without
# AddressSanitizer, memory errors in safe Rust are still bounds-checked
# panics, and overflow checks and debug assertions are on.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${FUZZ_SECONDS:-20}
jobs=${FUZZ_JOBS:-2}
if [ $# -gt 0 ]; then
  targets=("$@")
else
  targets=()
  for f in fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi

triple=$(rustc -vV | sed -n 's/^host: //p')
export RUSTFLAGS="-C passes=sancov-module \
 -C llvm-args=-sanitizer-coverage-level=4 \
 -C llvm-args=-sanitizer-coverage-inline-8bit-counters \
 -C llvm-args=-sanitizer-coverage-pc-table \
 -C llvm-args=-sanitizer-coverage-trace-compares \
 --cfg fuzzing"
# --target: build scripts and proc macros are built without instrumentation.
bins=()
for t in "${targets[@]}"; do bins+=(--bin "$t"); done
cargo build --release --locked --target "$triple" "${bins[@]}"
bindir=${CARGO_TARGET_DIR:-target}/$triple/release

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p artifacts/new

# One target: new inputs go to $work/<target> (the kept corpus is only
# read); a failing input is written to artifacts/new/<target>-*.
fuzz_one() {
  t=$1
  mkdir -p "$work/$t" "corpus/$t"
  if "$bindir/$t" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=512 \
       -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="artifacts/new/$t-" \
       "$work/$t" "corpus/$t" >"$work/$t.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t.log")
    echo "fuzz $t: ok, ${runs:-?} inputs in ${seconds} s"
  else
    echo "fuzz $t: FAILED (input saved in tests/fuzz/artifacts/new/)"
    grep -v '^#\|^INFO\|^stat::\|Uses:' "$work/$t.log" | tail -40
    return 1
  fi
}
export -f fuzz_one
export bindir seconds work

status=0
printf '%s\n' "${targets[@]}" | xargs -P "$jobs" -I{} bash -c 'fuzz_one {}' || status=1

if [ "${FUZZ_MERGE:-0}" = 1 ]; then
  # The seeds stay; of the rest (kept corpus and new finds) only inputs
  # that reach an edge nothing before reached (-use_counters=0: hit
  # counts do not count), so the corpus stays small.
  for t in "${targets[@]}"; do
    merged=$work/merged-$t
    mkdir -p "$merged"
    cp corpus/"$t"/seed-* "$merged"/ 2>/dev/null || true
    if "$bindir/$t" -merge=1 -use_counters=0 -timeout=5 -rss_limit_mb=512 \
         -max_len=65536 "$merged" "corpus/$t" "$work/$t" >"$work/$t.merge.log" 2>&1; then
      find "corpus/$t" -type f ! -name 'seed-*' -delete
      cp -n "$merged"/* "corpus/$t"/
      echo "corpus/$t: $(ls "corpus/$t" | wc -l) files"
    else
      echo "corpus/$t: merge failed"; tail -5 "$work/$t.merge.log"; status=1
    fi
  done
fi
exit $status
