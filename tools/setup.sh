#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the mesh need.
# Idempotent: skips apt-get when everything is already installed.
set -euo pipefail

PACKAGES=(
  build-essential pkg-config meson ninja-build cmake
  libck-dev libuv1-dev libnng-dev libprotobuf-c-dev protobuf-c-compiler
  libyaml-dev libwebsockets-dev libcriterion-dev
  iproute2 procps clang-format git
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: need root to install: ${missing[*]} (run as root or with sudo)" >&2
  exit 1
fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
