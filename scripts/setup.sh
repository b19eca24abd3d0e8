#!/usr/bin/env bash
# Installs what framed needs from Debian 12 packages; a no-op when all is
# present. Safe to run any number of times.
set -euo pipefail

packages=(
  cmake ninja-build g++ make            # build
  liburing-dev                          # the io_uring backend (optional at build time)
  libssl-dev openssl                    # TLS (optional at build time); test certificates
  clang libclang-rt-14-dev              # clang build, libFuzzer, sanitizer runtimes
  libgtest-dev libgmock-dev             # unit and integration tests
  librapidcheck-dev                     # property tests
  libbenchmark-dev                      # micro-benchmarks
  clang-format clang-tidy valgrind      # quality gate
  python3                               # scripts/mutation
  haproxy                               # integration/haproxy_test.cc (PROXY protocol)
  prometheus                            # integration/metrics_test.cc (a real scrape; promtool)
  jq                                    # JSON logs and the Grafana dashboard, checked in tests
  help2man dpkg-dev                     # man pages, the .deb's computed Depends
  doxygen                               # the API reference (cmake --build ... --target docs)
)
# bench/plot.sh also needs gnuplot: scripts/setup.sh --with-plot; the
# benchmark peers (bench/scenarios.sh, bench/tls_peers.sh): scripts/setup.sh --with-peers.
for arg in "$@"; do
  case $arg in
    --with-plot) packages+=(gnuplot-nox) ;;
    --with-peers) packages+=(libboost1.74-doc libboost-dev nodejs nginx libnginx-mod-stream stunnel4) ;;
    *) echo "setup: unknown option $arg (--with-plot, --with-peers)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup: need root or sudo to install packages" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
