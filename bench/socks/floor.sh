#!/usr/bin/env bash
# The per-connection floor: SOCKS connect -> first response byte (new SOCKS connection, tiny GET, as run.sh measures)
# through bethrou next to what the same two-process job costs with nothing but plain TCP relaying
# (bench/socks/README.md, "The .NET floor"). Rows, all on loopback to one origin, interleaved in ROUNDS rounds:
#   ss-libev          ss-local + ss-server, chacha20-ietf-poly1305 (the issue's reference)
#   epoll-floor       socksload epoll-local + epoll-server: C#, own epoll loop through libc, no System.Net.Sockets
#   dotnet-floor      socksload floor-local + floor-server: C# with System.Net.Sockets async, inline completions
#   dotnet-floor-pool the same with completions on the thread pool (.NET's default)
#   dotnet-floor-1e   dotnet-floor with one socket engine thread per process (DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT=1)
#   bethrou, bethrou-fast-open   bethrou client + node (shipped defaults; --fast-open)
#   bethrou-base      the same with another build, BASE_BIN=/path/to/bethrou (e.g. a worktree of an earlier commit),
#                     for an A/B of two builds in one run
#   microsocks, epoll-direct, dotnet-direct   one-process proxies (no second hop), for scale
# The floors do no encryption, no multiplexing, no policy and open one TCP connection per request to their server
# (as ss-local does); they reply success at once (as ss-local and bethrou --fast-open do).
# Per row: median, p90, p99 of the first byte, CPU us per request of the proxy's processes (each process in
# parentheses: server/exit first) and context switches per request (live threads only: microsocks's per-connection
# threads are gone before they are counted).
#
# Usage: bench/socks/floor.sh [ROUNDS] [REQUESTS]     (defaults 3 and 2000)
#   ROWS="ss-libev bethrou ..."  a subset;  SKIP_BUILD=1 uses the existing Release binaries
# Needs: dotnet, ss-libev and microsocks (bench/socks/setup.sh). Ends only the processes it started, by PID.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-3}
REQUESTS=${2:-2000}
ROWS=${ROWS:-"ss-libev epoll-floor dotnet-floor dotnet-floor-pool dotnet-floor-1e bethrou bethrou-fast-open microsocks epoll-direct dotnet-direct"}
BIN="$ROOT/src/Bethrou.Cli/bin/Release/net10.0/bethrou"
SL="$HERE/SocksLoad/bin/Release/net10.0/socksload"
WORK=$(mktemp -d /tmp/bethrou-floor.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ "${SKIP_BUILD:-0}" != "1" ]; then
  dotnet build "$ROOT/src/Bethrou.Cli/Bethrou.Cli.csproj" -c Release -nologo -clp:ErrorsOnly -v:q >&2 || exit 1
  dotnet build "$HERE/SocksLoad/SocksLoad.csproj" -c Release -nologo -clp:ErrorsOnly -v:q >&2 || exit 1
fi

port() { "$SL" freeport; }
declare -A SOCKS PROCS
# bg NAME CMD...: starts one process of a row, remembers its PID
bg() { local row=$1; shift; "$@" >>"$WORK/$row.log" 2>&1 & PIDS+=($!); PROCS[$row]="${PROCS[$row]:-} $!"; }

"$SL" origin --listen 127.0.0.1:0 >"$WORK/origin.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do grep -q '^listening' "$WORK/origin.log" && break; sleep 0.05; done
TARGET=$(awk '/^listening/ {print $2}' "$WORK/origin.log")
[ -n "$TARGET" ] || { echo "origin did not start" >&2; exit 1; }

for row in $ROWS; do
  case $row in
    ss-libev)
      command -v ss-server >/dev/null || { echo "$row: not installed (bench/socks/setup.sh)" >&2; continue; }
      s=$(port); l=$(port)
      bg "$row" ss-server -s 127.0.0.1 -p "$s" -k floor-bench -m chacha20-ietf-poly1305
      bg "$row" ss-local -s 127.0.0.1 -p "$s" -b 127.0.0.1 -l "$l" -k floor-bench -m chacha20-ietf-poly1305 ;;
    epoll-floor)
      s=$(port); l=$(port)
      bg "$row" "$SL" epoll-server --listen "127.0.0.1:$s"
      bg "$row" "$SL" epoll-local --listen "127.0.0.1:$l" --server "127.0.0.1:$s" ;;
    dotnet-floor|dotnet-floor-pool|dotnet-floor-1e)
      inline=1; [ "$row" = dotnet-floor-pool ] && inline=0
      engines=""; [ "$row" = dotnet-floor-1e ] && engines=DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT=1
      s=$(port); l=$(port)
      bg "$row" env DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=$inline $engines "$SL" floor-server --listen "127.0.0.1:$s"
      bg "$row" env DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=$inline $engines "$SL" floor-local --listen "127.0.0.1:$l" --server "127.0.0.1:$s" ;;
    bethrou|bethrou-fast-open|bethrou-base)
      bin=$BIN
      if [ "$row" = bethrou-base ]; then
        [ -x "${BASE_BIN:-}" ] || { echo "$row: set BASE_BIN to another bethrou executable" >&2; exit 2; }
        bin=$BASE_BIN
      fi
      if [ ! -f "$WORK/network.key" ]; then
        "$BIN" psk generate --out "$WORK/network.key" >/dev/null || exit 1
        "$BIN" identity generate --out "$WORK/node.key" >/dev/null 2>&1 || exit 1
      fi
      l=$(port)
      bg "$row" env BETHROU_STATE_DIR="$WORK/state-$row" "$bin" node --key "$WORK/network.key" --identity "$WORK/node.key" \
        --listen /ip4/127.0.0.1/tcp/0 --allow-private --log-level warn
      addr=""
      for _ in $(seq 200); do addr=$(grep -m1 '^/ip4/' "$WORK/$row.log"); [ -n "$addr" ] && break; sleep 0.05; done
      [ -n "$addr" ] || { echo "$row: node printed no address" >&2; continue; }
      extra=""; [ "$row" = bethrou-fast-open ] && extra=--fast-open
      # shellcheck disable=SC2086
      bg "$row" env BETHROU_STATE_DIR="$WORK/state-$row" "$bin" client --key "$WORK/network.key" --node "$addr" \
        --listen "127.0.0.1:$l" --log-level warn $extra ;;
    microsocks)
      command -v microsocks >/dev/null || { echo "$row: not installed (bench/socks/setup.sh)" >&2; continue; }
      l=$(port); bg "$row" microsocks -i 127.0.0.1 -p "$l" ;;
    epoll-direct)
      l=$(port); bg "$row" "$SL" epoll-local --listen "127.0.0.1:$l" ;;
    dotnet-direct)
      l=$(port); bg "$row" env DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS=1 "$SL" floor-local --listen "127.0.0.1:$l" ;;
    *) echo "unknown row $row" >&2; exit 2 ;;
  esac
  SOCKS[$row]=127.0.0.1:$l
done

READY=()
for row in $ROWS; do
  [ -n "${SOCKS[$row]:-}" ] || continue
  if "$SL" probe --socks "${SOCKS[$row]}" --target "$TARGET" --timeout-s 30 >/dev/null; then
    "$SL" latency --socks "${SOCKS[$row]}" --target "$TARGET" --iter 300 --warmup 100 >/dev/null 2>&1
    READY+=("$row")
  else
    echo "$row: not ready: $(tail -2 "$WORK/$row.log")" >&2
  fi
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ctx() { local t=0 f; for f in /proc/"$1"/task/*/status; do t=$((t + $(awk '/ctxt_switches/ {s += $2} END {print s + 0}' "$f" 2>/dev/null || echo 0))); done; echo "$t"; }
TCK=$(getconf CLK_TCK)

echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -r); load $(cut -d' ' -f1-3 /proc/loadavg); $REQUESTS requests per row and round"
echo
echo "| round | proxy | median ms | p90 ms | p99 ms | CPU us / request (per process) | context switches / request | errors |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for r in $(seq "$ROUNDS"); do
  for row in "${READY[@]}"; do
    declare -A T0=() X0=()
    for p in ${PROCS[$row]}; do T0[$p]=$(ticks "$p"); X0[$p]=$(ctx "$p"); done
    out=$("$SL" latency --socks "${SOCKS[$row]}" --target "$TARGET" --iter "$REQUESTS" --warmup 0 2>&1 | grep '^RESULT')
    total=0; split=""; switches=0
    for p in ${PROCS[$row]}; do
      d=$(( $(ticks "$p") - ${T0[$p]} )); total=$((total + d))
      split="$split $(awk -v d="$d" -v t="$TCK" -v n="$REQUESTS" 'BEGIN { printf "%.0f", d * 1e6 / t / n }')"
      switches=$((switches + $(ctx "$p") - ${X0[$p]}))
    done
    awk -v r="$r" -v row="$row" -v o="$out" -v c="$total" -v sp="${split# }" -v x="$switches" -v n="$REQUESTS" -v t="$TCK" 'BEGIN {
      m = o; sub(/.*median_ms=/, "", m); sub(/ .*/, "", m);
      p90 = o; sub(/.*p90_ms=/, "", p90); sub(/ .*/, "", p90);
      p99 = o; sub(/.*p99_ms=/, "", p99); sub(/ .*/, "", p99);
      e = o; sub(/.*errors=/, "", e); sub(/ .*/, "", e);
      printf "| %d | %s | %s | %s | %s | %.0f (%s) | %.1f | %s |\n", r, row, m, p90, p99, c * 1e6 / t / n, sp, x / n, e }'
  done
done
