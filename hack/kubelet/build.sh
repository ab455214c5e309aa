#!/usr/bin/env bash
# build.sh builds kubelet v1.37.2 from the Go module proxy, once per machine, for staticlet's
# integration tests, and prints the binary's path.
#
#   build.sh          build into the cache folder unless the binary is already there; print its path
#   build.sh --path   print where the binary is (or would be) without building
#
# The build runs in the separate module test/kubelet (its go.mod requires k8s.io/kubernetes v1.37.2 and
# replaces each staging module with its v0.37.2 release), so the main go.mod never carries k8s.io/kubernetes.
# A cold build takes about 8 minutes on 2 cores; the result is cached outside the checkout and reused.
#
# Environment:
#   KUBELET_CACHE_DIR=DIR  cache folder (default /var/cache/staticlet/kubelet-v1.37.2)
#   KUBELET_BIN=PATH       use this binary instead; build.sh only checks that it exists
set -euo pipefail

version=v1.37.2
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
module_dir=$repo_root/test/kubelet
cache_dir=${KUBELET_CACHE_DIR:-/var/cache/staticlet/kubelet-$version}
binary=${KUBELET_BIN:-$cache_dir/kubelet}

die() {
	echo "build.sh: $*" >&2
	exit 1
}

if [ "${1:-}" = --path ]; then
	echo "$binary"
	exit 0
fi
[ $# -eq 0 ] || die "usage: build.sh [--path]"

if [ -x "$binary" ]; then
	echo "$binary"
	exit 0
fi
[ -z "${KUBELET_BIN:-}" ] || die "KUBELET_BIN=$KUBELET_BIN is not an executable file"

mkdir -p "$cache_dir"
# One build at a time per cache folder: a second caller waits for the first and then finds the binary.
exec 9>"$cache_dir/.build.lock"
flock 9
if [ -x "$binary" ]; then
	echo "$binary"
	exit 0
fi

echo "build.sh: building kubelet $version into $cache_dir (about 8 minutes cold on 2 cores)" >&2
started=$(date +%s)
partial=$cache_dir/kubelet.partial.$$
trap 'rm -f "$partial"' EXIT
# The version ldflags make the kubelet report v1.37.2 as a release build does; the build itself is the module's.
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1"
ldflags+=" -X k8s.io/component-base/version.gitMinor=37 -X k8s.io/component-base/version.gitTreeState=clean"
(cd "$module_dir" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" \
	-o "$partial" k8s.io/kubernetes/cmd/kubelet)
mv "$partial" "$binary"
echo "build.sh: built $binary in $(($(date +%s) - started))s" >&2
echo "$binary"
