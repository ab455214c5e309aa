// Package mirrorpod is the pure core of mirror pods: what a mirror pod of a static pod looks like
// (BuildMirror), what to do about the pod the API server holds under its name (Decide), the status to show
// on it (MirrorStatus, StatusPatch), the Events a status change implies (LifecycleEvents), and the Node and
// Lease a registering agent writes (NodeObject, ReadyCondition from NodeHealth, NodeStatusPatch,
// LeaseObject), and what such an agent does about a pod bound to it that is not a mirror pod (DecideForeign,
// RejectionPatch).
//
// It is pure: no IO, no clock (times are parameters), no client-go. host/mirror is the IO edge that uses it.
package mirrorpod
