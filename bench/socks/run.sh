#!/usr/bin/env bash
# SOCKS5 proxy benchmark, side by side in one run on loopback (issue 3):
#   microsocks (no tunnel, baseline), ssh -D through a local sshd, shadowsocks-libev (ss-local + ss-server,
#   chacha20-ietf-poly1305) and bethrou (client + node over libp2p).
# Same origin (SocksLoad origin, HTTP/1.1) and same client (SocksLoad, plus one curl --socks5-hostname run per proxy).
#
# Measures per proxy:
#   - single-stream download and upload of BYTES_GIB GiB through SOCKS5 (MB/s, 1 MB = 10^6 bytes), median of
#     ROUNDS transfers each way, interleaved across the proxies (all proxies run at once);
#   - CPU-seconds per GB moved (10^9 bytes, download + upload) of the proxy processes: client + exit, process trees
#     (utime+stime+cutime+cstime from /proc/<pid>/stat before and after the transfers);
#   - SOCKS connect to first response byte of a tiny GET, new SOCKS connection each time (LAT_ITER iterations after
#     LAT_WARMUP, split over the ROUNDS rounds): median, p90, p99;
#   - the CPU time (utime+stime of the client and exit process trees, in microseconds) and the context switches
#     (voluntary + involuntary, every thread of those trees) spent per first-byte request: what each request costs the
#     proxy, independent of how busy the shared cores were;
#   - CONC simultaneous connections each fetching CONC_BYTES: total wall time, errors, peak RSS of the exit side
#     (summed VmRSS of the exit process tree, sampled every 20 ms during the run).
#
# Usage: bench/socks/run.sh            (full sizes; run bench/socks/setup.sh once before)
#        QUICK=1 bench/socks/run.sh    (small sizes, smoke run)
# Environment:
#   BYTES_GIB (1)  ROUNDS (3: interleaved rounds; median of 3 downloads and of 3 uploads)  LAT_ITER (1000)  LAT_WARMUP (100)
#   CONC (1000)  CONC_BYTES (1048576)  CURL_MIB (64)
#   PROXIES ("direct microsocks ssh shadowsocks bethrou bethrou-fastopen"; direct = no proxy, the ceiling of origin +
#            load tool; bethrou-fastopen = its own node and a client with --fast-open; bethrou-threadpool (not in the
#            default list) = its own node and client with BETHROU_IO_SCHEDULING=threadpool, the I/O hand-offs of before
#            2026-12-07, for a side-by-side comparison of the two scheduling modes)
#   BETHROU_BIN (default: build src/Bethrou.Cli in Release and use src/Bethrou.Cli/bin/Release/net10.0/bethrou)
#   BETHROU_NODE_ARGS / BETHROU_CLIENT_ARGS  extra arguments for `bethrou node` / `bethrou client`
#                  (default "--log-level warn" when the command has that option: no per-connection log lines, like
#                  ss-local/ss-server without -v and sshd at LogLevel ERROR)
#   WAN_DELAY_MS   run the tunnel leg (client -> exit) of ssh -D, shadowsocks and bethrou through `socksload delay`,
#                  which holds every chunk WAN_DELAY_MS ms each way (a long link: round trip 2 x WAN_DELAY_MS ms);
#                  direct and microsocks have no tunnel leg and are unaffected. Default: off (plain loopback).
#   SKIP_BUILD=1   do not build SocksLoad / bethrou (use existing binaries)
#   RESULTS_OUT    also write the markdown report to this file
# Exit status: 0 when every selected proxy was measured without failures, 1 otherwise.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

QUICK=${QUICK:-0}
if [ "$QUICK" = "1" ]; then
  BYTES_GIB=${BYTES_GIB:-0.0625}
  LAT_ITER=${LAT_ITER:-100}
  LAT_WARMUP=${LAT_WARMUP:-20}
  CONC=${CONC:-50}
  CURL_MIB=${CURL_MIB:-8}
  ROUNDS=${ROUNDS:-1}
fi
BYTES_GIB=${BYTES_GIB:-1}
LAT_ITER=${LAT_ITER:-1000}
LAT_WARMUP=${LAT_WARMUP:-100}
CONC=${CONC:-1000}
CONC_BYTES=${CONC_BYTES:-1048576}
CURL_MIB=${CURL_MIB:-64}
ROUNDS=${ROUNDS:-3}
WAN_DELAY_MS=${WAN_DELAY_MS:-}
PROXIES=${PROXIES:-"direct microsocks ssh shadowsocks bethrou bethrou-fastopen"}
SKIP_BUILD=${SKIP_BUILD:-0}
BULK_BYTES=$(awk -v g="$BYTES_GIB" 'BEGIN { printf "%d", g * 1073741824 }')
CLK_TCK=$(getconf CLK_TCK)

WORK=$(mktemp -d /tmp/bethrou-socks-bench.XXXXXX)
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---------------------------------------------------------------- processes we started (killed by PID on exit)
STARTED=()

# the given pids and all their descendants (sshd forks per connection), children first
tree_pids() {
  local all=() queue=("$@") p k
  while [ ${#queue[@]} -gt 0 ]; do
    p=${queue[0]}
    queue=("${queue[@]:1}")
    all+=("$p")
    for k in $(pgrep -P "$p" 2>/dev/null); do queue+=("$k"); done
  done
  printf '%s\n' "${all[@]}" | tac
}

stop_pids() {
  local pids=() p
  for p in "$@"; do
    [ -n "$p" ] || continue
    # descendants too (sshd's per-connection children), found before the parent goes away
    while read -r d; do pids+=("$d"); done < <(tree_pids "$p")
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null
  for _ in $(seq 1 50); do
    local alive=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null
  for p in "$@"; do wait "$p" 2>/dev/null; done
  return 0
}

cleanup() {
  rm -f "$WORK/upload.bin"
  if [ ${#STARTED[@]} -gt 0 ]; then stop_pids "${STARTED[@]}"; fi
  STARTED=()
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# start NAME CMD...: runs CMD in the background with stdout+stderr to $WORK/NAME.log; sets PID
start() {
  local name=$1
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PID=$!
  STARTED+=("$PID")
}

# true once 127.0.0.1:PORT (or 0.0.0.0:PORT) is in LISTEN state; fails if PID died or after TIMEOUT seconds
wait_listen() {
  local port=$1 pid=$2 timeout=${3:-20} hex
  hex=$(printf '%04X' "$port")
  local deadline=$((SECONDS + timeout))
  while [ $SECONDS -lt $deadline ]; do
    if grep -qE "^ *[0-9]+: (0100007F|00000000):$hex [0-9A-F]{8}:0000 0A" /proc/net/tcp 2>/dev/null; then
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

# free_ports N: N distinct free loopback ports from the OS (bind port 0), space-separated
free_ports() {
  "$SOCKSLOAD" freeport --count "$1"
}

# via_wan NAME PORT: with WAN_DELAY_MS set, starts a `socksload delay` forwarder to 127.0.0.1:PORT and sets WAN_PORT
# to its port (its pid is added to PROXY_PIDS, not to the client's or exit's); without it, WAN_PORT=PORT.
via_wan() {
  local name=$1 port=$2
  WAN_PORT=$port
  [ -n "$WAN_DELAY_MS" ] || return 0
  start "$name-wan" "$SOCKSLOAD" delay --target "127.0.0.1:$port" --delay-ms "$WAN_DELAY_MS"
  PROXY_PIDS="$PROXY_PIDS $PID"
  local pid=$PID
  for _ in $(seq 1 200); do
    WAN_PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/$name-wan.log")
    [ -n "$WAN_PORT" ] && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  REASON="failed: the WAN delay forwarder did not start: $(last_lines "$WORK/$name-wan.log")"
  return 1
}

# value of key=value in a RESULT line (values may be "quoted text")
kv() {
  local line=$1 key=$2
  if [[ $line =~ (^|[[:space:]])$key=\"([^\"]*)\" ]]; then
    printf '%s' "${BASH_REMATCH[2]}"
  elif [[ $line =~ (^|[[:space:]])$key=([^[:space:]]*) ]]; then
    printf '%s' "${BASH_REMATCH[2]}"
  fi
}

last_lines() { tail -n "${2:-3}" "$1" 2>/dev/null | tr '\n' ' ' | sed 's/|/\//g; s/  */ /g' | cut -c1-200; }

# ---------------------------------------------------------------- results
declare -A R=()         # R[proxy.key] = value
declare -A FAIL=()      # FAIL[proxy] = reason (whole row)
declare -A NOTE=()      # NOTE[proxy] = extra notes
set_r() { R["$1.$2"]=$3; }
get_r() { printf '%s' "${R["$1.$2"]:-}"; }
add_note() { NOTE[$1]="${NOTE[$1]:-}${NOTE[$1]:+; }$2"; }

# ---------------------------------------------------------------- build the load tool
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != "unlimited" ] && [ "$(ulimit -n)" -lt $((CONC * 4 + 256)) ]; then
  log "warning: ulimit -n is $(ulimit -n); $CONC connections need about $((CONC * 4 + 256)) descriptors across the proxy processes"
fi

SOCKSLOAD="$HERE/SocksLoad/bin/Release/net10.0/socksload"
if [ "$SKIP_BUILD" != "1" ]; then
  log "building SocksLoad (Release)"
  if ! dotnet build "$HERE/SocksLoad/SocksLoad.csproj" -c Release -nologo -clp:ErrorsOnly -v:q >"$WORK/build-socksload.log" 2>&1; then
    cat "$WORK/build-socksload.log" >&2
    log "SocksLoad build failed"
    exit 1
  fi
fi
[ -x "$SOCKSLOAD" ] || { log "missing $SOCKSLOAD"; exit 1; }

# ---------------------------------------------------------------- origin
start origin "$SOCKSLOAD" origin --listen 127.0.0.1:0
ORIGIN_PID=$PID
ORIGIN_PORT=""
for _ in $(seq 1 200); do
  ORIGIN_PORT=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$WORK/origin.log")
  [ -n "$ORIGIN_PORT" ] && break
  kill -0 "$ORIGIN_PID" 2>/dev/null || break
  sleep 0.05
done
if [ -z "$ORIGIN_PORT" ]; then
  log "origin did not start: $(last_lines "$WORK/origin.log")"
  exit 1
fi
TARGET="127.0.0.1:$ORIGIN_PORT"
log "origin on $TARGET (pid $ORIGIN_PID); work dir $WORK"
head -c $((CURL_MIB * 1048576)) /dev/urandom >"$WORK/upload.bin"

# ---------------------------------------------------------------- proxies
# Each start_<proxy> sets SOCKS_PORT, CLIENT_PIDS, EXIT_PIDS, PROXY_PIDS (to stop afterwards) and returns 0,
# or sets REASON and returns 1.

start_direct() {
  SOCKS_PORT=direct
  add_note direct "no proxy: origin and load tool alone (the ceiling of this harness on this machine)"
}

start_microsocks() {
  command -v microsocks >/dev/null || { REASON="microsocks not installed (run bench/socks/setup.sh)"; return 1; }
  SOCKS_PORT=$(free_ports 1)
  start microsocks microsocks -i 127.0.0.1 -p "$SOCKS_PORT"
  PROXY_PIDS="$PID"
  CLIENT_PIDS=""
  EXIT_PIDS="$PID"
  wait_listen "$SOCKS_PORT" "$PID" || { REASON="microsocks did not listen: $(last_lines "$WORK/microsocks.log")"; return 1; }
  add_note microsocks "single process, no tunnel (it is both client and exit); $(dpkg-query -W -f='microsocks ${Version}' microsocks 2>/dev/null)"
}

start_ssh() {
  [ -x /usr/sbin/sshd ] || { REASON="openssh-server not installed (run bench/socks/setup.sh)"; return 1; }
  local d="$WORK/ssh" user ports ssh_port
  mkdir -p "$d" && chmod 700 "$d"
  user=$(id -un)
  ssh-keygen -q -t ed25519 -N '' -C bench-host -f "$d/host_ed25519" || { REASON="ssh-keygen failed"; return 1; }
  ssh-keygen -q -t ed25519 -N '' -C bench-client -f "$d/client_ed25519" || { REASON="ssh-keygen failed"; return 1; }
  cp "$d/client_ed25519.pub" "$d/authorized_keys" && chmod 600 "$d/authorized_keys"
  read -r ssh_port SOCKS_PORT < <(free_ports 2)
  cat >"$d/sshd_config" <<EOF
Port $ssh_port
ListenAddress 127.0.0.1
HostKey $d/host_ed25519
PidFile none
AuthorizedKeysFile $d/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AllowTcpForwarding yes
X11Forwarding no
PrintMotd no
PrintLastLog no
LogLevel ERROR
EOF
  if [ "$(id -u)" = "0" ] && [ ! -d /run/sshd ]; then mkdir -p /run/sshd && chmod 755 /run/sshd; fi
  start sshd /usr/sbin/sshd -D -e -f "$d/sshd_config"
  local sshd_pid=$PID
  PROXY_PIDS="$sshd_pid"
  wait_listen "$ssh_port" "$sshd_pid" || { REASON="sshd did not listen: $(last_lines "$WORK/sshd.log")"; return 1; }
  local ssh_opts=(-F /dev/null -p "$ssh_port" -i "$d/client_ed25519" -o IdentitiesOnly=yes -o BatchMode=yes
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null)
  # one verbose probe login (not the measured connection) to record the negotiated cipher
  if ! timeout 20 ssh "${ssh_opts[@]}" -o LogLevel=DEBUG1 "$user@127.0.0.1" true >"$WORK/ssh-probe.log" 2>&1; then
    REASON="ssh login to the local sshd failed: $(grep -v '^debug' "$WORK/ssh-probe.log" | tail -n 2 | tr '\n' ' ')"
    return 1
  fi
  local cipher
  cipher=$(sed -n 's/.*kex: server->client cipher: \([^ ]*\).*/\1/p' "$WORK/ssh-probe.log" | head -n1)
  via_wan ssh "$ssh_port" || return 1
  local wan_pids=${PROXY_PIDS#"$sshd_pid"}
  ssh_opts[3]=$WAN_PORT
  start ssh ssh "${ssh_opts[@]}" -o LogLevel=ERROR -N -o ExitOnForwardFailure=yes -D "127.0.0.1:$SOCKS_PORT" "$user@127.0.0.1"
  PROXY_PIDS="$PID $sshd_pid$wan_pids"
  CLIENT_PIDS="$PID"
  EXIT_PIDS="$sshd_pid"
  wait_listen "$SOCKS_PORT" "$PID" || { REASON="ssh -D did not listen: $(last_lines "$WORK/ssh.log")"; return 1; }
  add_note ssh "OpenSSH $(dpkg-query -W -f='${Version}' openssh-server 2>/dev/null), default cipher ${cipher:-unknown}; exit = sshd process tree (listener + per-connection children)"
}

start_shadowsocks() {
  command -v ss-server >/dev/null || { REASON="shadowsocks-libev not installed (run bench/socks/setup.sh)"; return 1; }
  local ss_port pass
  read -r ss_port SOCKS_PORT < <(free_ports 2)
  pass=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
  start ss-server ss-server -s 127.0.0.1 -p "$ss_port" -k "$pass" -m chacha20-ietf-poly1305
  local server_pid=$PID
  PROXY_PIDS="$server_pid"
  wait_listen "$ss_port" "$server_pid" || { REASON="ss-server did not listen: $(last_lines "$WORK/ss-server.log")"; return 1; }
  via_wan shadowsocks "$ss_port" || return 1
  local wan_pids=${PROXY_PIDS#"$server_pid"}
  start ss-local ss-local -s 127.0.0.1 -p "$WAN_PORT" -b 127.0.0.1 -l "$SOCKS_PORT" -k "$pass" -m chacha20-ietf-poly1305
  PROXY_PIDS="$PID $server_pid$wan_pids"
  CLIENT_PIDS="$PID"
  EXIT_PIDS="$server_pid"
  wait_listen "$SOCKS_PORT" "$PID" || { REASON="ss-local did not listen: $(last_lines "$WORK/ss-local.log")"; return 1; }
  add_note shadowsocks "shadowsocks-libev $(dpkg-query -W -f='${Version}' shadowsocks-libev 2>/dev/null), chacha20-ietf-poly1305, default options"
}

BETHROU_READY=""
prepare_bethrou() {
  [ -n "$BETHROU_READY" ] && return 0
  BETHROU_READY=no
  if [ -z "${BETHROU_BIN:-}" ]; then
    BETHROU_BIN="$ROOT/src/Bethrou.Cli/bin/Release/net10.0/bethrou"
    if [ "$SKIP_BUILD" != "1" ]; then
      log "building src/Bethrou.Cli (Release)"
      if ! dotnet build "$ROOT/src/Bethrou.Cli/Bethrou.Cli.csproj" -c Release -nologo -clp:ErrorsOnly -v:q >"$WORK/build-bethrou.log" 2>&1; then
        BETHROU_WHY="failed: bethrou build failed ($(grep -m1 -o 'error [A-Z]*[0-9]*:.*' "$WORK/build-bethrou.log" | cut -c1-120))"
        return 1
      fi
    fi
  fi
  if [ ! -x "$BETHROU_BIN" ]; then
    BETHROU_WHY="skipped: bethrou binary not ready ($BETHROU_BIN does not exist)"
    return 1
  fi
  if ! "$BETHROU_BIN" client --help >"$WORK/bethrou-client-help.txt" 2>&1; then
    BETHROU_WHY="skipped: bethrou binary not ready (no \`bethrou client\` command yet)"
    return 1
  fi
  "$BETHROU_BIN" node --help >"$WORK/bethrou-node-help.txt" 2>&1
  local opt
  for opt in --allow-private --key --listen --identity; do
    grep -q -- "$opt" "$WORK/bethrou-node-help.txt" || { BETHROU_WHY="skipped: bethrou binary not ready (\`bethrou node\` has no $opt)"; return 1; }
  done
  for opt in --key --node --listen; do
    grep -q -- "$opt" "$WORK/bethrou-client-help.txt" || { BETHROU_WHY="skipped: bethrou binary not ready (\`bethrou client\` has no $opt)"; return 1; }
  done
  BETHROU_LOGOPT_NODE=""
  BETHROU_LOGOPT_CLIENT=""
  grep -q -- --log-level "$WORK/bethrou-node-help.txt" && BETHROU_LOGOPT_NODE="--log-level warn"
  grep -q -- --log-level "$WORK/bethrou-client-help.txt" && BETHROU_LOGOPT_CLIENT="--log-level warn"
  BETHROU_READY=yes
}

start_bethrou() { start_bethrou_as bethrou ""; }

# the same with `bethrou client --fast-open` (its own node and client, so that CPU and RSS are its own)
start_bethrou-fastopen() { start_bethrou_as bethrou-fastopen --fast-open; }

# both processes with the thread-pool I/O hand-offs (BETHROU_IO_SCHEDULING=threadpool; README "I/O threading")
start_bethrou-threadpool() { start_bethrou_as bethrou-threadpool "" BETHROU_IO_SCHEDULING=threadpool; }

# start_bethrou_as NAME EXTRA_CLIENT_ARGS: a node and a client, logs and state under $WORK/NAME*
start_bethrou_as() {
  local name=$1 extra=$2 extra_env=${3:-}
  if ! prepare_bethrou || [ "$BETHROU_READY" != yes ]; then
    REASON=${BETHROU_WHY:-"skipped: bethrou binary not ready"}
    return 1
  fi
  local d="$WORK/$name" node_addr=""
  mkdir -p "$d" && chmod 700 "$d"
  if ! "$BETHROU_BIN" psk generate --out "$d/network.key" >"$WORK/$name-psk.log" 2>&1; then
    REASON="failed: bethrou psk generate: $(last_lines "$WORK/$name-psk.log")"
    return 1
  fi
  # shellcheck disable=SC2086
  start "$name-node" env BETHROU_STATE_DIR="$d/state-node" $extra_env "$BETHROU_BIN" node --key "$d/network.key" --listen /ip4/127.0.0.1/tcp/0 \
    --identity "$d/node.key" --allow-private ${BETHROU_NODE_ARGS-$BETHROU_LOGOPT_NODE}
  local node_pid=$PID
  PROXY_PIDS="$node_pid"
  for _ in $(seq 1 400); do
    node_addr=$(grep -m1 -E '^/ip4/[0-9.]+/tcp/[0-9]+/p2p/[1-9A-HJ-NP-Za-km-z]+$' "$WORK/$name-node.log" 2>/dev/null)
    [ -n "$node_addr" ] && break
    kill -0 "$node_pid" 2>/dev/null || break
    sleep 0.05
  done
  [ -n "$node_addr" ] || { REASON="failed: bethrou node printed no /ip4/ multiaddr: $(last_lines "$WORK/$name-node.log")"; return 1; }
  local node_port=${node_addr#/ip4/*/tcp/}
  node_port=${node_port%%/*}
  via_wan "$name" "$node_port" || return 1
  local wan_pids=${PROXY_PIDS#"$node_pid"}
  node_addr=${node_addr/\/tcp\/$node_port\//\/tcp\/$WAN_PORT\/}
  SOCKS_PORT=$(free_ports 1)
  # shellcheck disable=SC2086
  start "$name-client" env BETHROU_STATE_DIR="$d/state-client" $extra_env "$BETHROU_BIN" client --key "$d/network.key" --node "$node_addr" \
    --listen "127.0.0.1:$SOCKS_PORT" ${BETHROU_CLIENT_ARGS-$BETHROU_LOGOPT_CLIENT} $extra
  PROXY_PIDS="$PID $node_pid$wan_pids"
  CLIENT_PIDS="$PID"
  EXIT_PIDS="$node_pid"
  wait_listen "$SOCKS_PORT" "$PID" 30 || { REASON="failed: bethrou client did not listen: $(last_lines "$WORK/$name-client.log")"; return 1; }
  add_note "$name" "$BETHROU_BIN${extra:+ (client $extra)}${extra_env:+ ($extra_env)}; node $node_addr"
}

# ---------------------------------------------------------------- measurements
# All proxies run at the same time (idle ones cost nothing); the bulk transfers and the latency iterations are
# interleaved in ROUNDS rounds (A B C D, B C D A, ...) so that load from other work on the machine spreads over all
# proxies alike instead of favouring whichever ran in a quiet minute. The concurrent run is one shot per proxy.
csv() { echo "$1" | tr ' ' ','; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit; if (NR % 2) printf "%.1f", v[(NR + 1) / 2]; else printf "%.1f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR == 1 { lo = $1 } { hi = $1 } END { if (NR) printf "%.0f-%.0f", lo, hi }'; }
fsum() { awk -v a="${1:-0}" -v b="${2:-0}" 'BEGIN { printf "%.2f", a + b }'; }

declare -A PX_SOCKS=() PX_CLIENT=() PX_EXIT=() PX_PIDS=()
ACTIVE=()

socks_of() { if [ "${PX_SOCKS[$1]}" = direct ]; then echo direct; else echo "127.0.0.1:${PX_SOCKS[$1]}"; fi; }
# sets PIDS_OPT to the --client-pids/--exit-pids arguments of proxy $1 (options with empty lists left out)
pids_opt_of() {
  PIDS_OPT=()
  [ -z "${PX_CLIENT[$1]:-}" ] || PIDS_OPT+=(--client-pids "$(csv "${PX_CLIENT[$1]}")")
  [ -z "${PX_EXIT[$1]:-}" ] || PIDS_OPT+=(--exit-pids "$(csv "${PX_EXIT[$1]}")")
}

# readiness + one real curl download and upload through the proxy
check() {
  local p=$1 out socks curl_proxy=()
  socks=$(socks_of "$p")
  [ "$socks" = direct ] || curl_proxy=(--socks5-hostname "$socks")
  # the whole path works (a tiny GET through the proxy succeeds; retried for up to 30 s)
  out=$(timeout -k 5 45 "$SOCKSLOAD" probe --socks "$socks" --target "$TARGET" --timeout-s 30 2>>"$WORK/$p-load.log" | grep '^RESULT')
  if [ -z "$(kv "$out" ready_s)" ]; then
    FAIL[$p]="failed: proxy path not working: $(kv "$out" failed)"
    return 1
  fi
  set_r "$p" ready_s "$(kv "$out" ready_s)"
  [ "$(kv "$out" attempts)" = "1" ] || add_note "$p" "first request through the proxy succeeded only after $(kv "$out" ready_s) s ($(kv "$out" attempts) attempts)"
  # the same client as a real user: curl through SOCKS5 (the proxy resolves the name)
  log "$p: curl sanity run"
  out=$(curl -sS --max-time 120 "${curl_proxy[@]}" -o /dev/null \
    -w '%{http_code} %{size_download} %{speed_download}' "http://$TARGET/bytes/$((CURL_MIB * 1048576))" 2>&1)
  if [ "$(echo "$out" | awk '{print $1, $2}')" != "200 $((CURL_MIB * 1048576))" ]; then
    FAIL[$p]="failed: curl download through the proxy: $out"
    return 1
  fi
  set_r "$p" curl_down_mbps "$(echo "$out" | awk '{ printf "%.1f", $3 / 1e6 }')"
  out=$(curl -sS --max-time 120 "${curl_proxy[@]}" -H 'Expect:' --data-binary "@$WORK/upload.bin" \
    -o "$WORK/$p-curl-upload.txt" -w '%{http_code} %{speed_upload}' "http://$TARGET/upload" 2>&1)
  if [ "$(echo "$out" | awk '{print $1}')" != "200" ] || [ "$(tr -d '\r\n' <"$WORK/$p-curl-upload.txt")" != "$((CURL_MIB * 1048576))" ]; then
    FAIL[$p]="failed: curl upload through the proxy: $out, origin counted $(tr -d '\r\n' <"$WORK/$p-curl-upload.txt" 2>/dev/null | cut -c1-40)"
    return 1
  fi
  set_r "$p" curl_up_mbps "$(echo "$out" | awk '{ printf "%.1f", $2 / 1e6 }')"
}

# one single-stream download + upload; accumulates MB/s lists and CPU seconds
bulk_once() {
  local p=$1 round=$2 out t warm=0
  [ -z "$(get_r "$p" bulk_failed)" ] || return 0
  [ "$round" = 1 ] && warm=$((32 * 1048576))
  t=$((60 + BULK_BYTES / 10000000))
  pids_opt_of "$p"
  out=$(timeout -k 10 $((t + 30)) "$SOCKSLOAD" bulk --socks "$(socks_of "$p")" --target "$TARGET" --bytes "$BULK_BYTES" \
    --warmup-bytes "$warm" --clk-tck "$CLK_TCK" --timeout-s "$t" "${PIDS_OPT[@]}" 2>>"$WORK/$p-load.log" | grep '^RESULT')
  echo "bulk round $round: $out" >>"$WORK/$p-load.log"
  if [ -z "$(kv "$out" down_mbps)" ]; then
    set_r "$p" bulk_failed "$(kv "$out" failed)"
    add_note "$p" "bulk round $round failed: $(kv "$out" failed)"
    return 0
  fi
  set_r "$p" down_list "$(get_r "$p" down_list) $(kv "$out" down_mbps)"
  set_r "$p" up_list "$(get_r "$p" up_list) $(kv "$out" up_mbps)"
  for k in client_cpu_s exit_cpu_s down_cpu_s up_cpu_s; do set_r "$p" "$k" "$(fsum "$(get_r "$p" "$k")" "$(kv "$out" "$k")")"; done
  set_r "$p" bulk_rounds $(($(get_r "$p" bulk_rounds || true) + 1))
}

bulk_summary() {
  local p=$1 n
  n=$(get_r "$p" bulk_rounds)
  [ -n "$n" ] && [ -z "$(get_r "$p" bulk_failed)" ] || return 0
  set_r "$p" down_mbps "$(get_r "$p" down_list | median)"
  set_r "$p" up_mbps "$(get_r "$p" up_list | median)"
  set_r "$p" down_range "$(get_r "$p" down_list | range)"
  set_r "$p" up_range "$(get_r "$p" up_list | range)"
  set_r "$p" cpu_s_per_gb "$(awk -v c="$(get_r "$p" client_cpu_s)" -v e="$(get_r "$p" exit_cpu_s)" -v b="$BULK_BYTES" -v n="$n" \
    'BEGIN { printf "%.2f", (c + e) / (2 * b * n / 1e9) }')"
}

# CPU ticks (utime+stime+cutime+cstime) and context switches (all threads) of the given pids and their descendants
tree_cost() {
  local ticks=0 switches=0 q t c
  for q in $(tree_pids "$@"); do
    [ -r "/proc/$q/stat" ] || continue
    # fields after the ")" that ends the command name: utime is the 12th, stime 13th, cutime 14th, cstime 15th
    t=$(sed 's/^.*) //' "/proc/$q/stat" 2>/dev/null | awk '{ print $12 + $13 + $14 + $15 }')
    c=$(cat /proc/"$q"/task/*/status 2>/dev/null | awk '/^(voluntary|nonvoluntary)_ctxt_switches/ { s += $2 } END { print s + 0 }')
    ticks=$((ticks + ${t:-0}))
    switches=$((switches + ${c:-0}))
  done
  echo "$ticks $switches"
}

lat_once() {
  local p=$1 round=$2 iter warm out before after
  [ -z "$(get_r "$p" lat_failed)" ] || return 0
  iter=$((LAT_ITER / ROUNDS + (round <= LAT_ITER % ROUNDS ? 1 : 0)))
  if [ "$round" = 1 ]; then warm=$LAT_WARMUP; else warm=10; fi
  # per-request cost: the warm-up runs first, on its own, so that it is not counted
  [ "$warm" -gt 0 ] && timeout -k 10 300 "$SOCKSLOAD" latency --socks "$(socks_of "$p")" --target "$TARGET" --iter 1 \
    --warmup "$warm" --timeout-s 270 >/dev/null 2>>"$WORK/$p-load.log"
  warm=0
  before=$(tree_cost ${PX_CLIENT[$p]:-} ${PX_EXIT[$p]:-})
  out=$(timeout -k 10 900 "$SOCKSLOAD" latency --socks "$(socks_of "$p")" --target "$TARGET" --iter "$iter" \
    --warmup "$warm" --timeout-s 870 --samples-out "$WORK/$p-latency.txt" 2>>"$WORK/$p-load.log" | grep '^RESULT')
  after=$(tree_cost ${PX_CLIENT[$p]:-} ${PX_EXIT[$p]:-})
  echo "latency round $round: $out (cost before: $before, after: $after)" >>"$WORK/$p-load.log"
  if [ -n "${PX_CLIENT[$p]:-}${PX_EXIT[$p]:-}" ]; then
    set_r "$p" lat_ticks $(($(get_r "$p" lat_ticks || true) + ${after% *} - ${before% *}))
    set_r "$p" lat_switches $(($(get_r "$p" lat_switches || true) + ${after#* } - ${before#* }))
    set_r "$p" lat_requests $(($(get_r "$p" lat_requests || true) + iter))
  fi
  if [ -z "$(kv "$out" median_ms)" ]; then
    set_r "$p" lat_failed "$(kv "$out" failed)$(kv "$out" first_error)"
    add_note "$p" "latency failed: $(kv "$out" failed)$(kv "$out" first_error)"
    return 0
  fi
  set_r "$p" lat_errors $(($(get_r "$p" lat_errors || true) + $(kv "$out" errors)))
  [ "$(kv "$out" errors)" = "0" ] || add_note "$p" "latency round $round errors: $(kv "$out" errors) ($(kv "$out" first_error))"
}

lat_summary() {
  local p=$1 out
  [ -s "$WORK/$p-latency.txt" ] && [ -z "$(get_r "$p" lat_failed)" ] || return 0
  out=$("$SOCKSLOAD" stats --file "$WORK/$p-latency.txt" | grep '^RESULT')
  for k in median_ms p90_ms p99_ms max_ms mean_ms ok; do set_r "$p" "lat_$k" "$(kv "$out" "$k")"; done
  if [ -n "$(get_r "$p" lat_requests)" ]; then
    set_r "$p" lat_cpu_us "$(awk -v t="$(get_r "$p" lat_ticks)" -v hz="$CLK_TCK" -v n="$(get_r "$p" lat_requests)" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')"
    set_r "$p" lat_switches_per "$(awk -v c="$(get_r "$p" lat_switches)" -v n="$(get_r "$p" lat_requests)" 'BEGIN { printf "%.1f", c / n }')"
  fi
}

conc_once() {
  local p=$1 out
  log "$p: $CONC concurrent connections x $CONC_BYTES bytes"
  pids_opt_of "$p"
  out=$(timeout -k 10 300 "$SOCKSLOAD" concurrent --socks "$(socks_of "$p")" --target "$TARGET" --conns "$CONC" \
    --bytes "$CONC_BYTES" --timeout-s 240 "${PIDS_OPT[@]}" 2>>"$WORK/$p-load.log" | grep '^RESULT')
  echo "concurrent: $out" >>"$WORK/$p-load.log"
  if [ -n "$(kv "$out" total_s)" ]; then
    for k in total_s errors conn_p50_s conn_max_s exit_peak_rss_kib exit_hwm_kib client_peak_rss_kib; do set_r "$p" "conc_$k" "$(kv "$out" "$k")"; done
    [ "$(kv "$out" errors)" = "0" ] || add_note "$p" "concurrent errors: $(kv "$out" top_error)"
  else
    set_r "$p" conc_failed "$(kv "$out" failed)"
    add_note "$p" "concurrent run failed: $(kv "$out" failed)"
  fi
}

# rotate: round r starts at the r-th proxy
rotation() {
  local r=$1 n=${#ACTIVE[@]} i
  for ((i = 0; i < n; i++)); do echo "${ACTIVE[$(((i + r - 1) % n))]}"; done
}

still_active() { [ -z "${FAIL[$1]:-}" ]; }

label() {
  case $1 in
    direct) echo "direct (no proxy)" ;;
    microsocks) echo "microsocks" ;;
    ssh) echo "ssh -D" ;;
    shadowsocks) echo "shadowsocks-libev" ;;
    bethrou) echo "bethrou" ;;
    bethrou-fastopen) echo "bethrou --fast-open" ;;
    bethrou-threadpool) echo "bethrou (thread-pool I/O)" ;;
    *) echo "$1" ;;
  esac
}

LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STAT_START=$(head -n1 /proc/stat)

for p in $PROXIES; do
  case $p in
    direct | microsocks | ssh | shadowsocks | bethrou | bethrou-fastopen | bethrou-threadpool) ;;
    *) FAIL[$p]="failed: unknown proxy name (use direct, microsocks, ssh, shadowsocks, bethrou, bethrou-fastopen, bethrou-threadpool)"; continue ;;
  esac
  log "starting $(label "$p")"
  SOCKS_PORT="" CLIENT_PIDS="" EXIT_PIDS="" PROXY_PIDS="" REASON=""
  if "start_$p"; then
    PX_SOCKS[$p]=$SOCKS_PORT PX_CLIENT[$p]=$CLIENT_PIDS PX_EXIT[$p]=$EXIT_PIDS PX_PIDS[$p]=$PROXY_PIDS
    if check "$p"; then
      ACTIVE+=("$p")
      continue
    fi
  else
    case $REASON in
      skipped:* | failed:*) FAIL[$p]=$REASON ;;
      *) FAIL[$p]="failed: $REASON" ;;
    esac
  fi
  log "$(label "$p"): ${FAIL[$p]}"
  # shellcheck disable=SC2086
  [ -z "$PROXY_PIDS" ] || stop_pids $PROXY_PIDS
done

for ((r = 1; r <= ROUNDS; r++)); do
  for p in $(rotation "$r"); do
    log "round $r/$ROUNDS: $(label "$p") single-stream download + upload of $BYTES_GIB GiB"
    bulk_once "$p" "$r"
  done
done
for ((r = 1; r <= ROUNDS; r++)); do
  for p in $(rotation "$r"); do
    log "round $r/$ROUNDS: $(label "$p") connect->first byte"
    lat_once "$p" "$r"
  done
done
for p in "${ACTIVE[@]}"; do
  bulk_summary "$p"
  lat_summary "$p"
  conc_once "$p"
done

for p in "${ACTIVE[@]}"; do
  # the proxy must have survived the run
  for pid in ${PX_PIDS[$p]}; do
    kill -0 "$pid" 2>/dev/null || add_note "$p" "process $pid died during the run"
  done
  # shellcheck disable=SC2086
  [ -z "${PX_PIDS[$p]}" ] || stop_pids ${PX_PIDS[$p]}
done

LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
STAT_END=$(head -n1 /proc/stat)
# whole-machine CPU over the run: idle and steal share (user nice system idle iowait irq softirq steal)
CPU_SHARE=$(printf '%s\n%s\n' "$STAT_START" "$STAT_END" | awk '{ for (i = 2; i <= 9; i++) v[NR, i] = $i }
  END { t = 0; for (i = 2; i <= 9; i++) t += v[2, i] - v[1, i]; if (t <= 0) { print "n/a"; exit }
        printf "idle %.0f%%, steal %.0f%%", 100 * (v[2, 5] - v[1, 5]) / t, 100 * (v[2, 9] - v[1, 9]) / t }')

# ---------------------------------------------------------------- report
mib() { [ -n "$1" ] && awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
cell() { local v; v=$(get_r "$1" "$2"); if [ -n "$v" ]; then printf '%s' "$v"; else printf '%s' "${3:-fail}"; fi; }

REPORT="$WORK/results.md"
{
  echo "### SOCKS5 proxies on loopback"
  echo
  echo "Machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1), Linux $(uname -r)," \
    "$(awk '/MemTotal/ { printf "%.0f GiB RAM", $2 / 1048576 }' /proc/meminfo); load average at start $LOAD_START, at end $LOAD_END;" \
    "whole-machine CPU during the run: $CPU_SHARE (the harness itself shares the 2 cores; anything else running shows in the load average)."
  [ -z "$WAN_DELAY_MS" ] || echo "Long link: the tunnel leg (client → exit) of ssh -D, shadowsocks-libev and bethrou runs through \`socksload delay\`, $WAN_DELAY_MS ms each way (round trip $((2 * WAN_DELAY_MS)) ms); direct and microsocks have no tunnel leg."
  echo "Sizes: single stream $BYTES_GIB GiB each way (median of $ROUNDS rounds, interleaved across proxies); connect→first byte $(get_r "${ACTIVE[0]:-x}" lat_ok) iterations after $LAT_WARMUP warm-up, in $ROUNDS rounds;" \
    "$CONC concurrent × $CONC_BYTES bytes. MB = 10^6 bytes, GB = 10^9 bytes; CPU-s/GB counts download + upload bytes."
  echo
  echo "| proxy | download MB/s | upload MB/s | CPU-s/GB (client+exit) | connect→first byte median / p99 ms | $CONC×$(awk -v b="$CONC_BYTES" 'BEGIN { if (b == 1048576) print "1MiB"; else print b "B" }') total s (errors) | exit peak RSS MiB |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for p in $PROXIES; do
    if [ -n "${FAIL[$p]:-}" ]; then
      echo "| $(label "$p") | $(printf '%s' "${FAIL[$p]}" | tr '|\n' '/ ') | | | | | |"
      continue
    fi
    lat="$(cell "$p" lat_median_ms) / $(cell "$p" lat_p99_ms)"
    conc="$(cell "$p" conc_total_s) ($(cell "$p" conc_errors "?"))"
    rss=$(mib "$(get_r "$p" conc_exit_peak_rss_kib)")
    cpu=$(cell "$p" cpu_s_per_gb)
    if [ "$p" = direct ]; then cpu="–"; rss="–"; fi
    echo "| $(label "$p") | $(cell "$p" down_mbps) | $(cell "$p" up_mbps) | $cpu | $lat | $conc | ${rss:-fail} |"
  done
  echo
  echo "Details:"
  for p in $PROXIES; do
    [ -z "${FAIL[$p]:-}" ] || continue
    if [ "$p" = direct ]; then
      echo "- $(label "$p"): single stream range down $(cell "$p" down_range -), up $(cell "$p" up_range -) MB/s; curl ${CURL_MIB} MiB down $(cell "$p" curl_down_mbps -) MB/s, up $(cell "$p" curl_up_mbps -) MB/s;" \
        "first byte p90 $(cell "$p" lat_p90_ms -) ms, max $(cell "$p" lat_max_ms -) ms;" \
        "concurrent per-connection p50 $(cell "$p" conc_conn_p50_s -) s, max $(cell "$p" conc_conn_max_s -) s — ${NOTE[$p]:-}"
      continue
    fi
    echo "- $(label "$p"): single stream range down $(cell "$p" down_range -), up $(cell "$p" up_range -) MB/s;" \
      "curl --socks5-hostname ${CURL_MIB} MiB down $(cell "$p" curl_down_mbps -) MB/s, up $(cell "$p" curl_up_mbps -) MB/s;" \
      "CPU client $(cell "$p" client_cpu_s -) s + exit $(cell "$p" exit_cpu_s -) s (download $(cell "$p" down_cpu_s -) s, upload $(cell "$p" up_cpu_s -) s);" \
      "first byte p90 $(cell "$p" lat_p90_ms -) ms, max $(cell "$p" lat_max_ms -) ms," \
      "per request $(cell "$p" lat_cpu_us -) us CPU (client+exit) and $(cell "$p" lat_switches_per -) context switches;" \
      "concurrent per-connection p50 $(cell "$p" conc_conn_p50_s -) s, max $(cell "$p" conc_conn_max_s -) s;" \
      "exit VmHWM (lifetime) $(mib "$(get_r "$p" conc_exit_hwm_kib)") MiB, client peak RSS $(mib "$(get_r "$p" conc_client_peak_rss_kib)") MiB" \
      "${NOTE[$p]:+— ${NOTE[$p]}}"
  done
  # Bethrou against the issue's targets (relative to shadowsocks-libev), when both were measured
  if [ -z "${FAIL[bethrou]:-}" ] && [ -z "${FAIL[shadowsocks]:-}" ] && [[ " $PROXIES " == *" bethrou "* ]] && [[ " $PROXIES " == *" shadowsocks "* ]]; then
    echo
    echo "Bethrou against the issue-3 targets (ratio to shadowsocks-libev):"
    ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'; }
    verdict() { awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN { if (r == "n/a") print "n/a"; else if ((op == ">=" && r + 0 >= t) || (op == "<=" && r + 0 <= t)) print "met"; else print "NOT met" }'; }
    for spec in "download:down_mbps:>=:1.2" "upload:up_mbps:>=:1.2" "CPU-s/GB:cpu_s_per_gb:<=:0.8" \
      "first-byte median:lat_median_ms:<=:1.0" "${CONC}-connection total time:conc_total_s:<=:1.0"; do
      IFS=: read -r name key op target <<<"$spec"
      r=$(ratio "$(get_r bethrou "$key")" "$(get_r shadowsocks "$key")")
      v=$(verdict "$r" "$op" "$target")
      # a total time with failed connections is not comparable (failed connections end early)
      if [ "$key" = conc_total_s ] && [ "$(get_r bethrou conc_errors)" != "0" ]; then v="not comparable: $(get_r bethrou conc_errors) connections failed"; fi
      echo "- $name: $r× (target $op $target×): $v"
    done
    e=$(get_r bethrou conc_errors)
    echo "- ${CONC}-connection errors: ${e:-n/a} (target 0): $([ "$e" = "0" ] && echo met || echo NOT met)"
    rssb=$(mib "$(get_r bethrou conc_exit_peak_rss_kib)")
    echo "- exit peak RSS: ${rssb:-n/a} MiB (target < 150): $(awk -v r="${rssb:-}" 'BEGIN { if (r == "") print "n/a"; else if (r + 0 < 150) print "met"; else print "NOT met" }')"
    if [ -z "${FAIL[bethrou-fastopen]:-}" ] && [[ " $PROXIES " == *" bethrou-fastopen "* ]]; then
      r=$(ratio "$(get_r bethrou-fastopen lat_median_ms)" "$(get_r shadowsocks lat_median_ms)")
      echo "- with --fast-open (opt-in; refusals become resets): first-byte median $r× (target <= 1.0×): $(verdict "$r" "<=" 1.0)"
    fi
  fi
  echo
  echo "Command: ${WAN_DELAY_MS:+WAN_DELAY_MS=$WAN_DELAY_MS }QUICK=$QUICK BYTES_GIB=$BYTES_GIB ROUNDS=$ROUNDS LAT_ITER=$LAT_ITER CONC=$CONC PROXIES=\"$PROXIES\" bench/socks/run.sh; logs in $WORK"
} >"$REPORT"

cat "$REPORT"
if [ -n "${RESULTS_OUT:-}" ]; then cp "$REPORT" "$RESULTS_OUT"; fi

status=0
for p in $PROXIES; do
  case ${FAIL[$p]:-} in
    failed:*) status=1 ;;
  esac
  case ${NOTE[$p]:-} in
    *failed* | *errors:* | *died*) status=1 ;;
  esac
done
exit $status
