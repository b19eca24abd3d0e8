#!/usr/bin/env bash
# Measures frames/s and p99 round-trip latency of framed-server against the
# number of connections (64-byte frames, 1 in flight each) and plots both to
# bench/connections.png with gnuplot (scripts/setup.sh --with-plot installs it).
#   bench/plot.sh [BUILD_DIR] [DURATION]     (defaults: build/release 3s)
set -euo pipefail
build=${1:-build/release}
duration=${2:-3s}
bench="$build/bench/framed-bench"
[ -x "$bench" ] || { echo "plot: build first: cmake --workflow --preset release" >&2; exit 1; }
command -v gnuplot >/dev/null || { echo "plot: gnuplot missing: scripts/setup.sh --with-plot" >&2; exit 1; }

data=bench/connections.dat
echo "# connections frames_per_s p99_us" > "$data"
for n in 1 10 100 1000 10000; do
  json=$("$bench" --connections "$n" --depth 1 --size 64 --duration "$duration" --warmup 1s \
           --json --no-progress)
  fps=$(sed -n 's/.*"frames_per_s": \([0-9.]*\).*/\1/p' <<<"$json")
  p99=$(sed -n 's/.*"p99": \([0-9.]*\).*/\1/p' <<<"$json")
  echo "plot: $n connections: $fps frames/s, p99 $p99 us" >&2
  echo "$n $fps $p99" >> "$data"
done

gnuplot <<GNUPLOT
set terminal pngcairo size 900,500 font ",10" noenhanced
set output "bench/connections.png"
set title "framed-server: 64-byte frames, 1 in flight per connection ($(nproc) cores, loopback)"
set xlabel "connections"
set logscale x
set ylabel "frames/s"
set y2label "p99 round trip (us)"
set logscale y2
set ytics nomirror
set y2tics
set grid
set key top left
plot "$data" using 1:2 with linespoints lw 2 title "frames/s" axes x1y1, \
     "$data" using 1:3 with linespoints lw 2 title "p99 (us)" axes x1y2
GNUPLOT
echo "plot: wrote bench/connections.png" >&2
