#!/usr/bin/env bash
# framed-server with --metrics on and scraped every second, as a server for
# framed-bench and bench/ab.sh (the issue's "metrics on" case):
#   bench/ab.sh build/release 5 3s OLD/framed-server:epoll bench/metrics_scraped.sh:epoll
# Runs FRAMED_SERVER (default: build/release/src/framed-server beside this
# script's tree) with the arguments given plus --metrics on a free loopback
# port, and a scraper (bash's /dev/tcp, no process started per scrape) that
# GETs /metrics every second for as long as the server runs. The server
# replaces this script (exec), so its process is the one measured.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
server=${FRAMED_SERVER:-$here/build/release/src/framed-server}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
me=$$
(
  trap 'exit 0' TERM
  while sleep 1 && kill -0 "$me" 2>/dev/null; do
    if exec 3<>"/dev/tcp/127.0.0.1/$port"; then
      printf 'GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' >&3
      cat <&3 >/dev/null || true
      exec 3>&-
    fi
  done
) </dev/null >/dev/null 2>&1 &
exec "$server" "$@" --metrics "127.0.0.1:$port"
