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
# shellcheck source=../lib/cached-build.sh
. "$repo_root/hack/lib/cached-build.sh"
cache_dir=${OPA_CACHE_DIR:-/var/cache/staticlet/opa-$version}
cached_build opa "$repo_root/test/opa" github.com/open-policy-agent/opa "$cache_dir" \
	"${OPA_BIN:-$cache_dir/opa}" OPA_BIN "-s -w" "$@"
