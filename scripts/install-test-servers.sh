#!/usr/bin/env bash
# Installs the Debian packages the test harness starts: Dovecot (IMAP), Redis (BullMQ) and Chromium
# (browser tests). Does nothing when they are already there. Needs root (or sudo) to install.
set -euo pipefail

need=()
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
[ -x /usr/bin/redis-server ] || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
# A CJK font, so Chinese renders in browser tests and screenshots instead of boxes.
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need+=(fonts-wqy-microhei)

if [ ${#need[@]} -eq 0 ]; then
  echo "test servers: dovecot, redis-server, chromium and a CJK font are installed"
  exit 0
fi

echo "test servers: installing ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "test servers: cannot install ${need[*]} without root; install them, or run as root" >&2
    # Locally the suites that need them are skipped loudly; in CI the harness fails the run.
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# The packaged services must not start on their own: the harness runs its own instances.
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "test servers: installed ${need[*]}"
