#!/usr/bin/env bash
# Installs what the test suite needs, idempotently: Debian packages (curl, redis-server, iproute2, iptables, python3) and the npm packages of the
# js-libp2p interop peer (from the committed lock file).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v redis-server >/dev/null 2>&1 || need_apt+=(redis-server)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
command -v iptables >/dev/null 2>&1 || need_apt+=(iptables)   # netns relay tests (NAT)
command -v python3 >/dev/null 2>&1 || need_apt+=(python3)     # netns relay tests (HTTP origin)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} from Debian packages"
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ -f interop/js/package.json ]; then
  scripts/setup-interop.sh
fi
