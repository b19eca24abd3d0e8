#!/usr/bin/env bash
# Builds the Debian package from the build tree with cpack (in a scratch
# directory), checks that it holds every file an operator or a developer
# needs, and runs the programs extracted from it.
#   integration/deb_test.sh BUILD_DIR VERSION [BENCH]
# BENCH is ON when framed-bench was built (FRAMED_BUILD_BENCH), and so is in
# the package with its man page.
# Exits 77 (ctest: skipped) with the reason when a tool is missing.
set -euo pipefail
build=$1
version=$2
bench=${3:-ON}

skip() { echo "SKIP: $*"; exit 77; }
for tool in cpack dpkg-deb dpkg; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (Debian's dpkg / cmake)"
done
[ -f "$build/man/framed-server.8.gz" ] ||
  skip "no man pages in $build/man: help2man was missing at configure time (scripts/setup.sh)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
arch=$(dpkg --print-architecture)
deb=$work/out/framed_${version}_${arch}.deb

(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out") \
  >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log" >&2; exit 1; }
[ -f "$deb" ] || { echo "deb: $deb was not built; cpack made:" >&2; ls -R "$work/out" >&2; exit 1; }

fail=0
dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's|^\./|/|' >"$work/contents"
programs=(framed-server framed-client framed-conform framed-router)
expected=(/usr/share/man/man8/framed-server.8.gz /usr/share/man/man1/framed-client.1.gz
          /usr/share/man/man8/framed-router.8.gz)
if [ "$bench" = ON ]; then
  programs+=(framed-bench)
  expected+=(/usr/share/man/man1/framed-bench.1.gz)
fi
for p in "${programs[@]}"; do expected+=("/usr/bin/$p"); done
for f in "${expected[@]}" \
         /usr/include/framed/decoder.h /usr/include/framed/encoder.h \
         /usr/include/framed/endian.h /usr/include/framed/server.h \
         /usr/include/framed/version.h \
         /usr/lib/libframed_protocol.a /usr/lib/libframed_server.a \
         /usr/lib/libframed_detail_net.a /usr/lib/libframed_detail_loop.a \
         /usr/lib/cmake/framed/framedConfig.cmake /usr/lib/cmake/framed/framedConfigVersion.cmake \
         /usr/lib/cmake/framed/framedTargets.cmake /usr/lib/pkgconfig/framed.pc \
         /usr/lib/systemd/system/framed-server.service /usr/lib/systemd/system/framed-server.socket \
         /usr/share/doc/framed/README.md /usr/share/doc/framed/CHANGELOG.md \
         /etc/default/framed-server; do
  grep -qx -- "$f" "$work/contents" || { echo "deb: missing $f" >&2; fail=1; }
done
# Nothing outside /usr and /etc, and nothing from the build machine.
if grep -v -e '^/usr/' -e '^/etc/' -e '^/$' "$work/contents" >&2; then
  echo "deb: files outside /usr and /etc (above)" >&2
  fail=1
fi

# The control fields, the conffile and the maintainer scripts.
field() { dpkg-deb --field "$deb" "$1"; }
[ "$(field Package)" = framed ] || { echo "deb: Package is '$(field Package)'" >&2; fail=1; }
[ "$(field Version)" = "$version" ] || { echo "deb: Version is '$(field Version)'" >&2; fail=1; }
[ "$(field Architecture)" = "$arch" ] || { echo "deb: Architecture is '$(field Architecture)'" >&2; fail=1; }
[ -n "$(field Maintainer)" ] || { echo "deb: no Maintainer" >&2; fail=1; }
[ -n "$(field Description)" ] || { echo "deb: no Description" >&2; fail=1; }
case "$(field Depends)" in
  *libc6*libstdc++6*|*libstdc++6*libc6*) ;;
  *) echo "deb: Depends lacks libc6 or libstdc++6: '$(field Depends)'" >&2; fail=1 ;;
esac
# TLS: a server that links OpenSSL makes the package depend on its runtime.
if readelf -d "$build/src/framed-server" 2>/dev/null | grep -q 'libssl\.so'; then
  case "$(field Depends)" in
    *libssl3*) ;;
    *) echo "deb: framed-server links libssl but Depends lacks libssl3: '$(field Depends)'" >&2; fail=1 ;;
  esac
fi
dpkg-deb --control "$deb" "$work/control"
[ "$(cat "$work/control/conffiles")" = /etc/default/framed-server ] ||
  { echo "deb: conffiles is '$(cat "$work/control/conffiles" 2>/dev/null)'" >&2; fail=1; }
for script in postinst prerm postrm; do
  [ -x "$work/control/$script" ] && sh -n "$work/control/$script" ||
    { echo "deb: $script missing, not executable or not valid sh" >&2; fail=1; }
done

# The programs run from the extracted package.
dpkg-deb -x "$deb" "$work/root"
for prog in "${programs[@]}"; do
  got=$("$work/root/usr/bin/$prog" --version) || { echo "deb: $prog --version failed" >&2; fail=1; }
  [ "$got" = "$prog $version" ] || { echo "deb: $prog --version printed '$got'" >&2; fail=1; }
done
echo "deb: $("$work/root/usr/bin/framed-server" --version) from the extracted package"
# The man pages are gzipped roff with the program's name and section.
gzip -dc "$work/root/usr/share/man/man8/framed-server.8.gz" | grep -q '^\.TH FRAMED-SERVER "8"' ||
  { echo "deb: framed-server.8.gz is not section 8 roff" >&2; fail=1; }
gzip -dc "$work/root/usr/share/man/man1/framed-client.1.gz" | grep -q '^\.SH SYNOPSIS' ||
  { echo "deb: framed-client.1.gz has no SYNOPSIS" >&2; fail=1; }
# The unit starts the binary the package installs, configured by the file
# the package ships.
unit=$work/root/usr/lib/systemd/system/framed-server.service
grep -qx 'ExecStart=/usr/bin/framed-server $FRAMED_ARGS' "$unit" ||
  { echo "deb: the service does not start /usr/bin/framed-server \$FRAMED_ARGS" >&2; fail=1; }
grep -qx 'EnvironmentFile=-/etc/default/framed-server' "$unit" ||
  { echo "deb: the service does not read /etc/default/framed-server" >&2; fail=1; }
grep -q '^FRAMED_ARGS=' "$work/root/etc/default/framed-server" ||
  { echo "deb: /etc/default/framed-server sets no FRAMED_ARGS" >&2; fail=1; }
# The pkg-config file is relocatable: from the extracted root, its include
# directory is the extracted one.
if command -v pkg-config >/dev/null; then
  inc=$(PKG_CONFIG_PATH="$work/root/usr/lib/pkgconfig" pkg-config --cflags-only-I framed)
  inc=${inc#-I}
  inc=${inc%% *}
  [ -n "$inc" ] && [ "$(realpath "$inc")" = "$(realpath "$work/root/usr/include")" ] ||
    { echo "deb: pkg-config's include directory is '$inc'" >&2; fail=1; }
fi

# Installed with dpkg into a scratch root (its own database; the
# dependencies live in the real root, and the maintainer scripts, seeing
# DPKG_ROOT, leave this machine's systemd alone): the conffile is
# registered, and removal keeps it while purge deletes it, as Debian expects.
root=$work/dpkg-root
mkdir -p "$root/var/lib/dpkg/info" "$root/var/lib/dpkg/updates" "$root/var/lib/dpkg/triggers"
touch "$root/var/lib/dpkg/status"
dpkg_root() { dpkg --root="$root" --force-not-root --force-script-chrootless "$@" >>"$work/dpkg.log" 2>&1; }
if ! dpkg_root --force-depends -i "$deb"; then
  echo "deb: dpkg --root -i failed:" >&2; cat "$work/dpkg.log" >&2; fail=1
else
  got=$("$root/usr/bin/framed-server" --version) || true
  [ "$got" = "framed-server $version" ] || { echo "deb: installed --version printed '$got'" >&2; fail=1; }
  grep -qx /etc/default/framed-server "$root/var/lib/dpkg/info/framed.conffiles" ||
    { echo "deb: dpkg did not register the conffile" >&2; fail=1; }
  dpkg_root -r framed || { echo "deb: dpkg -r failed" >&2; cat "$work/dpkg.log" >&2; fail=1; }
  [ ! -e "$root/usr/bin/framed-server" ] && [ -f "$root/etc/default/framed-server" ] ||
    { echo "deb: after remove, the binary must be gone and the conffile kept" >&2; fail=1; }
  dpkg_root --purge framed || { echo "deb: dpkg --purge failed" >&2; cat "$work/dpkg.log" >&2; fail=1; }
  [ ! -e "$root/etc/default/framed-server" ] ||
    { echo "deb: after purge, /etc/default/framed-server is still there" >&2; fail=1; }
  echo "deb: installed, removed and purged in a scratch root with dpkg --root"
fi

[ "$fail" -eq 0 ] || exit 1
echo "deb: $(basename "$deb") ($(stat -c %s "$deb") bytes) has all $(grep -vc '/$' "$work/contents") files"
