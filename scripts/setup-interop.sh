#!/usr/bin/env bash
# Installs the js-libp2p interop peer's dependencies (interop/js) from its committed lock file.
# Idempotent: runs `npm ci` only when node_modules is missing or was installed from another
# package-lock.json. Safe to call from several test processes at once (flock).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
js_dir="$repo_root/interop/js"
stamp="$js_dir/node_modules/.bethrou-lock-sha256"

fail() {
  echo "setup-interop: $*" >&2
  exit 1
}

command -v node >/dev/null 2>&1 || fail "node is not installed or not on PATH (need Node.js >= 20; e.g. apt-get install nodejs npm)"
command -v npm >/dev/null 2>&1 || fail "npm is not installed or not on PATH (e.g. apt-get install npm)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  fail "Node.js $(node --version) is too old; need >= 20"
fi
[ -f "$js_dir/package-lock.json" ] || fail "missing $js_dir/package-lock.json"

want="$(sha256sum "$js_dir/package-lock.json" | cut -d' ' -f1)"
is_current() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -d "$js_dir/node_modules/libp2p" ]
}

if is_current; then
  exit 0
fi

exec 9>"$js_dir/.setup.lock"
if command -v flock >/dev/null 2>&1; then
  flock 9
fi
# another process may have finished the install while we waited for the lock
if is_current; then
  exit 0
fi

echo "setup-interop: installing interop/js dependencies (npm ci)" >&2
cd "$js_dir"
# engine warnings from nanoid/p-retry on Node 20 are expected and harmless
if ! npm ci --no-audit --no-fund --loglevel=error >&2; then
  fail "npm ci failed in $js_dir"
fi
echo "$want" > "$stamp"
echo "setup-interop: done" >&2
