#!/usr/bin/env bash
# The main job: start framed-server on a free port, run the stress test
# (50 clients x 100 frames) against it, show the summary, then stop the
# server with SIGINT and show its shutdown log and counters.
set -euo pipefail
build=${1:-build/release}
server="$build/src/framed-server"
stress="$build/integration/stress"
for bin in "$server" "$stress"; do
  [ -x "$bin" ] || { echo "demo: $bin is missing; build first (make run does)" >&2; exit 1; }
done

log=$(mktemp)
out=$(mktemp)
trap 'kill "$pid" 2>/dev/null || true; rm -f "$log" "$out"' EXIT

"$server" --port 0 >"$out" 2>"$log" &
pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$out" && break
  kill -0 "$pid" 2>/dev/null || { echo "demo: framed-server exited:" >&2; cat "$log" >&2; exit 1; }
  sleep 0.05
done
line=$(head -n1 "$out")
[ -n "$line" ] || { echo "demo: framed-server did not start" >&2; cat "$log" >&2; exit 1; }
port=${line##*:}
echo "== framed-server: $line"

echo "== stress test: 50 clients x 100 frames against port $port"
status=0
"$stress" --port "$port" --clients 50 --frames 100 --seed 42 || status=$?

echo "== stopping framed-server with SIGINT"
kill -INT "$pid"
server_status=0
wait "$pid" || server_status=$?
echo "== framed-server log (exit status $server_status):"
cat "$log"
[ "$status" -eq 0 ] && [ "$server_status" -eq 0 ]
