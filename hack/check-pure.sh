#!/usr/bin/env bash
# Enforces the architecture rule that the pure core does no IO: the packages
# listed below may not import IO packages directly, may not depend (even
# transitively) on the agent's IO libraries, and may not read the clock.
set -euo pipefail
cd "$(dirname "$0")/.."

pure=(
  ./host/manifest
  ./host/pod
  ./host/validation
  ./host/admission
  ./host/desired
  ./host/plan
  ./host/mirror/mirrorpod
)
# Direct imports that mean IO.
direct_forbidden='^(os|os/exec|os/signal|os/user|net|net/http|net/rpc|syscall|io/ioutil|plugin|unsafe)$'
# Libraries that only the edges may use.
deps_forbidden='^(github.com/fsnotify/|github.com/containerd/|k8s.io/client-go/|github.com/tetratelabs/wazero|github.com/hashicorp/go-hclog|github.com/staticlet/staticlet/host/(source/file|agent|runtime|plugin|config|logging))'

status=0
for pkg in "${pure[@]}"; do
  bad=$(go list -f '{{join .Imports "\n"}}' "$pkg" | grep -E "$direct_forbidden" || true)
  if [ -n "$bad" ]; then
    echo "check-pure: $pkg imports IO package(s): $bad" >&2
    status=1
  fi
  bad=$(go list -deps -f '{{.ImportPath}}' "$pkg" | grep -E "$deps_forbidden" || true)
  if [ -n "$bad" ]; then
    echo "check-pure: $pkg depends on edge package(s): $bad" >&2
    status=1
  fi
  dir=${pkg#./}
  clock=$(grep -n 'time\.Now()' "$dir"/*.go 2>/dev/null | grep -v '_test\.go:' || true)
  if [ -n "$clock" ]; then
    echo "check-pure: $pkg reads the clock (take time as a parameter): $clock" >&2
    status=1
  fi
done
[ $status -eq 0 ] && echo "check-pure: ${#pure[@]} pure packages do no IO"
exit $status
