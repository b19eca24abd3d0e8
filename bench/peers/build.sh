#!/usr/bin/env bash
# Builds the Boost.Asio echo peer from the example Debian ships, unmodified:
# async_tcp_echo_server.cpp from libboost1.74-doc, compiled against
# libboost-dev with the same compiler and -O2 as a release build of ours.
#   bench/peers/build.sh OUT_DIR     -> OUT_DIR/asio-echo PORT
# Exits 3 (and says how to get them) when the packages are absent.
set -euo pipefail
out=${1:?usage: bench/peers/build.sh OUT_DIR}
src=/usr/share/doc/libboost1.74-doc/examples/libs/asio/example/cpp11/echo/async_tcp_echo_server.cpp
if [ ! -f "$src" ] || [ ! -d /usr/include/boost/asio ]; then
  echo "peers: Boost.Asio example missing: apt-get install libboost1.74-doc libboost-dev" \
       "(or scripts/setup.sh --with-peers)" >&2
  exit 3
fi
mkdir -p "$out"
if [ ! -x "$out/asio-echo" ] || [ "$src" -nt "$out/asio-echo" ]; then
  g++ -std=c++17 -O2 -DNDEBUG -o "$out/asio-echo" "$src" -pthread
fi
echo "$out/asio-echo"
