#!/usr/bin/env bash
# build.sh compiles the Gatekeeper-style Rego policies listed in policies.tsv into OPA Wasm modules, one
# per policy, as a policy author would: `opa build -t wasm -e ENTRYPOINT`, then the bundle's /policy.wasm.
#
#   build.sh OPA OUTDIR    writes OUTDIR/opa-<name>.wasm for each policy
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: build.sh OPA OUTDIR" >&2; exit 2; }
opa=$1
out=$2
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
grep -v '^#' "$here/policies.tsv" | while IFS=$'\t' read -r name entrypoint sources; do
	[ -n "$name" ] || continue
	srcs=()
	for s in $sources; do srcs+=("$here/policies/$s"); done
	"$opa" build -t wasm -e "$entrypoint" -o "$tmp/$name.tar.gz" "${srcs[@]}"
	tar -xzf "$tmp/$name.tar.gz" -C "$tmp" /policy.wasm 2>/dev/null || tar -xzf "$tmp/$name.tar.gz" -C "$tmp" policy.wasm
	mv "$tmp/policy.wasm" "$out/opa-$name.wasm"
done
