#!/usr/bin/env bash
# Whole-process benchmark: `esmtp check` of a generated 10 000-identity file.
# Target: under 100 ms. Needs hyperfine (tests/setup/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release --quiet
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for i in $(seq 0 9999); do
  printf 'identity user%d@example.org\n  hostname smtp%d.example.org:587\n  username user%d\n  password "secret %d"\n  starttls required\n' "$i" "$i" "$i" "$i"
done > "$tmp/ten-thousand.esmtprc"
cp tests/fixtures/valid/multi-identity.esmtprc "$tmp/typical.esmtprc"
hyperfine -N -w 3 \
  "target/release/esmtp check $tmp/ten-thousand.esmtprc" \
  "target/release/esmtp check $tmp/typical.esmtprc"
