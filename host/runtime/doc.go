// Package runtime holds the implementations of agent.Runtime: the in-memory
// fake used by unit tests (runtime/fake) and the containerd runtime, plus the
// conformance suite both must pass (runtime/conformance). This package itself
// only documents the layout.
package runtime
