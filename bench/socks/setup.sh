#!/usr/bin/env bash
# Installs, idempotently, the Debian packages the SOCKS benchmark needs: the three reference proxies (OpenSSH
# server + client for `ssh -D`, shadowsocks-libev for ss-local/ss-server, microsocks) and curl.
# Uses sudo only when not root. Services are not enabled or started by this script: run.sh starts its own
# processes on free loopback ports and stops them by PID.
set -euo pipefail

# package -> a command it provides (presence of the command means the package is installed)
declare -A provides=(
  [openssh-server]=/usr/sbin/sshd
  [openssh-client]=ssh
  [shadowsocks-libev]=ss-server
  [microsocks]=microsocks
  [curl]=curl
  [procps]=pgrep
)

need=()
for pkg in "${!provides[@]}"; do
  if ! command -v "${provides[$pkg]}" >/dev/null 2>&1; then
    need+=("$pkg")
  fi
done

if [ ${#need[@]} -eq 0 ]; then
  echo "setup: all benchmark packages present"
  exit 0
fi

SUDO=""
# other builds on the machine may hold the dpkg lock: the apt-get calls below wait for it (up to 10 minutes)
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

echo "setup: installing ${need[*]} from Debian packages"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
for pkg in "${need[@]}"; do
  cand=$(apt-cache policy "$pkg" | awk '/Candidate:/ {print $2}')
  if [ -z "$cand" ] || [ "$cand" = "(none)" ]; then
    echo "setup: package $pkg has no installation candidate in the configured Debian sources" >&2
    exit 1
  fi
  echo "setup:   $pkg $cand"
done
DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
for pkg in "${need[@]}"; do
  if ! command -v "${provides[$pkg]}" >/dev/null 2>&1; then
    echo "setup: $pkg installed but ${provides[$pkg]} is still missing" >&2
    exit 1
  fi
done
echo "setup: done"
