#!/usr/bin/env bash
# Checks deploy/framed-server.service and .socket the way systemd reads them:
# `systemd-analyze verify` (syntax, unknown keys, the ExecStart binary, the
# man page the units cite) on copies whose ExecStart is the built binary,
# since /usr/bin/framed-server need not exist here; and
# `systemd-analyze security --offline` for the hardening.
#   integration/units_test.sh SOURCE_DIR SERVER_BINARY MAN_DIR
# Exits 77 (ctest: skipped) with the reason when systemd-analyze is missing.
set -euo pipefail
src=$1
server=$2
man=$3

command -v systemd-analyze >/dev/null || skip_reason="systemd-analyze is not installed (Debian's systemd)"
if [ -n "${skip_reason:-}" ]; then echo "SKIP: $skip_reason"; exit 77; fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail=0

unit=$src/deploy/framed-server.service
# The package relies on this exact line (the path it installs to).
grep -qx 'ExecStart=/usr/bin/framed-server $FRAMED_ARGS' "$unit" ||
  { echo "units: ExecStart is not '/usr/bin/framed-server \$FRAMED_ARGS'" >&2; fail=1; }
for key in Type=notify DynamicUser=yes NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes \
           PrivateTmp=yes PrivateDevices=yes 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX' \
           CapabilityBoundingSet= SystemCallArchitectures=native SystemCallFilter=@system-service \
           KillSignal=SIGTERM 'EnvironmentFile=-/etc/default/framed-server'; do
  grep -qx -- "$key" "$unit" || { echo "units: the service lacks '$key'" >&2; fail=1; }
done
# Reload is SIGHUP (the TLS certificate), never a stop signal.
grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$unit" ||
  { echo "units: ExecReload= is not '/bin/kill -HUP \$MAINPID'" >&2; fail=1; }
# systemd must wait longer than the server's drain, or it kills a drain in
# progress. The default --drain-timeout is 5s.
stop=$(sed -n 's/^TimeoutStopSec=\([0-9]*\)s\{0,1\}$/\1/p' "$unit")
[ -n "$stop" ] && [ "$stop" -gt 5 ] ||
  { echo "units: TimeoutStopSec='$stop' is not above the 5s drain timeout" >&2; fail=1; }

cp "$src/deploy/framed-server.socket" "$work/"
sed "s|^ExecStart=/usr/bin/framed-server |ExecStart=$server |" "$unit" >"$work/framed-server.service"
# The TLS drop-in (deploy/framed-server-tls.conf) is verified with the unit.
mkdir -p "$work/framed-server.service.d"
sed "s|^ExecStart=/usr/bin/framed-server |ExecStart=$server |" "$src/deploy/framed-server-tls.conf" \
  >"$work/framed-server.service.d/tls.conf"
grep -q '^LoadCredential=tls-key:' "$work/framed-server.service.d/tls.conf" ||
  { echo "units: the TLS drop-in does not load the key as a credential" >&2; fail=1; }
# Documentation=man:framed-server(8) is checked with man(1): offer the page
# the build generated (without help2man there is none to check).
man_check=(--man=yes)
if [ -f "$man/framed-server.8.gz" ]; then
  mkdir -p "$work/man/man8"
  cp "$man/framed-server.8.gz" "$work/man/man8/"
else
  echo "units: no generated man page (help2man missing): Documentation= not checked"
  man_check=(--man=no)
fi
# verify exits 0 on warnings such as an unknown key: any output is a finding.
if ! MANPATH=$work/man systemd-analyze verify "${man_check[@]}" "$work/framed-server.socket" \
     "$work/framed-server.service" >"$work/verify.log" 2>&1 || [ -s "$work/verify.log" ]; then
  echo "units: systemd-analyze verify:" >&2
  cat "$work/verify.log" >&2
  fail=1
fi

# Overall exposure as systemd-analyze security rates it, 0 (locked down) to
# 10 (unprotected); "OK" is below 2.0 (offline needs systemd 250 or later).
if systemd-analyze security --offline=true "$work/framed-server.service" >"$work/security.log" 2>&1; then
  level=$(sed -n 's/.*Overall exposure level for framed-server.service: \([0-9.]*\).*/\1/p' "$work/security.log")
  echo "units: systemd-analyze security: exposure $level"
  awk -v l="$level" 'BEGIN { exit !(l != "" && l + 0 < 2.0) }' ||
    { echo "units: exposure '$level' is not below 2.0:" >&2; cat "$work/security.log" >&2; fail=1; }
else
  echo "units: systemd-analyze security --offline is not available here; not rated"
fi

[ "$fail" -eq 0 ] || exit 1
echo "units: framed-server.service and framed-server.socket verify cleanly"
