// Package agent is staticlet's control loop, in two parts.
//
// Core holds every decision and does no IO: it reads no clock, owns no
// channel and starts no goroutine. Step takes the time and one event (a
// source's listing, admission results, a policy change, a start or stop
// finished, the runtime's pods listed, readiness changed, the timer) and
// returns actions (admit a listing, start or stop a pod, list the runtime's
// pods, set the timer, log a line, the state changed). It keeps the latest
// listing and admission results of every source, the desired set
// (desired.Builder) and its view of the pods it runs, and plans with
// plan.Plan. The transcripts in testdata/ drive it event by event.
//
// Run is the thin loop around it: one goroutine owns the core, turns
// channel receives into events and executes the actions. Starts, stops and
// the adoption listing run in their own goroutines, so a pod taking 30 s to
// stop never holds up the others. Admission runs in an admitter goroutine
// that owns the admission.Pipeline: requests are newest-wins per source (a
// newer listing or a policy change cancels the admission in progress), and
// results come back as events tagged with the generation the core asked
// for, so superseded ones are dropped. The loop therefore answers status
// queries, op completions and its context's cancel at once, while a plugin
// runs for as long as its timeout allows.
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
