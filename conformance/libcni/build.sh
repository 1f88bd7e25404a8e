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
# Rebuild only when the source or libcni changed.
if [ -x "$out" ] && [ "$out" -nt "$here/main.go" ] && [ "$out" -nt "$src/api.go" ]; then exit 0; fi
# A build cache under build/ (ignored by git): the first build compiles the standard library
# (~30 s on this VM), later ones take a second.
GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE="$repo/build/go-cache" GOFLAGS= CGO_ENABLED=0 \
  go build -trimpath -o "$out" "$here/main.go"
echo "built $out"
