#!/usr/bin/env bash
# Measures how long a task posted from another thread (Loop::post) waits
# until it runs on loop 0, against the floor of this machine: the stalls a
# thread that never blocks suffers anyway (floor-stall). Three rows per
# round: the floor on the idle machine, the post probe of an idle
# timer-echo, and the probe under load (conns-1000: 1000 connections x 64 B,
# one in flight each, the loop saturated). Prints a Markdown table with the
# range over RUNS rounds.
#   bench/post_probe.sh [BUILD_DIR] [DURATION] [RUNS]   (build/release 5s 2)
set -euo pipefail
build=${1:-build/release}
duration=${2:-5s}
runs=${3:-2}
bench="$build/bench/framed-bench"
echo_bin="$build/bench/timer-echo"
floor="$build/bench/floor-stall"
for b in "$bench" "$echo_bin" "$floor"; do
  [ -x "$b" ] || { echo "post_probe: $b is missing: cmake --workflow --preset release" >&2; exit 1; }
done
seconds=${duration%s}
[[ $seconds =~ ^[0-9]+$ ]] || { echo "post_probe: DURATION must be whole seconds, such as 5s" >&2; exit 2; }

me=post_probe
# shellcheck source=bench/peers/lib.sh
source "$(dirname "$0")/peers/lib.sh"

results=$tmp/results.txt
: >"$results"
for round in $(seq "$runs"); do
  # The floor: nothing else runs.
  rm -f "$tmp/idle.txt" "$tmp/busy.txt"  # A round that writes none must not reuse the last.
  line=$("$floor" --duration "$duration")
  sed -nE 's/.*p50 ([0-9.]+) us, p99 ([0-9.]+) us.*longest stall ([0-9.]+) us/floor \1 \2 \3/p' \
    <<<"$line" >>"$results"

  # An idle loop: the probe alone, for DURATION.
  FRAMED_POST_PROBE=$tmp/idle.txt start_listening timer-echo "$echo_bin" --port 0 --log-level warn
  sleep "$seconds"
  kill -INT "$started_pid"
  wait "$started_pid" || true
  pids=()
  if [ -s "$tmp/idle.txt" ]; then awk '{print "idle", $4, $6, $8}' "$tmp/idle.txt" >>"$results"
  else echo "post_probe: round $round: the idle probe wrote nothing" >&2; fi

  # The loop saturated by 1000 connections.
  FRAMED_POST_PROBE=$tmp/busy.txt "$bench" --server "$echo_bin" --server-arg --max-conns \
    --server-arg 2000 --connections 1000 --depth 1 --size 64 --duration "$duration" --warmup 1s \
    --no-progress >"$tmp/bench.txt"
  if [ -s "$tmp/busy.txt" ]; then awk '{print "busy", $4, $6, $8}' "$tmp/busy.txt" >>"$results"
  else echo "post_probe: round $round: the probe under load wrote nothing" >&2; fi
  echo "post_probe: round $round done" >&2
done

python3 - "$results" <<'PY'
import sys
rows = {}
for line in open(sys.argv[1]):
    kind, *v = line.split()
    rows.setdefault(kind, []).append([float(x) for x in v])
def rng(v):
    lo, hi = min(v), max(v)
    return f'{lo:.1f}' if f'{lo:.1f}' == f'{hi:.1f}' else f'{lo:.1f}-{hi:.1f}'
names = {
    'floor': 'floor-stall, idle machine (a thread that never blocks)',
    'idle': 'post() to an idle loop (timer-echo, no load)',
    'busy': 'post() to a saturated loop (conns-1000)',
}
print('| measure | p50 µs | p99 µs | max µs |')
print('|---|---|---|---|')
for k in ('floor', 'idle', 'busy'):
    v = rows.get(k, [])
    if v:
        print(f'| {names[k]} | ' + ' | '.join(rng([r[i] for r in v]) for i in range(3)) + ' |')
PY
