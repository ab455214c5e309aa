#!/usr/bin/env bash
# build.sh builds kube-apiserver v1.37.2 from the Go module proxy, once per machine, for staticlet's
# integration tests, and prints the binary's path.
#
#   build.sh          build into the cache folder unless the binary is already there; print its path
#   build.sh --path   print where the binary is (or would be) without building
#
# The build runs in the separate module test/kube-apiserver (its go.mod requires k8s.io/kubernetes v1.37.2 and
# replaces each staging module with its v0.37.2 release), so the main go.mod never carries k8s.io/kubernetes.
# A cold build takes about 11 minutes on 2 cores; the result is cached outside the checkout and reused.
#
# Environment:
#   KUBE_APISERVER_CACHE_DIR=DIR  cache folder (default /var/cache/staticlet/kube-apiserver-v1.37.2)
#   KUBE_APISERVER_BIN=PATH       use this binary instead; build.sh only checks that it exists
set -euo pipefail

version=v1.37.2
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../lib/cached-build.sh
. "$repo_root/hack/lib/cached-build.sh"
cache_dir=${KUBE_APISERVER_CACHE_DIR:-/var/cache/staticlet/kube-apiserver-$version}
# The version ldflags make /version answer v1.37.2 as a release build does; the build itself is the module's.
cached_build kube-apiserver "$repo_root/test/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver "$cache_dir" \
	"${KUBE_APISERVER_BIN:-$cache_dir/kube-apiserver}" KUBE_APISERVER_BIN "$(k8s_version_ldflags "$version")" "$@"
