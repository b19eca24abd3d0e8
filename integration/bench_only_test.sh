#!/usr/bin/env bash
# A tree configured for the benchmarks without the tests
# (-DFRAMED_BUILD_TESTS=OFF) builds the benchmarks' support library: the
# allocation guard, which needs a shim only the tests build, is left out.
# Compiled at -O0 -g0 into a scratch directory, removed at the end.
#   bench_only_test.sh SOURCE_DIR
set -euo pipefail
src=$1
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cmake -S "$src" -B "$scratch" -G Ninja -DFRAMED_BUILD_TESTS=OFF -DFRAMED_BUILD_BENCH=ON \
  -DCMAKE_BUILD_TYPE= -DCMAKE_CXX_FLAGS="-O0 -g0" > "$scratch/configure.log" 2>&1 ||
  { cat "$scratch/configure.log"; echo "bench_only_test: configure failed" >&2; exit 1; }
# Its objects alone: the libraries it links are built (and tested) elsewhere.
mapfile -t objects < <(ninja -C "$scratch" -t targets all |
                       sed -n 's|^\(testsupport/CMakeFiles/framed_testsupport\.dir/[^:]*\.o\):.*|\1|p')
if ((${#objects[@]} == 0)); then
  echo "bench_only_test: no object of framed_testsupport in the build" >&2
  exit 1
fi
if ! ninja -C "$scratch" "${objects[@]}" > "$scratch/build.log" 2>&1; then
  tail -n 30 "$scratch/build.log"
  echo "bench_only_test: framed_testsupport does not build without the tests" >&2
  exit 1
fi
echo "bench_only_test: framed_testsupport builds without the tests"
