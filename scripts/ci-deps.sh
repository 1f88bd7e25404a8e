#!/usr/bin/env bash
# Debian packages the conformance harness, the libcni client test and the podman test need.
# Sourced by scripts/setup.sh, which reads CONFORMANCE_APT_PACKAGES; run directly, it installs
# whatever of them is missing (idempotent: apt-get only when something is missing).
#   containernetworking-plugins  Go reference plugins (/usr/lib/cni) the harness compares against
#   golang-go, golang-github-appc-cni-dev  build the libcni driver offline (GOPATH mode)
#   podman, runc, conmon  the podman test (CNI backend; crun fails on this VM)
#   busybox-static  the podman test's rootfs
#   containerd  the CRI end-to-end test and scripts/bench-cri.ts (a private instance per test)
#   iproute2, iptables  namespaces; the reference bridge's masquerade code
CONFORMANCE_APT_PACKAGES=(containernetworking-plugins iproute2 iptables golang-go golang-github-appc-cni-dev
  podman runc conmon busybox-static containerd)

if [[ "${BASH_SOURCE[0]}" != "$0" ]]; then
  return 0 # sourced: the caller installs
fi

set -euo pipefail
missing=()
for p in "${CONFORMANCE_APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "ci-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
