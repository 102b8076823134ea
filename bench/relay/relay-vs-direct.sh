#!/usr/bin/env bash
# Relayed versus direct through the full SOCKS path, on loopback, with the Release CLI:
#   curl --socks5-hostname -> bethrou client -> [direct | bethrou relay] -> bethrou exit node -> HTTP origin (python3)
# Prints time to first byte (curl time_starttransfer: SOCKS handshake + stream open + exit's TCP connect + HTTP
# response start) and throughput for a small and a large file, per path, over several runs (median and range).
# Usage: bench/relay/relay-vs-direct.sh [--mib 256] [--runs 5]
set -euo pipefail
cd "$(dirname "$0")/../.."
MIB=256
RUNS=5
while [ $# -gt 0 ]; do
  case "$1" in
    --mib) MIB=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
dotnet build src/Bethrou.Cli -c Release -nologo -clp:ErrorsOnly >&2
B="$(pwd)/src/Bethrou.Cli/bin/Release/net10.0/bethrou.dll"
W=$(mktemp -d /tmp/bethrou-relay-bench.XXXXXX)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_line() { # file pattern
  for _ in $(seq 1 300); do grep -q -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "timed out waiting for '$2' in $1" >&2; cat "$1" >&2; return 1
}
cd "$W"
dotnet "$B" psk generate -o network.key >/dev/null
mkdir www
head -c $((MIB * 1024 * 1024)) /dev/urandom > www/big.bin
head -c 1024 /dev/urandom > www/small.bin
OP=$(port); RP=$(port); XP=$(port); S1=$(port); S2=$(port)
(cd www && exec python3 -u -m http.server "$OP" --bind 127.0.0.1 >../origin.log 2>&1) & PIDS+=($!)
dotnet "$B" node --key network.key --identity relay.key --listen /ip4/127.0.0.1/tcp/$RP --relay-mode --log-level warn >relay.out 2>relay.err & PIDS+=($!)
wait_line relay.out "^/ip4/127.0.0.1/tcp/$RP/p2p/"
RELAY=$(grep "^/ip4/127.0.0.1/tcp/$RP/p2p/" relay.out | head -1)
dotnet "$B" node --key network.key --identity exit.key --listen /ip4/127.0.0.1/tcp/$XP --allow-private --connect-relay "$RELAY" --log-level warn >exit.out 2>exit.err & PIDS+=($!)
wait_line exit.out "/p2p-circuit/p2p/"
DIRECT=$(grep "^/ip4/127.0.0.1/tcp/$XP/p2p/" exit.out | head -1)
CIRCUIT=$(grep "/p2p-circuit/p2p/" exit.out | head -1)
dotnet "$B" client --key network.key --node "$DIRECT" --listen 127.0.0.1:$S1 >direct.out 2>direct.err & PIDS+=($!)
dotnet "$B" client --key network.key --node "$CIRCUIT" --listen 127.0.0.1:$S2 >relayed.out 2>relayed.err & PIDS+=($!); RELAYED_PID=$!
wait_line direct.err "is up"; wait_line relayed.err "is up"
wait_line origin.log "Serving HTTP"

measure() { # label socks-port-or-empty file
  local label=$1 socks=$2 file=$3 out
  local args=(-s -o /dev/null -w '%{time_starttransfer} %{time_total} %{size_download}\n')
  [ -n "$socks" ] && args+=(--socks5-hostname 127.0.0.1:$socks)
  : > "m.$label.$file"
  for _ in $(seq 1 "$RUNS"); do curl "${args[@]}" "http://127.0.0.1:$OP/$file" >> "m.$label.$file"; done
  python3 - "$label" "$file" "m.$label.$file" <<'PY'
import sys, statistics
label, file, path = sys.argv[1:4]
rows = [tuple(map(float, l.split())) for l in open(path) if l.strip()]
ttfb = [r[0] * 1000 for r in rows]
mbps = [r[2] / r[1] / 1e6 for r in rows]
if file == "small.bin":
    print(f"{label:8} TTFB (1 KiB GET): median {statistics.median(ttfb):6.2f} ms  (min {min(ttfb):.2f}, max {max(ttfb):.2f}), {len(rows)} runs")
else:
    print(f"{label:8} {rows[0][2]/2**20:.0f} MiB GET: median {statistics.median(mbps):7.1f} MB/s  (min {min(mbps):.1f}, max {max(mbps):.1f}), TTFB median {statistics.median(ttfb):.2f} ms, {len(rows)} runs")
PY
}
# warm-up (JIT, connections)
curl -s -o /dev/null --socks5-hostname 127.0.0.1:$S1 http://127.0.0.1:$OP/small.bin
curl -s -o /dev/null --socks5-hostname 127.0.0.1:$S2 http://127.0.0.1:$OP/small.bin
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "peers: relay $RELAY"
echo "       exit  $DIRECT (reserved on the relay)"
for f in small.bin big.bin; do
  measure origin "" $f
  measure direct $S1 $f
  measure relayed $S2 $f
done
# The relayed client's own sockets: one to the relay and none elsewhere means every byte went through the relay
# (on loopback the DCUtR punch fails: a SYN arriving before the other side's is refused at once).
conns=$(ss -Htnp state established | grep "pid=$RELAYED_PID," || true)
echo "relayed client's TCP connections: to the relay $(echo "$conns" | grep -c ":$RP " || true), elsewhere $(echo "$conns" | grep -vc ":$RP " || true)"
