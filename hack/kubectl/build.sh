#!/usr/bin/env bash
# build.sh builds kubectl v1.37.2 from the Go module proxy, once per machine, for staticlet's tests that
# drive the API server as a user would (host/kubeletapi/kubectle2e, host/mirror/seede2e,
# host/runtime/front/kubelete2e), and prints the binary's path. `make kubectl-deps` runs it only on a
# machine without kubectl on its PATH, and links the result into /usr/local/bin.
#
#   build.sh          build into the cache folder unless the binary is already there; print its path
#   build.sh --path   print where the binary is (or would be) without building
#
# The build runs in the separate module test/kubectl (its go.mod requires k8s.io/kubernetes v1.37.2 and
# replaces each staging module with its v0.37.2 release, as test/kube-apiserver does), so the main go.mod
# never carries k8s.io/kubernetes. The result is cached outside the checkout and reused.
#
# Environment:
#   KUBECTL_CACHE_DIR=DIR  cache folder (default /var/cache/staticlet/kubectl-v1.37.2)
#   KUBECTL_BIN=PATH       use this binary instead; build.sh only checks that it exists
set -euo pipefail

version=v1.37.2
repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=../lib/cached-build.sh
. "$repo_root/hack/lib/cached-build.sh"
cache_dir=${KUBECTL_CACHE_DIR:-/var/cache/staticlet/kubectl-$version}
cached_build kubectl "$repo_root/test/kubectl" k8s.io/kubernetes/cmd/kubectl "$cache_dir" \
	"${KUBECTL_BIN:-$cache_dir/kubectl}" KUBECTL_BIN "$(k8s_version_ldflags "$version")" "$@"
