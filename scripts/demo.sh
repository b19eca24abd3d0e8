#!/usr/bin/env bash
# The main job until the server exists: decoder throughput on this machine.
set -euo pipefail
build=${1:-build/release}
"$build/bench/decoder_bench" --benchmark_filter='Decode/size:(16|65536)/chunk:(0|1)$'
