#!/usr/bin/env bash
# framed-router against HAProxy 2.6 `mode tcp` (roundrobin), in one run with
# one load generator (framed-bench), servers interleaved in each round.
#   skewed: backends are delay-echo --work 1ms (each serves one frame at a
#     time, 1 ms each: at most ~1,000 frames/s per backend); 1 client, and
#     then 2, pipelining 64 frames. HAProxy gives a client's connection to one
#     backend; the router spreads its frames over all three.
#   even: three framed-server backends, 50 clients x 16 in flight x 64 B:
#     frames/s, proxy CPU per frame (the proxy process only), and the
#     round-trip p50/p99 next to a direct connection to one backend.
# Prints a Markdown table with the range over RUNS rounds.
#   bench/router_peers.sh [BUILD_DIR] [DURATION] [RUNS]   (build/release 3s 2)
set -euo pipefail
build=${1:-build/release}
duration=${2:-3s}
runs=${3:-2}
bench="$build/bench/framed-bench"
server="$build/src/framed-server"
router="$build/src/framed-router"
delay="$build/testsupport/delay-echo"
for b in "$bench" "$server" "$router" "$delay"; do
  [ -x "$b" ] || { echo "router_peers: build first: cmake --workflow --preset release ($b)" >&2; exit 1; }
done
command -v haproxy >/dev/null || { echo "router_peers: haproxy is needed: apt-get install haproxy" >&2; exit 1; }

me=router_peers
# shellcheck source=bench/peers/lib.sh
source "$(dirname "$0")/peers/lib.sh"

backend_ports=()
start_backends() {  # KIND: slow (delay-echo --work 1ms) or echo (framed-server)
  backend_ports=()
  for i in 1 2 3; do
    if [ "$1" = slow ]; then
      start_listening "backend$i" "$delay" --port 0 --work 1ms --log-level warn
    else
      start_listening "backend$i" "$server" --port 0 --max-conns 1000 --log-level warn
    fi
    backend_ports+=("$started_port")
  done
}
start_router() {
  local args=()
  local bp
  for bp in "${backend_ports[@]}"; do args+=(--backend "127.0.0.1:$bp"); done
  start_listening router "$router" --listen 127.0.0.1:0 "${args[@]}" --max-conns 1000 \
    --log-level warn --balance "${BALANCE:-least-pending}"
  port=$started_port proxy_pid=$started_pid
}
start_haproxy() {
  port=$(free_port)
  {
    cat <<CONF
global
  maxconn 4096
  pidfile $tmp/haproxy.pid
defaults
  mode tcp
  # Without these, HAProxy 2.6 accepts a burst of 50 connects slowly
  # enough that the load generator's connects time out.
  maxconn 4096
  backlog 4096
  timeout connect 2s
  timeout client 60s
  timeout server 60s
listen framed
  bind 127.0.0.1:$port
  balance roundrobin
CONF
    for i in "${!backend_ports[@]}"; do echo "  server b$i 127.0.0.1:${backend_ports[$i]}"; done
  } >"$tmp/haproxy.cfg"
  # One process, one thread, as the router runs one worker here.
  haproxy -db -f "$tmp/haproxy.cfg" -nbthread 1 >"$tmp/haproxy.log" 2>&1 &
  proxy_pid=$!
  pids+=("$proxy_pid")
  wait_port "$port"
}
start_direct() { port=${backend_ports[0]} proxy_pid=; }
stop_proxy() {
  [ -n "${proxy_pid:-}" ] && { kill "$proxy_pid" 2>/dev/null || true; wait "$proxy_pid" 2>/dev/null || true; }
  proxy_pid=
}

results=$tmp/results.tsv
: >"$results"
run() {  # WORKLOAD PROXY ARGS...
  local w=$1 p=$2
  shift 2
  local pid_args=()
  [ -n "${proxy_pid:-}" ] && pid_args=(--server-pid "$proxy_pid")
  local json
  if json=$("$bench" --port "$port" "${pid_args[@]}" "$@" --duration "$duration" --warmup 1s \
             --json --no-progress 2>"$tmp/err"); then
    printf '%s\t%s\t%s\n' "$p" "$w" "$json" >>"$results"
  else
    echo "router_peers: $p $w failed: $(head -c 300 "$tmp/err") $(head -c 300 <<<"${json:-}")" >&2
  fi
}
for round in $(seq "$runs"); do
  start_backends slow
  for p in router haproxy; do
    "start_$p"
    run skewed-1 "$p" --connections 1 --depth 64 --size 64
    run skewed-2 "$p" --connections 2 --depth 64 --size 64
    stop_proxy
  done
  stop_all=("${pids[@]}")
  for q in "${stop_all[@]}"; do kill "$q" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  start_backends echo
  for p in router haproxy direct; do
    "start_$p"
    run even "$p" --connections 50 --depth 16 --size 64
    stop_proxy
  done
  for q in "${pids[@]}"; do kill "$q" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
  echo "router_peers: round $round done" >&2
done

python3 - "$results" <<'PY'
import json, sys
cell = {}
for line in open(sys.argv[1]):
    p, w, j = line.rstrip('\n').split('\t', 2)
    d = json.loads(j)
    if d.get('errors', 1) != 0 or d.get('frames', 0) == 0:
        continue
    cell.setdefault((w, p), []).append(d)
def rng(v, fmt):
    v = sorted(v)
    return fmt % v[0] if fmt % v[0] == fmt % v[-1] else (fmt + '-' + fmt) % (v[0], v[-1])
def col(w, p, f, fmt):
    v = cell.get((w, p))
    return rng([f(d) for d in v], fmt) if v else '—'
print('| workload | figure | framed-router | HAProxy 2.6 tcp | direct to one backend |')
print('|---|---|---|---|---|')
for w in ('skewed-1', 'skewed-2'):
    print(f'| {w} | frames/s | {col(w, "router", lambda d: d["frames_per_s"], "%.0f")} | {col(w, "haproxy", lambda d: d["frames_per_s"], "%.0f")} | |')
w = 'even'
print(f'| even | frames/s | {col(w, "router", lambda d: d["frames_per_s"], "%.0f")} | {col(w, "haproxy", lambda d: d["frames_per_s"], "%.0f")} | {col(w, "direct", lambda d: d["frames_per_s"], "%.0f")} |')
print(f'| even | proxy CPU µs/frame | {col(w, "router", lambda d: d["server_cpu_us_per_frame"], "%.3f")} | {col(w, "haproxy", lambda d: d["server_cpu_us_per_frame"], "%.3f")} | |')
for q in ('p50', 'p99'):
    print(f'| even | round trip {q} µs | {col(w, "router", lambda d: d["rtt_us"][q], "%.0f")} | {col(w, "haproxy", lambda d: d["rtt_us"][q], "%.0f")} | {col(w, "direct", lambda d: d["rtt_us"][q], "%.0f")} |')
PY
