#!/usr/bin/env bash
# Per-request cost of bethrou under two environments, A/B in interleaved pairs (bench/socks/README.md, "Inline I/O
# scheduling"). Each run starts a fresh `bethrou node` + `bethrou client` on loopback with the run's environment,
# warms up, then times REQUESTS sequential first-byte requests (new SOCKS connection, tiny GET, first response byte)
# with `socksload latency`, and reads around them:
#   - utime+stime of the client and the exit (/proc/PID/stat), and the context switches of every thread of both
#     (/proc/PID/task/*/status, voluntary + involuntary), divided by the requests;
#   - the data segments each way on the client <-> exit connection (`ss -ti` counters on the exit's socket).
#
# Usage: bench/socks/ab-requests.sh [PAIRS] [REQUESTS]        (defaults 3 and 2000)
# Environment:
#   ENV_A, ENV_B   space-separated VAR=value assignments for both processes of run A / B
#                  (defaults: ENV_A="BETHROU_IO_SCHEDULING=threadpool", ENV_B="" i.e. the shipped default)
#   CLIENT_ARGS    extra `bethrou client` arguments for both (e.g. --fast-open)
#   SKIP_BUILD=1   use the existing Release binaries
# Needs: dotnet, ss (iproute2). Processes it starts are ended by PID; ports come from the OS.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PAIRS=${1:-3}
REQUESTS=${2:-2000}
ENV_A=${ENV_A-BETHROU_IO_SCHEDULING=threadpool}
ENV_B=${ENV_B-}
CLIENT_ARGS=${CLIENT_ARGS:-}
BIN="$ROOT/src/Bethrou.Cli/bin/Release/net10.0/bethrou"
SOCKSLOAD="$HERE/SocksLoad/bin/Release/net10.0/socksload"
WORK=$(mktemp -d /tmp/bethrou-ab-requests.XXXXXX)
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  dotnet build "$ROOT/src/Bethrou.Cli/Bethrou.Cli.csproj" -c Release -nologo -clp:ErrorsOnly -v:q >&2 || exit 1
  dotnet build "$HERE/SocksLoad/SocksLoad.csproj" -c Release -nologo -clp:ErrorsOnly -v:q >&2 || exit 1
fi

"$BIN" psk generate --out "$WORK/network.key" >/dev/null || exit 1
"$BIN" identity generate --out "$WORK/node.key" >/dev/null 2>&1 || exit 1
"$SOCKSLOAD" origin --listen 127.0.0.1:0 >"$WORK/origin.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^listening' "$WORK/origin.log" && break; sleep 0.05; done
TARGET=$(awk '/^listening/ {print $2}' "$WORK/origin.log")
[ -n "$TARGET" ] || { echo "origin did not start: $(cat "$WORK/origin.log")" >&2; exit 1; }

cpu_ticks() { local t=0 p; for p in "$@"; do set -- $(awk '{print $14, $15}' "/proc/$p/stat"); t=$((t + $1 + $2)); done; echo "$t"; }
ctx_switches() {
  local t=0 p f v
  for p in "$@"; do
    for f in /proc/"$p"/task/*/status; do
      v=$(awk '/ctxt_switches/ {s += $2} END {print s + 0}' "$f" 2>/dev/null)
      t=$((t + ${v:-0}))
    done
  done
  echo "$t"
}
segments() { ss -tin "sport = :$1" | grep -o 'data_segs_out:[0-9]*\|data_segs_in:[0-9]*' | cut -d: -f2 | paste -sd' '; }

# one_run LABEL "ENV": prints one result line
one_run() {
  local label=$1 env_assign=$2 node_pid client_pid addr port socks
  # shellcheck disable=SC2086
  env BETHROU_STATE_DIR="$WORK/state" $env_assign "$BIN" node --key "$WORK/network.key" --identity "$WORK/node.key" \
    --listen /ip4/127.0.0.1/tcp/0 --allow-private --log-level warn >"$WORK/node.log" 2>&1 &
  node_pid=$!
  PIDS+=("$node_pid")
  for _ in $(seq 200); do addr=$(grep -m1 '^/ip4/' "$WORK/node.log"); [ -n "$addr" ] && break; sleep 0.05; done
  [ -n "$addr" ] || { echo "$label: node printed no address: $(tail -3 "$WORK/node.log")"; return 1; }
  port=$(echo "$addr" | cut -d/ -f5)
  socks=127.0.0.1:$("$SOCKSLOAD" freeport)
  # shellcheck disable=SC2086
  env BETHROU_STATE_DIR="$WORK/state" $env_assign "$BIN" client --key "$WORK/network.key" --node "$addr" \
    --listen "$socks" --log-level warn $CLIENT_ARGS >"$WORK/client.log" 2>&1 &
  client_pid=$!
  PIDS+=("$client_pid")
  "$SOCKSLOAD" probe --socks "$socks" --target "$TARGET" --timeout-s 30 >/dev/null || { echo "$label: proxy not ready"; return 1; }
  "$SOCKSLOAD" latency --socks "$socks" --target "$TARGET" --iter 200 --warmup 100 >/dev/null 2>&1
  local c0 s0 g0 c1 s1 g1 result
  c0=$(cpu_ticks "$client_pid" "$node_pid"); s0=$(ctx_switches "$client_pid" "$node_pid"); g0=$(segments "$port")
  result=$("$SOCKSLOAD" latency --socks "$socks" --target "$TARGET" --iter "$REQUESTS" --warmup 0 2>&1 | grep '^RESULT')
  c1=$(cpu_ticks "$client_pid" "$node_pid"); s1=$(ctx_switches "$client_pid" "$node_pid"); g1=$(segments "$port")
  kill "$client_pid" "$node_pid" 2>/dev/null
  wait "$client_pid" "$node_pid" 2>/dev/null
  local tck
  tck=$(getconf CLK_TCK)
  awk -v label="$label" -v r="$result" -v n="$REQUESTS" -v c="$((c1 - c0))" -v s="$((s1 - s0))" -v tck="$tck" \
      -v g0="$g0" -v g1="$g1" 'BEGIN {
    split(g0, a, " "); split(g1, b, " ");
    match(r, /median_ms=[0-9.]+/); med = substr(r, RSTART + 10, RLENGTH - 10);
    match(r, /p90_ms=[0-9.]+/); p90 = substr(r, RSTART + 7, RLENGTH - 7);
    match(r, /errors=[0-9]+/); err = substr(r, RSTART + 7, RLENGTH - 7);
    printf "| %s | %s | %s | %.0f | %.1f | %.2f | %.2f | %s |\n", label, med, p90, c * 1e6 / tck / n, s / n,
      (b[1] - a[1]) / n, (b[2] - a[2]) / n, err }'
}

echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "A: ${ENV_A:-(shipped defaults)}   B: ${ENV_B:-(shipped defaults)}   client args: ${CLIENT_ARGS:-none}   $REQUESTS requests per run"
echo
echo "| run | median ms | p90 ms | CPU us / request (client+exit) | context switches / request | segments exit->client | segments client->exit | errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for i in $(seq "$PAIRS"); do
  one_run "A$i" "$ENV_A"
  one_run "B$i" "$ENV_B"
done
