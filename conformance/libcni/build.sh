#!/bin/sh
# Build conformance/libcni/main.go against Debian's libcni sources, offline, in GOPATH mode.
# Needs: golang-go golang-github-appc-cni-dev (scripts/ci-deps.sh installs them).
# libcni 1.1.2 imports only its own packages and the standard library, so nothing else is needed.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=${1:-"$repo/build/libcni-driver"}
src=/usr/share/gocode/src/github.com/containernetworking/cni/libcni
[ -d "$src" ] || { echo "libcni sources missing ($src): apt-get install golang-github-appc-cni-dev" >&2; exit 1; }
command -v go >/dev/null || { echo "go missing: apt-get install golang-go" >&2; exit 1; }
mkdir -p "$(dirname "$out")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Rebuild only when the source or libcni changed.
if [ -x "$out" ] && [ "$out" -nt "$here/main.go" ] && [ "$out" -nt "$src/api.go" ]; then exit 0; fi
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$tmp/cache" GOFLAGS= CGO_ENABLED=0 \
  go build -trimpath -o "$out" "$here/main.go"
echo "built $out"
