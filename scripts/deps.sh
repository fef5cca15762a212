#!/usr/bin/env bash
# Install the Debian packages ferry's build, tests and demo need, when they
# are missing.  As root it runs apt-get; otherwise it prints the one line to
# run and fails.
#
#   scripts/deps.sh          install what is missing (root), or say what to run
#   scripts/deps.sh --list   print the missing packages on one line, install nothing
set -euo pipefail

# chromium: test-bench.sh renders ferry bench's SVG in a real browser (headless)
# and checks the screenshot.  On top of the rest of this list it costs ~125 MB
# of downloads and ~390 MiB on disk (23 packages, Debian 12); without it that
# one check is skipped.
# python3-prometheus-client: test-metrics.sh parses ferryd --metrics-file with
# Prometheus' own text parser rather than trusting our reading of the format.
pkgs=(build-essential pkg-config liburing-dev libzstd-dev libxxhash-dev libvirt-dev libxml2-dev
      clang libclang-rt-14-dev qemu-system-x86 busybox-static socat rsync python3
      cpio xz-utils kmod jq libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
      man-db groff-base bash-completion strace dpkg-dev debhelper lintian ansible-core chromium
      python3-prometheus-client)
missing=()
for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${1:-}" = --list ]; then
        echo "${missing[*]}"
        exit 0
fi
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
        echo "ferry: missing packages: ${missing[*]}" >&2
        echo "run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
fi
echo "ferry: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
