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
//   - a failed start is retried after its back-off, not before;
//   - a pod whose staticlet.dev/start-after annotation names other static
//     pods starts only once the desired version of each is Running and
//     Ready (Observed.Ready); until then it is reported in Output.Waiting,
//     with a cycle of such references reported on every pod on it. The
//     gate holds starts only: a pod that runs is never stopped because a
//     dependency turned unready, and the running version of a pod being
//     replaced keeps running while the new version waits. See
//     docs/ordering.md.
package plan
