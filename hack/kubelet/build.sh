#!/usr/bin/env bash
# build.sh builds the kubelet v1.37.2 from the Go module proxy, once per machine, for staticlet's
# next-to-a-kubelet tests (host/runtime/front/kubelete2e, through node.sh), and prints the binary's path.
#
#   build.sh          build into the cache folder unless the binary is already there; print its path
#   build.sh --path   print where the binary is (or would be) without building
#
# The build runs in the separate module test/kubelet (its go.mod requires k8s.io/kubernetes v1.37.2 and
# replaces each staging module with its v0.37.2 release, as test/kube-apiserver does), so the main go.mod
# never carries k8s.io/kubernetes. A cold build took 7.3 minutes on 2 cores; the result is cached outside
# the checkout and reused.
#
# Environment:
#   KUBELET_CACHE_DIR=DIR  cache folder (default /var/cache/staticlet/kubelet-v1.37.2)
#   KUBELET_BIN=PATH       use this binary instead; build.sh only checks that it exists
set -euo pipefail

version=v1.37.2
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../lib/cached-build.sh
. "$repo_root/hack/lib/cached-build.sh"
cache_dir=${KUBELET_CACHE_DIR:-/var/cache/staticlet/kubelet-$version}
cached_build kubelet "$repo_root/test/kubelet" k8s.io/kubernetes/cmd/kubelet "$cache_dir" \
	"${KUBELET_BIN:-$cache_dir/kubelet}" KUBELET_BIN "$(k8s_version_ldflags "$version")" "$@"
