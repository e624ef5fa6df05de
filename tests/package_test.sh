#!/usr/bin/env bash
# The Debian package as an operator gets it: CPack builds the .deb from this build
# directory (whatever its build type: CI's is ASan, scripts/package.sh makes a Release
# one), lintian finds no error in it, `dpkg-deb -x` unpacks it into a temporary root
# where the installed binary runs, the unit passes `systemd-analyze verify`, the
# conffile is refused until a Tor network is chosen and checks once one is, and the
# Python client imports with its bundled protobuf classes.
#
# Usage: package_test.sh BUILD_DIR SOURCE_DIR
set -u
BUILD=$(cd "$1" && pwd)
SRC=$(cd "$2" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
ok() { echo "ok   - $*"; }
bad() { echo "FAIL - $*"; fails=$((fails + 1)); }
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"

for tool in cpack lintian dpkg-deb systemd-analyze; do
  command -v "$tool" >/dev/null || { echo "FAIL - $tool is not installed (scripts/install-deps.sh installs it)"; exit 1; }
done

# 1. the package
if (cd "$BUILD" && timeout 600 cpack -G DEB -B "$T/deb" >"$T/cpack.log" 2>&1); then
  DEB=$(ls "$T"/deb/shardnode_*.deb 2>/dev/null | head -1)
fi
if [ -n "${DEB:-}" ] && [ -f "$DEB" ]; then
  ok "cpack built $(basename "$DEB") ($(du -h "$DEB" | cut -f1))"
else
  tail -30 "$T/cpack.log"
  bad "cpack built no .deb"
  exit 1
fi

# 2. lintian: no errors (warnings are printed, not fatal)
if timeout 600 lintian --fail-on error --tag-display-limit 0 "$DEB" >"$T/lintian.log" 2>&1; then
  ok "lintian: no errors ($(grep -c '^W:' "$T/lintian.log") warnings, $(grep -c '^I:' "$T/lintian.log") infos)"
else
  bad "lintian reported errors"
fi
sed 's/^/    lintian: /' "$T/lintian.log" | head -40

# 3. the package's contents, unpacked into a temporary root
R="$T/root"
dpkg-deb -x "$DEB" "$R" && ok "dpkg-deb -x unpacked it" || bad "dpkg-deb -x"
for f in usr/bin/shardnode etc/shardnode/shardnode.toml lib/systemd/system/shardnode.service \
         usr/share/man/man1/shardnode.1.gz usr/share/doc/shardnode/copyright usr/share/doc/shardnode/changelog.Debian.gz \
         usr/share/doc/shardnode/examples/validator.toml usr/lib/python3/dist-packages/shardnode_client/control_pb2.py; do
  [ -e "$R/$f" ] || bad "missing /$f"
done
dpkg-deb -f "$DEB" Depends | grep -q "libsodium" && ok "Depends computed from the binary: $(dpkg-deb -f "$DEB" Depends | cut -c1-100)..." ||
  bad "Depends lacks the shared libraries"
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles 2>/dev/null | grep -qx /etc/shardnode/shardnode.toml &&
  ok "/etc/shardnode/shardnode.toml is a conffile" || bad "conffiles"

if "$R/usr/bin/shardnode" version >"$T/version" 2>&1 && grep -q "^shardnode " "$T/version" && grep -q "^tor 0\.4\." "$T/version"; then
  ok "the installed binary runs: $(tr '\n' ' ' < "$T/version")"
else
  cat "$T/version"
  bad "shardnode version from the unpacked package"
fi

zcat "$R/usr/share/man/man1/shardnode.1.gz" > "$T/shardnode.1"
grep -q '^\.SS ctl jump' "$T/shardnode.1" && grep -q '^\.TH SHARDNODE 1' "$T/shardnode.1" &&
  ok "man page generated from the CLI's help (commands and ctl subcommands)" || bad "man page"
if LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$T/shardnode.1" >/dev/null 2>"$T/man.err" && [ ! -s "$T/man.err" ]; then
  ok "man renders it without warnings"
else
  head -5 "$T/man.err"
  bad "man --warnings"
fi

# 4. the unit, checked inside the unpacked root (the binary it names must exist there);
# the root gets the system's own units (targets it is ordered against) and man pages.
mkdir -p "$R/lib/systemd/system"
cp -rn /lib/systemd/system/. "$R/lib/systemd/system/" 2>/dev/null
# (verify exits 0 on an unknown key, with a warning: any output fails the check)
if MANPATH="$R/usr/share/man:" systemd-analyze verify --root="$R" /lib/systemd/system/shardnode.service >"$T/verify.log" 2>&1 &&
  [ ! -s "$T/verify.log" ]; then
  ok "systemd-analyze verify: the unit is clean (no warning either)"
else
  cat "$T/verify.log"
  bad "systemd-analyze verify"
fi
for k in "DynamicUser=yes" "StateDirectory=shardnode" "ProtectSystem=strict" "NoNewPrivileges=yes" \
         "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK" "CapabilityBoundingSet="; do
  grep -qx "$k" "$R/lib/systemd/system/shardnode.service" || bad "unit lacks $k"
done

# 5. the conffile: refused until a network is chosen (run would refuse it), then ok
"$R/usr/bin/shardnode" config --check "$R/etc/shardnode/shardnode.toml" >"$T/out" 2>"$T/err"; rc=$?
[ "$rc" = 2 ] && grep -q "tor.testnet.*needs a network" "$T/err" &&
  ok "the packaged config is refused until a Tor network is chosen" || { cat "$T/err"; bad "packaged config without a network (rc $rc)"; }
grep -q '^datadir = "/var/lib/shardnode"' "$R/etc/shardnode/shardnode.toml" || bad "the packaged config's datadir"
sed 's/^# public_network = true/public_network = true/' "$R/etc/shardnode/shardnode.toml" > "$T/chosen.toml"
"$R/usr/bin/shardnode" config --check "$T/chosen.toml" >"$T/out" 2>&1 &&
  ok "with tor.public_network chosen it checks" || { cat "$T/out"; bad "packaged config with a network"; }

# 6. the Python client, from the package alone (bundled control_pb2, no protoc run)
# Debian's python3, which the package depends on (not another one first in PATH)
if env -u SHARDNODE_CONTROL_PROTO PYTHONPATH="$R/usr/lib/python3/dist-packages" XDG_CACHE_HOME="$T/cache" /usr/bin/python3 -c "
import shardnode_client, shardnode_client._proto as p
assert p.pb.__file__.startswith('$R'), p.pb.__file__
print(p.pb.Request.DESCRIPTOR.full_name)" >"$T/py" 2>&1 && [ ! -e "$T/cache/shardnode" ]; then
  ok "the Python client imports with its bundled classes ($(cat "$T/py"))"
else
  cat "$T/py"
  bad "Python client from the package"
fi

echo
[ "$fails" = 0 ] && echo "package: all checks passed" || echo "package: $fails check(s) failed"
[ "$fails" = 0 ]
