#!/usr/bin/env bash
# build.sh builds the opa command (github.com/open-policy-agent/opa v1.22.4) from the Go module proxy, once
# per machine, for staticlet's OPA plugin tests, and prints the binary's path. The tests use it to compile
# Gatekeeper-style Rego to Wasm (`opa build -t wasm`) and to evaluate the same policies (`opa eval`).
#
#   build.sh          build into the cache folder unless the binary is already there; print its path
#   build.sh --path   print where the binary is (or would be) without building
#
# The build runs in the separate module test/opa, so the main go.mod never carries OPA. A cold build takes
# a few minutes on 2 cores; the result is cached outside the checkout and reused.
#
# Environment:
#   OPA_CACHE_DIR=DIR  cache folder (default /var/cache/staticlet/opa-v1.22.4)
#   OPA_BIN=PATH       use this binary instead; build.sh only checks that it exists
set -euo pipefail

version=v1.22.4
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
module_dir=$repo_root/test/opa
cache_dir=${OPA_CACHE_DIR:-/var/cache/staticlet/opa-$version}
binary=${OPA_BIN:-$cache_dir/opa}

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
[ -z "${OPA_BIN:-}" ] || die "OPA_BIN=$OPA_BIN is not an executable file"

mkdir -p "$cache_dir"
# One build at a time per cache folder: a second caller waits for the first and then finds the binary.
exec 9>"$cache_dir/.build.lock"
flock 9
if [ -x "$binary" ]; then
	echo "$binary"
	exit 0
fi

echo "build.sh: building opa $version into $cache_dir (a few minutes cold on 2 cores)" >&2
started=$(date +%s)
partial=$cache_dir/opa.partial.$$
trap 'rm -f "$partial"' EXIT
(cd "$module_dir" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" \
	-o "$partial" github.com/open-policy-agent/opa)
mv "$partial" "$binary"
echo "build.sh: built $binary in $(($(date +%s) - started))s" >&2
echo "$binary"
