#!/usr/bin/env bash
# One-time set-up on a fresh Debian 12 machine (as root): Debian packages for building and
# testing, npm packages, and the build itself. Idempotent: quick when everything is present.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: clang/llvm (eBPF objects; bpf/include declares what they use, no libbpf headers), gcc (addon).
# Tests and benchmarks: iproute2/util-linux (namespaces), iperf3, iputils-ping, the Go reference
# plugins (containernetworking-plugins) for differential runs, nftables/iptables (ipMasq).
APT_PACKAGES=(clang llvm gcc make iproute2 util-linux iputils-ping iperf3 strace
  containernetworking-plugins nftables iptables)
# Extra clients for the conformance suite (added by conformance/ when present).
if [[ -f scripts/ci-deps.sh ]]; then
  # shellcheck source=/dev/null
  source scripts/ci-deps.sh
  APT_PACKAGES+=("${CONFORMANCE_APT_PACKAGES[@]:-}")
  # podman's recommended helpers, named explicitly since we install without recommends.
  APT_PACKAGES+=(catatonit fuse-overlayfs slirp4netns uidmap)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  [[ -z "$p" ]] && continue
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  # The lockfile lists every platform's optional packages (rollup's native builds), so `npm ci`
  # installs exactly the locked tree on any machine.
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "setup: building dist/tscni"
npm run --silent build
