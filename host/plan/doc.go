// Package plan is the reconcile planner: from the desired static pods and
// what the runtime holds, it computes the pod-level actions to take (start,
// stop, replace). It is pure: no IO, the clock is a parameter, and every rule
// is tested with tables and transcripts.
//
// Rules, in the kubelet's spirit and without its flaws:
//   - a pod whose UID is running stays untouched;
//   - a new version of a pod (same namespace/name, new UID) replaces the old
//     one: the old pod is stopped completely before the new one starts;
//   - a pod that no manifest wants is stopped, but only once every source has
//     delivered a complete listing (AllowOrphanStops), so an agent restart
//     never kills what it has not yet read;
//   - a failed start is retried after its back-off, not before.
package plan
