#!/usr/bin/env bash
# Paired A/B of two servers: each scenario runs A then B (or B then A,
# alternating) back to back, N times; the ratio B/A of server CPU per frame
# and of frames/s is taken within each pair, and the median ratio is
# reported. Pairs adjacent in time cancel this machine's drift, which moves
# absolute figures by up to 2x over minutes.
#   bench/ab.sh [BUILD_DIR] [PAIRS] [DURATION] [A] [B]   (build/release 5 3s epoll io_uring)
# A and B are each a backend of BUILD_DIR's framed-server ("epoll"), or a
# server binary with an optional backend ("/tmp/old/build/release/src/
# framed-server:epoll", "build/release/bench/floor-uring"): two builds, or
# framed-server against the floor of a minimal echo loop.
# SCENARIOS (space-separated names) picks scenarios; all by default.
set -euo pipefail
build=${1:-build/release}
pairs=${2:-5}
duration=${3:-3s}
a=${4:-epoll}
b=${5:-io_uring}
bench="$build/bench/framed-bench"
[ -x "$bench" ] || { echo "ab: build first: cmake --workflow --preset release" >&2; exit 1; }

scenarios=(
  "small --connections 50 --depth 16 --size 64"
  "bulk --connections 50 --depth 2 --size 64KiB"
  "ping-pong --connections 1 --depth 1 --size 64"
  "conns-1000 --connections 1000 --depth 1 --size 64"
  "conns-10000 --connections 10000 --depth 1 --size 64"
)
field() { sed -n "s/.*\"$1\": \([-0-9.]*\).*/\1/p" <<<"$2"; }
one() {  # server (see above), then framed-bench arguments; prints "fps cpu"
  local spec=$1; shift
  local server=() j
  if [[ $spec == */* ]]; then
    server=(--server "${spec%%:*}")
    [[ $spec == *:* ]] && server+=(--server-arg --backend --server-arg "${spec##*:}")
  else
    server=(--server-arg --backend --server-arg "$spec")
  fi
  j=$("$bench" "$@" --duration "$duration" --warmup 1s --json --no-progress "${server[@]}")
  echo "$(field frames_per_s "$j") $(field server_cpu_us_per_frame "$j")"
}

echo "# $b vs $a, $pairs pairs per scenario, $duration each, order alternating"
echo "# scenario | median $b/$a server CPU per frame | median $b/$a frames/s | pairs (cpu ratio)"
for sc in "${scenarios[@]}"; do
  read -r -a words <<<"$sc"
  name=${words[0]}
  if [[ -n ${SCENARIOS:-} && " $SCENARIOS " != *" $name "* ]]; then continue; fi
  args=("${words[@]:1}")
  cpu_ratios=()
  fps_ratios=()
  for ((i = 0; i < pairs; ++i)); do
    if ((i % 2 == 0)); then
      read -r fa ca <<<"$(one "$a" "${args[@]}")"
      read -r fb cb <<<"$(one "$b" "${args[@]}")"
    else
      read -r fb cb <<<"$(one "$b" "${args[@]}")"
      read -r fa ca <<<"$(one "$a" "${args[@]}")"
    fi
    cpu_ratios+=("$(awk -v x="$cb" -v y="$ca" 'BEGIN { printf "%.3f", x / y }')")
    fps_ratios+=("$(awk -v x="$fb" -v y="$fa" 'BEGIN { printf "%.3f", x / y }')")
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
  echo "$name | $(median "${cpu_ratios[@]}")x | $(median "${fps_ratios[@]}")x | ${cpu_ratios[*]}"
done
