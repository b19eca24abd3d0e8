#!/usr/bin/env bash
# Measures frames/s and p99 round-trip latency against the number of
# connections (64-byte frames, 1 in flight each) for framed-server on each
# backend, with 2 workers, and the peers (as bench/scenarios.sh runs them),
# and plots both to bench/connections.png with gnuplot
# (scripts/setup.sh --with-plot installs it).
#   bench/plot.sh [BUILD_DIR] [DURATION] [MAX_CONNECTIONS]  (build/release 3s 10000)
set -euo pipefail
build=${1:-build/release}
duration=${2:-3s}
max=${3:-10000}
bench="$build/bench/framed-bench"
[ -x "$bench" ] || { echo "plot: build first: cmake --workflow --preset release" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot: gnuplot missing: scripts/setup.sh --with-plot" >&2; exit 1; }

servers=(framed-poll framed-epoll framed-epoll-w2 framed-uring)
asio=$(bench/peers/build.sh "$build/peers" 2>/dev/null) && servers+=(asio) || echo "plot: asio skipped" >&2
command -v node >/dev/null && servers+=(node) || echo "plot: node skipped" >&2

peer_pid=
trap '[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true' EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

data=bench/connections.dat
echo "# server connections frames_per_s p99_us" > "$data"
for server in "${servers[@]}"; do
  for n in 1 10 100 1000 10000 50000; do
    [ "$n" -le "$max" ] || continue
    args=(--connections "$n" --depth 1 --size 64 --duration "$duration" --warmup 1s --json --no-progress)
    case $server in
      framed-poll) args+=(--server-arg --backend --server-arg poll) ;;
      framed-epoll) args+=(--server-arg --backend --server-arg epoll) ;;
      framed-epoll-w2) args+=(--server-arg --backend --server-arg epoll --server-arg --workers --server-arg 2) ;;
      framed-uring) args+=(--server-arg --backend --server-arg io_uring) ;;
      asio|node)
        port=$(free_port)
        ulimit -n 65536 2>/dev/null || true
        if [ "$server" = asio ]; then "$asio" "$port" & else node bench/peers/node_echo.js "$port" >/dev/null & fi
        peer_pid=$!
        for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.05; done
        args+=(--port "$port" --server-pid "$peer_pid") ;;
    esac
    json=$("$bench" "${args[@]}") || true
    if [ -n "$peer_pid" ]; then kill "$peer_pid" 2>/dev/null || true; wait "$peer_pid" 2>/dev/null || true; peer_pid=; fi
    fps=$(sed -n 's/.*"frames_per_s": \([0-9.]*\).*/\1/p' <<<"$json")
    p99=$(sed -n 's/.*"p99": \([0-9.]*\).*/\1/p' <<<"$json")
    echo "plot: $server $n connections: $fps frames/s, p99 $p99 us" >&2
    echo "$server $n $fps $p99" >> "$data"
  done
done

plots=()
for server in "${servers[@]}"; do
  plots+=("\"< grep '^$server ' $data\" using 2:3 with linespoints lw 2 title \"$server frames/s\" axes x1y1")
  plots+=("\"< grep '^$server ' $data\" using 2:4 with linespoints dt 2 title \"$server p99\" axes x1y2")
done
joined=$(IFS=,; echo "${plots[*]}")
gnuplot <<GNUPLOT
set terminal pngcairo size 1100,600 font ",10" noenhanced
set output "bench/connections.png"
set title "64-byte frames, 1 in flight per connection ($(nproc) cores, loopback; solid: frames/s, dashed: p99)"
set xlabel "connections"
set logscale x
set ylabel "frames/s"
set y2label "p99 round trip (us)"
set logscale y2
set ytics nomirror
set y2tics
set grid
set key outside right
plot $joined
GNUPLOT
echo "plot: wrote bench/connections.png" >&2
