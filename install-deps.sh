#!/usr/bin/env bash
# Installs the Debian packages Birga builds with (see ../shared/TOOLCHAIN.md), only those missing.
# Idempotent: when everything is present it checks dpkg and exits in about a second.
# As root it runs apt-get; otherwise it prints the exact line to run.
set -euo pipefail

packages=(
  build-essential cmake pkg-config git
  libsodium-dev liblmdb-dev lmdb-utils
  libcapnp-dev capnproto
  libboost1.81-dev catch2 libzstd-dev
  iproute2 python3
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages; run as root:" >&2
  echo "  apt-get update && $line" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends "${missing[@]}"
