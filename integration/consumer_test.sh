#!/usr/bin/env bash
# Installs framed into a temporary prefix and builds against that prefix
# only: examples/ as a separate CMake project (find_package(framed 1.1)),
# and a one-file program with pkg-config. Then runs what it built. This is
# what catches a header that was never installed or a target that leaks a
# build-tree path.
#   integration/consumer_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; rm -rf "$work"' EXIT

cmake --install "$build" --prefix "$work/prefix" >/dev/null
if grep -rq -e "$src" -e "$build" "$work/prefix/lib/cmake/framed"; then
  echo "consumer: the installed package refers to the build or source tree:" >&2
  grep -rn -e "$src" -e "$build" "$work/prefix/lib/cmake/framed" >&2
  exit 1
fi

# liburing is named by its runtime library's path, never as `uring`, which
# only liburing-dev's link satisfies.
if grep -Eq '[";]uring[";]' "$work/prefix/lib/cmake/framed/framedTargets.cmake"; then
  echo "consumer: the package links liburing by name (needs liburing-dev):" >&2
  grep -n uring "$work/prefix/lib/cmake/framed/framedTargets.cmake" >&2
  exit 1
fi

# The examples, copied out of the tree so that nothing there is reachable.
cp -r "$src/examples" "$work/examples"
cmake -S "$work/examples" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_BUILD_TYPE=Release >"$work/configure.log" 2>&1 ||
  { cat "$work/configure.log" >&2; exit 1; }
cmake --build "$work/build" -j 2 >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
"$work/build/framed-decode"
"$work/build/framed-broadcast" --version
"$work/build/framed-kv" --version
# The library embedded: two servers, a client, a timer, a post, a connect.
"$work/build/framed-embed" >"$work/embed.out" || { cat "$work/embed.out"; exit 1; }

# The relay runs: it listens, and drains on SIGINT.
"$work/build/framed-broadcast" --port 0 >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 100); do grep -q '^listening on ' "$work/out" && break; sleep 0.05; done
grep '^listening on 127.0.0.1:' "$work/out" || { cat "$work/err" >&2; exit 1; }
kill -INT "$pid"
wait "$pid"
pid=

# A one-file program built with pkg-config alone.
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
c++ -o "$work/decode-pc" "$work/examples/decode/decode.cc" $(pkg-config --cflags --libs framed)
"$work/decode-pc"
# And a server program with pkg-config alone (framed-server.pc).
c++ -o "$work/broadcast-pc" "$work/examples/broadcast/main.cc" "$work/examples/broadcast/options.cc" \
  $(pkg-config --cflags --libs framed-server)
"$work/broadcast-pc" --version
echo "consumer: installed package, CMake and pkg-config builds all work"
