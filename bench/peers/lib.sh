# Shell helpers shared by the scripts that run framed against its peers
# (bench/tls_peers.sh, bench/router_peers.sh). Source it after setting $me
# (the script's name, for messages): it makes $tmp (a scratch folder,
# removed at exit) and pids=() (processes started, stopped at exit).

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# A free TCP port on 127.0.0.1 (for a peer that cannot bind port 0).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Starts a program printing "listening on HOST:PORT", its output in
# $tmp/NAME.log; sets $started_pid and $started_port.
#   start_listening NAME PROGRAM ARGS...
start_listening() {
  local log=$tmp/$1.log
  shift
  "$@" >"$log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  for _ in $(seq 100); do
    if started_port=$(grep -o 'listening on [^ ]*:[0-9]*' "$log" | head -n1 | grep -o '[0-9]*$'); then
      return 0
    fi
    kill -0 "$started_pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "$me: $* did not start: $(cat "$log")" >&2
  return 1
}

# Waits (up to 5 s) until something accepts on 127.0.0.1:PORT.
wait_port() {
  for _ in $(seq 100); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.05
  done
  echo "$me: nothing listens on port $1" >&2
  return 1
}
