// Package pod turns a decoded manifest into the static pod the agent runs:
// the kubelet's static-pod defaulting (name suffix, namespace, node binding,
// annotations, the NoExecute toleration), the API server's field defaults,
// and the pod UID. It also owns the syntax of staticlet's own
// staticlet.dev/start-after annotation (StartAfter), which validation
// checks and the planner acts on.
//
// It is pure: no IO, no clock (the "seen" time is a parameter), no
// randomness. The UID scheme is versioned and documented in
// docs/architecture.md; it must not change across staticlet upgrades unless
// the pod really changed.
package pod
