#!/usr/bin/env bash
# Measures framed-server's TLS against the TLS servers people put in front of
# a frame service, all in one run with the same load generator (framed-bench):
# framed-server --tls-cert, Node's `tls` echo, nginx `stream` ssl ->
# framed-server, stunnel4 -> framed-server, and framed-server in plain TCP.
# Figures: server CPU per operation (every server process added), the
# operations per second, for four workloads: small (50 conns x 64 B x 16 in
# flight), bulk (50 x 64 KiB x 2), full and resumed handshakes. Prints a
# Markdown table (the ranges over RUNS rounds, servers interleaved), then,
# with bulk and framed-plain measured, the bulk floor: framed-plain's CPU
# per frame plus AES-128-GCM both ways at the speed `openssl speed`
# measures in each round.
#   bench/tls_peers.sh [BUILD_DIR] [DURATION] [RUNS]   (build/release 3s 2)
# Peers (skipped with a note when absent): nodejs, nginx +
# libnginx-mod-stream, stunnel4 (scripts/setup.sh --with-peers).
# Environment: SERVERS and WORKLOADS (space-separated) choose a subset;
# FRAMED_ARGS adds arguments to every framed-server (--backend io_uring).
set -euo pipefail
build=${1:-build/release}
duration=${2:-3s}
runs=${3:-2}
bench="$build/bench/framed-bench"
server="$build/src/framed-server"
certs=tests/tls/certs
[ -x "$bench" ] && [ -x "$server" ] ||
  { echo "tls_peers: build first: cmake --workflow --preset release" >&2; exit 1; }

me=tls_peers
# shellcheck source=bench/peers/lib.sh
source "$(dirname "$0")/peers/lib.sh"

# Each server: start_NAME sets $port and $server_pids (every process whose
# CPU counts).
start_framed_tls() {
  start_listening framed-tls "$server" --port 0 --max-conns 1000 --log-level warn \
    --tls-cert $certs/server.pem --tls-key $certs/server.key ${FRAMED_ARGS:-}
  port=$started_port server_pids=$started_pid
}
start_framed_plain() {
  start_listening framed-plain "$server" --port 0 --max-conns 1000 --log-level warn ${FRAMED_ARGS:-}
  port=$started_port server_pids=$started_pid
}
start_node() {
  start_listening node node bench/peers/node_tls_echo.js $certs/server.pem $certs/server.key 0
  port=$started_port server_pids=$started_pid
}
start_nginx() {
  start_listening nginx-backend "$server" --port 0 --max-conns 1000 --log-level warn ${FRAMED_ARGS:-}
  local backend=$started_port backend_pid=$started_pid
  port=$(free_port)
  mkdir -p "$tmp/nginx"
  # One worker, as framed-server has by default; TLS 1.2 and 1.3 as the
  # issue says nginx on Debian 12 needs to offer 1.3.
  cat >"$tmp/nginx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process on;
worker_processes 1;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 4096; }
stream {
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $PWD/$certs/server.pem;
    ssl_certificate_key $PWD/$certs/server.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    proxy_pass 127.0.0.1:$backend;
  }
}
CONF
  nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" \
    >"$tmp/nginx.log" 2>&1 &
  pids+=("$!")
  wait_port "$port"
  server_pids="$backend_pid $(cat "$tmp/nginx/nginx.pid") $(pgrep -P "$(cat "$tmp/nginx/nginx.pid")" | tr '\n' ' ')"
}
start_stunnel() {
  start_listening stunnel-backend "$server" --port 0 --max-conns 1000 --log-level warn ${FRAMED_ARGS:-}
  local backend=$started_port backend_pid=$started_pid
  port=$(free_port)
  cat >"$tmp/stunnel.conf" <<CONF
foreground = yes
pid =
debug = 3
output = $tmp/stunnel.out
[framed]
accept = 127.0.0.1:$port
connect = 127.0.0.1:$backend
cert = $PWD/$certs/server.pem
key = $PWD/$certs/server.key
sslVersionMin = TLSv1.2
CONF
  stunnel4 "$tmp/stunnel.conf" >"$tmp/stunnel.log" 2>&1 &
  pids+=("$!")
  wait_port "$port"
  server_pids="$backend_pid $!"
}
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

servers=(${SERVERS:-framed-tls node nginx stunnel framed-plain})
workloads=(${WORKLOADS:-small bulk full resumed})
have=()
notes=()
for s in "${servers[@]}"; do
  case $s in
    node) command -v node >/dev/null || { notes+=("node skipped: apt-get install nodejs"); continue; } ;;
    nginx) { command -v nginx >/dev/null && [ -f /usr/lib/nginx/modules/ngx_stream_module.so ]; } ||
      { notes+=("nginx skipped: apt-get install nginx libnginx-mod-stream"); continue; } ;;
    stunnel) command -v stunnel4 >/dev/null || { notes+=("stunnel skipped: apt-get install stunnel4"); continue; } ;;
  esac
  have+=("$s")
done

workload_args() {
  case $1 in
    small) echo "--connections 50 --depth 16 --size 64" ;;
    bulk) echo "--connections 50 --depth 2 --size 64KiB" ;;
    full) echo "--handshakes full" ;;
    resumed) echo "--handshakes resumed" ;;
  esac
}

results=$tmp/results.tsv
: >"$results"
for round in $(seq "$runs"); do
  for s in "${have[@]}"; do
    "start_${s//-/_}"
    for w in "${workloads[@]}"; do
      tls=(--tls --tls-ca $certs/ca.pem)
      [ "$s" = framed-plain ] && tls=()
      if [ "$s" = framed-plain ] && { [ "$w" = full ] || [ "$w" = resumed ]; }; then continue; fi
      pid_args=()
      for p in $server_pids; do pid_args+=(--server-pid "$p"); done
      # shellcheck disable=SC2046
      if json=$("$bench" --port "$port" "${pid_args[@]}" "${tls[@]}" $(workload_args "$w") \
                 --duration "$duration" --warmup 1s --json --no-progress 2>"$tmp/err"); then
        printf '%s\t%s\t%s\n' "$s" "$w" "$json" >>"$results"
      else
        printf '%s\t%s\t%s\n' "$s" "$w" "${json:-{\}}" >>"$results"
        echo "tls_peers: round $round, $s, $w failed: $(head -c 300 "$tmp/err") $(head -c 300 <<<"$json")" >&2
      fi
      echo "tls_peers: round $round: $s $w done" >&2
    done
    stop_all
  done
  # The bulk floor's crypto part: AES-128-GCM (the suite framed negotiates)
  # over 16 KiB records, on this machine now, in thousands of bytes per second.
  if [[ " ${workloads[*]} " == *" bulk "* ]] && command -v openssl >/dev/null; then
    { openssl speed -evp aes-128-gcm -bytes 16384 -seconds 1 2>/dev/null || true; } |
      awk 'toupper($1) == "AES-128-GCM" {sub(/k$/, "", $2); print $2}' >>"$tmp/aes.txt"
  fi
done

touch "$tmp/aes.txt"
python3 - "$results" "${have[*]}" "${workloads[*]}" "$tmp/aes.txt" <<'PY'
import json, sys
rows = [l.rstrip('\n').split('\t', 2) for l in open(sys.argv[1]) if l.strip()]
servers, workloads = sys.argv[2].split(), sys.argv[3].split()
cell = {}
for s, w, j in rows:
    try:
        d = json.loads(j)
    except ValueError:
        continue
    if d.get('errors', 1) != 0 or d.get('frames', 0) == 0:
        cell.setdefault((s, w), []).append(None)
        continue
    cell.setdefault((s, w), []).append((d['server_cpu_us_per_frame'], d['frames_per_s'], d.get('resumed', 0), d['frames']))
def rng(v, fmt):
    v = sorted(v)
    return fmt % v[0] if len(v) == 1 or fmt % v[0] == fmt % v[-1] else (fmt + '-' + fmt) % (v[0], v[-1])
units = {'small': 'µs/frame', 'bulk': 'µs/frame', 'full': 'µs/handshake', 'resumed': 'µs/handshake'}
print('| workload | ' + ' | '.join(servers) + ' |')
print('|---' * (len(servers) + 1) + '|')
for w in workloads:
    for what, idx, fmt in (('server CPU, ' + units[w], 0, '%.3f' if w == 'small' else '%.1f'), ('per second', 1, '%.0f')):
        out = []
        for s in servers:
            v = cell.get((s, w))
            if not v:
                out.append('—')
            elif any(x is None for x in v):
                out.append('failed')
            else:
                out.append(rng([x[idx] for x in v], fmt))
        print(f'| {w}, {what} | ' + ' | '.join(out) + ' |')
# The bulk floor: what framed-server spends on a 64 KiB echo in plain TCP,
# plus encrypting and decrypting it at the speed `openssl speed` measured in
# the same rounds. No TLS echo can spend less without kTLS (docs/TLS.md).
aes = [float(l) * 1000 for l in open(sys.argv[4]) if l.strip()]
plain = [x[0] for x in cell.get(('framed-plain', 'bulk'), []) if x]
if aes and plain:
    crypto = [2 * (65536 + 4) / rate * 1e6 for rate in aes]
    floor = [min(plain) + min(crypto), max(plain) + max(crypto)]
    print()
    print(f'bulk floor: framed-plain {rng(plain, "%.1f")} µs/frame + AES-128-GCM both ways '
          f'{rng(crypto, "%.1f")} µs ({rng([r / 1e9 for r in aes], "%.2f")} GB/s) = '
          f'{rng(floor, "%.1f")} µs/frame')
    for s in servers:
        v = [x[0] for x in cell.get((s, 'bulk'), []) if x]
        if v and s != 'framed-plain':
            mid = (min(v) + max(v)) / 2
            print(f'  {s}: {mid - sum(floor) / 2:+.1f} µs/frame above the floor; '
                  f'the floor is {sum(floor) / 2 / mid:.2f}x of it')
PY
for n in "${notes[@]}"; do echo "note: $n"; done
