#!/usr/bin/env bash
# Installs every Debian package shardnode needs to build and test, and makes sure
# apt has a deb-src entry so tor's source package can be fetched. Idempotent: a
# second run installs nothing and changes nothing. Arguments name further packages
# (scripts/fuzz.sh and scripts/tsan.sh add clang's).
set -euo pipefail

PKGS=(
  build-essential cmake ninja-build pkg-config dpkg-dev git ca-certificates ccache
  libboost-dev libboost-system-dev
  libprotobuf-dev protobuf-compiler
  libsodium-dev libspdlog-dev libfmt-dev
  catch2 libtomlplusplus-dev libcli11-dev nlohmann-json3-dev
  libssl-dev libsqlite3-dev
  python3 python3-protobuf python3-cryptography
  # tor's build dependencies (for libtor.a)
  libevent-dev zlib1g-dev liblzma-dev libzstd-dev
  # the Debian package's checks (tests/package_test.sh): lintian, man, systemd-analyze
  lintian man-db systemd
  # obfs4 bridges of the private network and the node's tor.transport_plugins
  obfs4proxy
)
PKGS+=("$@")

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# A deb-src entry mirroring the configured binary archive (deb822 or one-line style).
have_src() {
  grep -rqsE '^(deb-src|Types:.*deb-src)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}
updated=0
if ! have_src; then
  echo "install-deps: adding a deb-src entry (needed for tor's source package)"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed -E 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources |
      $SUDO tee /etc/apt/sources.list.d/shardnode-deb-src.sources >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | sed -E 's/^deb /deb-src /' |
      $SUDO tee /etc/apt/sources.list.d/shardnode-deb-src.list >/dev/null
  else
    echo "install-deps: no apt sources found; cannot add deb-src" >&2
    exit 1
  fi
  $SUDO apt-get update -qq
  updated=1
fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  [ "$updated" = 1 ] || $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's tor binary (/usr/bin/tor, /usr/bin/tor-gencert) for `shardnode testnet`, a
# private Tor network on 127.0.0.1. Its system service would join the public Tor
# network, so it is neither started nor enabled: a policy-rc.d that exits 101 blocks
# invoke-rc.d during the install (any previous policy-rc.d is restored afterwards),
# and the init script / unit is disabled.
tor_service_pids() {  # tor processes started as Debian's service (its defaults file or /etc/tor/torrc)
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/exe" 2>/dev/null)" = /usr/bin/tor ] || continue
    tr '\0' ' ' < "$p/cmdline" 2>/dev/null | grep -qE 'tor-service-defaults-torrc|/etc/tor/torrc' && echo "${p#/proc/}"
  done
  return 0
}
if ! dpkg-query -W -f='${Status}' tor 2>/dev/null | grep -q "install ok installed"; then
  echo "install-deps: installing Debian's tor (binary only; its service is not started or enabled)"
  PRC=/usr/sbin/policy-rc.d
  PRC_SAVED=""
  if [ -e "$PRC" ]; then PRC_SAVED=$(mktemp); $SUDO cp -p "$PRC" "$PRC_SAVED"; fi
  restore_policy() {
    if [ -n "$PRC_SAVED" ]; then $SUDO cp -p "$PRC_SAVED" "$PRC"; rm -f "$PRC_SAVED"; PRC_SAVED=""
    else $SUDO rm -f "$PRC"; fi
  }
  trap restore_policy EXIT
  printf '#!/bin/sh\n# scripts/install-deps.sh: no service starts while tor is installed\nexit 101\n' |
    $SUDO tee "$PRC" >/dev/null
  $SUDO chmod 755 "$PRC"
  [ "$updated" = 1 ] || { $SUDO apt-get update -qq; updated=1; }
  $SUDO apt-get install -y -qq --no-install-recommends tor >/dev/null
  restore_policy
  trap - EXIT
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --quiet tor.service >/dev/null 2>&1 || true
    $SUDO systemctl stop tor.service 'tor@*.service' >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null 2>&1 && [ -e /etc/init.d/tor ]; then
    $SUDO update-rc.d tor disable >/dev/null 2>&1 || true
  fi
fi
if [ -d /run/systemd/system ] && systemctl is-active --quiet tor.service 2>/dev/null; then
  echo "install-deps: the system tor service is running; stop it: systemctl disable --now tor" >&2
  exit 1
fi
svc=$(tor_service_pids)
if [ -n "$svc" ]; then
  echo "install-deps: Debian's tor service is running (pid $svc); stop it (e.g. invoke-rc.d tor stop)" >&2
  exit 1
fi

# Node.js for the js-libp2p interop tests (js-libp2p 2.x needs Node >= 20).
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: installing Debian's nodejs and npm"
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  echo "install-deps: warning: Node.js $(node --version 2>/dev/null) is older than 20; the js-libp2p interop tests need Node >= 20" >&2
fi
echo "install-deps: all packages present"
