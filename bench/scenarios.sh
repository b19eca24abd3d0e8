#!/usr/bin/env bash
# Runs the standard framed-bench scenarios against framed-server on every
# backend (and with 2 workers) and against the peers, all in one run with
# the same load generator, and writes bench/RESULTS.md: machine, exact
# commands, figures, and the same-run ratios the targets are stated in.
#   bench/scenarios.sh [BUILD_DIR] [DURATION] [RUNS]   (build/release 5s 1)
# Peers (skipped with a note when absent): the Boost.Asio example
# async_tcp_echo_server (apt-get install libboost1.74-doc libboost-dev, or
# scripts/setup.sh --with-peers) and a Node.js net echo (apt-get install
# nodejs). With RUNS > 1 every cell is run that many times, interleaved, and
# the median (by frames/s) is reported.
set -euo pipefail
build=${1:-build/release}
duration=${2:-5s}
runs=${3:-1}
bench="$build/bench/framed-bench"
out=bench/RESULTS.md
[ -x "$bench" ] || { echo "scenarios: build first: cmake --workflow --preset release" >&2; exit 1; }

tmp=$(mktemp -d)
peer_pid=
cleanup() {
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# The servers: name, then how framed-bench reaches it.
servers=(framed-poll framed-epoll framed-epoll-w2 framed-uring framed-uring-w2)
declare -A server_args=(
  [framed-uring]="--server-arg --backend --server-arg io_uring"
  [framed-uring-w2]="--server-arg --backend --server-arg io_uring --server-arg --workers --server-arg 2"
  [framed-poll]="--server-arg --backend --server-arg poll"
  [framed-epoll]="--server-arg --backend --server-arg epoll"
  [framed-epoll-w2]="--server-arg --backend --server-arg epoll --server-arg --workers --server-arg 2"
)
notes=()
# io_uring where this kernel allows it: a server that is still running after
# a second started fine (one that cannot exits at once, saying why).
why=$(timeout -s INT 1 "$build/src/framed-server" --backend io_uring --port 0 2>&1 >/dev/null) &&
  uring_rc=0 || uring_rc=$?
if [ "$uring_rc" -ne 124 ] && [ "$uring_rc" -ne 0 ]; then
  servers=(framed-poll framed-epoll framed-epoll-w2)
  notes+=("io_uring skipped: $(tail -n1 <<<"$why")")
fi
if asio=$(bench/peers/build.sh "$build/peers" 2>"$tmp/asio.err"); then
  servers+=(asio)
else
  notes+=("asio skipped: $(cat "$tmp/asio.err")")
fi
if command -v node >/dev/null; then
  servers+=(node)
else
  notes+=("node skipped: Node.js missing: apt-get install nodejs")
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts a peer on a free port; sets peer_pid and peer_port.
start_peer() {
  peer_port=$(free_port)
  case $1 in
    asio) ulimit -n 65536 2>/dev/null || true; "$asio" "$peer_port" & ;;
    node) ulimit -n 65536 2>/dev/null || true; node bench/peers/node_echo.js "$peer_port" >/dev/null & ;;
  esac
  peer_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$peer_port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "scenarios: $1 did not start" >&2
  return 1
}

stop_peer() {
  kill "$peer_pid" 2>/dev/null || true
  wait "$peer_pid" 2>/dev/null || true
  peer_pid=
}

run() {  # server, scenario, then framed-bench arguments
  local server=$1 name=$2; shift 2
  local cmd=("$bench" --label "$name" --duration "$duration" --warmup 1s --json --no-progress "$@")
  case $server in
    framed-*) read -r -a extra <<<"${server_args[$server]}"; cmd+=("${extra[@]}") ;;
    *) start_peer "$server" || return 0; cmd+=(--port "$peer_port" --server-pid "$peer_pid") ;;
  esac
  echo "scenarios: $server $name: ${cmd[*]}" >&2
  local json
  json=$("${cmd[@]}") || echo "scenarios: $server $name reported errors" >&2
  [ "${server:0:6}" = framed ] || stop_peer
  echo "$server	$name	$json" >> "$tmp/results"
  printf '%s\t%s\t%s\n' "$server" "$name" "${cmd[*]}" >> "$tmp/commands"
}

scenarios=(
  "small --connections 50 --depth 16 --size 64"
  "bulk --connections 50 --depth 2 --size 64KiB"
  "ping-pong --connections 1 --depth 1 --size 64"
  "conns-1000 --connections 1000 --depth 1 --size 64"
  "conns-10000 --connections 10000 --depth 1 --size 64"
)

ceiling=$("$bench" --calibrate-only --json | sed 's/.*: \([0-9.]*\)}/\1/')
for ((r = 1; r <= runs; ++r)); do
  for sc in "${scenarios[@]}"; do
    read -r -a words <<<"$sc"
    for server in "${servers[@]}"; do run "$server" "${words[@]}"; done
  done
done

# framed-broadcast (examples/broadcast): one sender, 10 and 100 receivers.
bcast="$build/bench/broadcast-bench"
if [ -x "$bcast" ]; then
  for receivers in 10 100; do
    for size in 64 64KiB; do
      window=1024; [ "$size" = 64KiB ] && window=16
      cmd=("$bcast" --receivers "$receivers" --size "$size" --window "$window" --duration "$duration" --json)
      echo "scenarios: broadcast: ${cmd[*]}" >&2
      printf '%s\t%s\n' "$("${cmd[@]}" || true)" "${cmd[*]}" >> "$tmp/broadcast"
    done
  done
fi

field() { sed -n "s/.*\"$1\": \([-0-9.]*\).*/\1/p" <<<"$2"; }
# The median run of one cell, by frames/s.
cell() {
  awk -F'\t' -v s="$1" -v n="$2" '$1 == s && $2 == n { print $3 }' "$tmp/results" |
    while IFS= read -r j; do printf '%s\t%s\n' "$(field frames_per_s "$j")" "$j"; done |
    sort -n | awk -F'\t' '{ a[NR] = $2 } END { if (NR) print a[int((NR + 1) / 2)] }'
}
cpu() { field server_cpu_us_per_frame "$(cell "$1" "$2")"; }
fps() { field frames_per_s "$(cell "$1" "$2")"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", a / b; else print "n/a" }'; }

{
  echo "# framed-server benchmark results"
  echo
  echo "Generated by \`bench/scenarios.sh $build $duration $runs\` on $(date -u +%Y-%m-%d)"
  echo "($runs run(s) per cell, interleaved; the median by frames/s is shown)."
  echo
  echo "Machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1),"
  echo "$(free -g | awk '/^Mem:/ {print $2}') GiB RAM, Linux $(uname -r). Server and load generator share"
  echo "the machine (one load thread); all traffic is loopback. Loopback ceiling"
  echo "(one direction, two plain TCP sockets): ${ceiling} MiB/s. This machine's speed"
  echo "drifts by up to 2x over minutes: compare servers within this table only."
  echo
  for n in "${notes[@]}"; do echo "- $n"; done
  [ ${#notes[@]} -eq 0 ] || echo
  echo "Servers: \`framed-poll\`, \`framed-epoll\`: framed-server \`--backend poll|epoll\`,"
  echo "one worker; \`framed-epoll-w2\`: \`--backend epoll --workers 2\`; \`framed-uring\`,"
  echo "\`framed-uring-w2\`: the same with \`--backend io_uring\`; \`asio\`: Boost.Asio's"
  echo "\`async_tcp_echo_server\` example (Debian libboost1.74-doc, built by"
  echo "\`bench/peers/build.sh\`); \`node\`: Node.js \`net\` echo (\`bench/peers/node_echo.js\`)."
  echo "Server CPU is the server process's user+system time over the window, per"
  echo "frame; load CPU is framed-bench's own; RSS is the server's at the window's end."
  echo
  echo "| scenario | server | frames/s | MiB/s | p50 us | p99 us | server CPU us/frame | load CPU us/frame | server RSS KiB | errors |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for sc in "${scenarios[@]}"; do
    name=${sc%% *}
    for server in "${servers[@]}"; do
      j=$(cell "$server" "$name")
      [ -n "$j" ] || continue
      p50=$(sed -n 's/.*"p50": \([0-9.]*\).*/\1/p' <<<"$j")
      p99=$(sed -n 's/.*"p99": \([0-9.]*\).*/\1/p' <<<"$j")
      echo "| $name | $server | $(field frames_per_s "$j") | $(field mib_per_s "$j") | $p50 | $p99 | $(field server_cpu_us_per_frame "$j") | $(field load_cpu_us_per_frame "$j") | $(field server_rss_kib "$j") | $(field errors "$j") |"
    done
  done
  echo
  echo "Same-run ratios (the targets of the scaling issue):"
  echo
  for n in 1000 10000; do
    for s in framed-poll framed-epoll framed-epoll-w2 framed-uring framed-uring-w2; do
      echo "- conns-$n, $s vs asio: server CPU per frame $(ratio "$(cpu $s conns-$n)" "$(cpu asio conns-$n)")x (target <= 0.9), frames/s $(ratio "$(fps $s conns-$n)" "$(fps asio conns-$n)")x (target >= 1)"
    done
  done
  for n in 1000 10000; do
    echo "- conns-$n, framed-uring vs framed-epoll: server CPU per frame $(ratio "$(cpu framed-uring conns-$n)" "$(cpu framed-epoll conns-$n)")x (target <= 0.8), frames/s $(ratio "$(fps framed-uring conns-$n)" "$(fps framed-epoll conns-$n)")x (target >= 1); vs asio: CPU $(ratio "$(cpu framed-uring conns-$n)" "$(cpu asio conns-$n)")x (target <= 0.7)"
  done
  for n in small bulk ping-pong; do
    echo "- $n, framed-uring vs framed-epoll: server CPU per frame $(ratio "$(cpu framed-uring $n)" "$(cpu framed-epoll $n)")x, frames/s $(ratio "$(fps framed-uring $n)" "$(fps framed-epoll $n)")x (target: no worse)"
  done
  for s in framed-poll framed-epoll framed-epoll-w2 framed-uring framed-uring-w2 asio node; do
    echo "- $s: CPU per frame at 10000 connections / at 1000: $(ratio "$(cpu $s conns-10000)" "$(cpu $s conns-1000)")x (target for framed <= 1.4)"
  done
  for s in framed-poll framed-epoll framed-epoll-w2 framed-uring framed-uring-w2 asio node; do
    r1=$(field server_rss_kib "$(cell $s ping-pong)")
    r2=$(field server_rss_kib "$(cell $s conns-10000)")
    per=$(awk -v a="$r1" -v b="$r2" 'BEGIN { if (a > 0 && b > 0) printf "%.2f", (b - a) / 9999; else print "n/a" }')
    echo "- $s: server RSS per connection at 10000 connections: $per KiB (target < 1)"
  done
  echo
  if [ -s "$tmp/broadcast" ]; then
    echo "framed-broadcast, one sender (frames verified whole and in sequence by every"
    echo "receiver; the sender stays at most a window ahead of the slowest receiver):"
    echo
    echo "| receivers | frame | delivered frames/s | delivered MiB/s | command |"
    echo "|---:|---:|---:|---:|---|"
    while IFS=$'\t' read -r j cmd; do
      echo "| $(field receivers "$j") | $(field frame_size "$j") B | $(field delivered_frames_per_s "$j") | $(field delivered_mib_per_s "$j") | \`$cmd\` |"
    done < "$tmp/broadcast"
    echo
  fi
  echo "Frames/s and p99 against the number of connections: \`bench/plot.sh\`"
  echo "(data in \`connections.dat\`):"
  echo
  echo "![frames/s and p99 vs connections](connections.png)"
  echo
  echo "Commands (peers started by the script on a free port first):"
  echo
  while IFS=$'\t' read -r server name cmd; do echo "- $name, $server: \`$cmd\`"; done < "$tmp/commands"
} > "$out"
echo "scenarios: wrote $out" >&2
