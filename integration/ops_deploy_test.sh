#!/usr/bin/env bash
# deploy/prometheus and deploy/grafana against the real server: the scrape
# configuration and alert rules pass promtool (and the rules' unit tests),
# the dashboard is JSON, and every metric the rules and the dashboard name
# is one a running framed-server --metrics serves (so a renamed metric
# cannot leave a dead alert or an empty panel behind).
#   integration/ops_deploy_test.sh SOURCE_DIR FRAMED_SERVER
# Exits 77 (skipped) without promtool or jq.
set -euo pipefail
src=${1:?source dir}
server=${2:?framed-server}
command -v promtool >/dev/null || { echo "SKIP: promtool missing (Debian's prometheus)"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

cd "$src/deploy/prometheus"
promtool check config prometheus.yml
promtool check rules framed-alerts.yml
promtool test rules framed-alerts.test.yml
jq -e '.panels | length > 0' "$src/deploy/grafana/framed-dashboard.json" >/dev/null

"$server" --port 0 --metrics 127.0.0.1:0 --max-conns-per-ip 8 >"$tmp/out" 2>"$tmp/err" &
pid=$!
port=
for _ in $(seq 100); do
  port=$(grep -o 'metrics on http://127.0.0.1:[0-9]*' "$tmp/err" | grep -o '[0-9]*$' || true)
  [ -n "$port" ] && break
  sleep 0.05
done
[ -n "$port" ] || { echo "the server did not report its metrics port:"; cat "$tmp/err"; exit 1; }
python3 - "$port" >"$tmp/metrics" <<'PY'
import sys, urllib.request
print(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read().decode())
PY
promtool check metrics <"$tmp/metrics"
served=$(grep -v '^#' "$tmp/metrics" | grep -o '^[a-z_]*' | sort -u)
named=$( { grep -o 'framed_[a-z_]*' framed-alerts.yml; jq -r '.. | .expr? // empty' "$src/deploy/grafana/framed-dashboard.json" | grep -o 'framed_[a-z_]*'; } | sort -u)
missing=0
for m in $named; do
  if ! grep -qx "$m" <<<"$served"; then
    echo "named in deploy/ but not served: $m"
    missing=1
  fi
done
[ "$missing" -eq 0 ] || exit 1
echo "deploy/prometheus and deploy/grafana: $(wc -w <<<"$named") metrics named, all served"
