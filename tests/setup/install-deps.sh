#!/usr/bin/env bash
# Installs the real programs the tests run against (idempotent):
#  - Debian's esmtp 1.2 (differential tests, benchmarks)
#  - Postfix for smtp-sink (benchmarks), installed with "No configuration"
#    so no daemon runs
#  - Exim (exim4-daemon-heavy) unpacked, not installed (it conflicts with
#    Postfix), plus the libraries it links and its Debian-exim user
#  - liblockfile-bin (dotlockfile, needed by the esmtp-wrapper script in the
#    queue benchmark)
#  - libsasl2-modules and sasl2-bin (Cyrus SASL's SCRAM plugin behind
#    Exim's cyrus_sasl authenticator, and saslpasswd2 for its sasldb)
#  - procmail and maildrop (real MDAs), openssl (test CA), groff/mandoc
#    (man page lint)
#  - time (/usr/bin/time: peak RSS of the binary against flooding servers,
#    of a passwordeval printing 300 MB and of compiling hostile 4 MiB
#    configurations) and iproute2 (`ip netns`: servers on another host for
#    the credential tests)
#  - packaging (tests/pkg_*.rs): debootstrap (a minimal Debian to install
#    the package into), lintian, dpkg-dev (cargo-deb's dependency lookup),
#    systemd (systemd-analyze verify; no daemon is started), cargo-deb from
#    crates.io, and pre-commit plus Python's jsonschema (the SARIF schema
#    check) from PyPI in a virtualenv under /opt/esmtp-test/venv
#  - g++ (libFuzzer, built by the fuzz targets' libfuzzer-sys)
#  - rsyslog (the delivery log's syslog tests start their own rsyslogd on
#    a socket of their own; the system's syslog is not used)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
EXIM_ROOT=${ESMTP_TEST_EXIM_ROOT:-/opt/esmtp-test/exim}

need=()
for p in esmtp postfix procmail maildrop msmtp openssl groff mandoc hyperfine liblockfile-bin g++ \
         mutt bsd-mailx git git-email time iproute2 rsyslog \
         debootstrap lintian dpkg-dev systemd python3-venv \
         libmariadb3 libspf2-2 libgnutls-dane0 libperl5.36 libpq5 libsasl2-2 \
         libldap-2.5-0 libgnutls30 libidn12 libpcre2-8-0 libdb5.3 libnsl2 \
         libsasl2-modules sasl2-bin; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ ! -x "$EXIM_ROOT/usr/sbin/exim4" ]; then
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  (cd "$tmp" && apt-get download -qq exim4-daemon-heavy >/dev/null 2>&1)
  mkdir -p "$EXIM_ROOT"
  dpkg -x "$tmp"/exim4-daemon-heavy_*.deb "$EXIM_ROOT"
  rm -rf "$tmp"
fi
chmod 755 /opt/esmtp-test "$EXIM_ROOT" 2>/dev/null || true
getent group Debian-exim >/dev/null || groupadd --system Debian-exim
id Debian-exim >/dev/null 2>&1 || useradd --system --gid Debian-exim --no-create-home \
  --home-dir /var/spool/exim4 --shell /usr/sbin/nologin Debian-exim
# A missing library shows here rather than as a mysterious test failure.
if ldd "$EXIM_ROOT/usr/sbin/exim4" | grep -q 'not found'; then
  ldd "$EXIM_ROOT/usr/sbin/exim4" | grep 'not found' >&2
  exit 1
fi

# cargo-deb builds the .deb from Cargo.toml's [package.metadata.deb].
CARGO_DEB_VERSION=3.8.0
if ! cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
  cargo install --locked --quiet cargo-deb --version "$CARGO_DEB_VERSION"
fi

# pre-commit (the dotfiles hook test) and jsonschema (SARIF validation),
# pinned, in their own virtualenv: Debian's Python refuses a system-wide pip.
VENV=${ESMTP_TEST_VENV:-/opt/esmtp-test/venv}
if ! "$VENV/bin/pre-commit" --version 2>/dev/null | grep -qF 4.7.0 ||
   ! "$VENV/bin/python" -c 'import jsonschema, rfc3986_validator' 2>/dev/null; then
  /usr/bin/python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check \
    pre-commit==4.7.0 'jsonschema[format-nongpl]==4.26.0'
fi

# The published SARIF 2.1.0 JSON schema (tests/it/config/sarif.rs), as the
# serde-sarif crate ships it, fetched through cargo from crates.io: a copy
# of the standard's schema, not committed here.
SARIF_SCHEMA=${ESMTP_TEST_SARIF_SCHEMA:-/opt/esmtp-test/sarif-schema-2.1.0.json}
if [ ! -s "$SARIF_SCHEMA" ]; then
  tmp=$(mktemp -d)
  mkdir -p "$tmp/src" "$(dirname "$SARIF_SCHEMA")"
  printf '[package]\nname = "sarif-schema-fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\nserde-sarif = "=0.8.0"\n' > "$tmp/Cargo.toml"
  : > "$tmp/src/lib.rs"
  (cd "$tmp" && cargo fetch --quiet)
  src=$(cd "$tmp" && cargo metadata --format-version 1 --quiet |
        python3 -c 'import json,sys; m=json.load(sys.stdin); print(next(p["manifest_path"] for p in m["packages"] if p["name"]=="serde-sarif"))')
  cp "$(dirname "$src")/src/schema.json" "$SARIF_SCHEMA"
  rm -rf "$tmp"
fi
