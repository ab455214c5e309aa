// Package agent is staticlet's control loop. One goroutine (Run) owns all
// mutable state: the latest listing of every source, the admission results,
// the desired set and the agent's view of the pods it runs. It consumes whole
// listings, diffs them through package desired and package plan, and executes
// the resulting actions through a Runtime, each action in its own goroutine
// that reports back to the loop, so a pod taking 30 s to stop never holds up
// the others.
//
// Pods held back by their staticlet.dev/start-after annotation are reported
// with phase Waiting and a Pending status (WaitingStatus). The loop plans
// again when the runtime signals a phase or readiness change
// (StatusNotifier), but only while some pod waits.
//
// The package does no IO itself: the Runtime interface (defined here, where
// it is used) is implemented by the containerd runtime and by the in-memory
// fake in package runtime/fake; both pass the suite in runtime/conformance.
package agent
