#!/usr/bin/env bash
# Installs the real programs the tests run against (idempotent):
#  - Debian's esmtp 1.2 (differential tests, benchmarks)
#  - Postfix for smtp-sink (benchmarks), installed with "No configuration"
#    so no daemon runs
#  - Exim (exim4-daemon-heavy) unpacked, not installed (it conflicts with
#    Postfix), plus the libraries it links and its Debian-exim user
#  - liblockfile-bin (dotlockfile, needed by the esmtp-wrapper script in the
#    queue benchmark)
#  - procmail and maildrop (real MDAs), openssl (test CA), groff/mandoc
#    (man page lint)
#  - time (/usr/bin/time: peak RSS of the binary against flooding servers)
#    and iproute2 (`ip netns`: servers on another host for the credential
#    tests)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
EXIM_ROOT=${ESMTP_TEST_EXIM_ROOT:-/opt/esmtp-test/exim}

need=()
for p in esmtp postfix procmail maildrop msmtp openssl groff mandoc hyperfine liblockfile-bin \
         mutt bsd-mailx git git-email time iproute2 \
         libmariadb3 libspf2-2 libgnutls-dane0 libperl5.36 libpq5 libsasl2-2 \
         libldap-2.5-0 libgnutls30 libidn12 libpcre2-8-0 libdb5.3 libnsl2; do
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
