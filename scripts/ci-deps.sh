#!/bin/sh
# Debian packages the conformance harness, the libcni client test and the podman test need.
# Idempotent: installs only what is missing (apt-get update only then). Called from .ci/run.
set -eu
PACKAGES="containernetworking-plugins iproute2 iptables golang-go golang-github-appc-cni-dev podman runc busybox-static"
missing=""
for p in $PACKAGES; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "ci-deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq $missing
fi
