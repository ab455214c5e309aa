package mirror

import (
	"sync"

	corev1 "k8s.io/api/core/v1"
)

// State is one snapshot of what the agent runs and refuses; the manager mirrors it whole.
type State struct {
	// Synced is true once every source has listed and the runtime's pods were adopted: only then are mirror
	// pods that no static pod owns deleted, so a restart never drops mirrors of pods still being listed.
	Synced bool
	// Pods are the static pods the agent runs (or is starting), each with its status.
	Pods []Pod
	// Rejected are the manifest files the agent refused.
	Rejected []Rejection
	// Terminating are the static pods no manifest wants any more (removed, or replaced by a new version)
	// whose containers the agent is still stopping: their mirrors stay until they are gone.
	Terminating []Terminating
}

// Terminating is a static pod on its way out, as the agent reports it.
type Terminating struct {
	// Key is the pod's namespace/name; UID its UID, the config hash its mirror carries.
	Key, UID string
	// Runtime is the runtime's status of the pod, nil while it holds none.
	Runtime *corev1.PodStatus
}

// Pod is one static pod and what is known of it.
type Pod struct {
	// Pod is the static pod as the agent runs it; its UID is the config hash.
	Pod *corev1.Pod
	// Runtime is the runtime's status of the pod, nil while the runtime holds none.
	Runtime *corev1.PodStatus
	// Phase is the agent's phase (Starting, Active, Stopping, StartFailed...), and LastError its last
	// failure, for a pod the runtime does not report on yet.
	Phase     string
	LastError string
}

// Rejection is a manifest file the agent refused.
type Rejection struct {
	Source string
	File   string
	// PodKey (namespace/name) is the pod the file serves, when a last good version still runs; then the
	// Event goes to that pod's mirror. Empty when the file provides no pod.
	PodKey  string
	Reasons []string
}

// Sink takes snapshots; the agent's hook calls it after every change. Offer must not block.
type Sink interface {
	Offer(State)
}

// latest is a newest-wins slot: Offer replaces what was not taken yet, so memory stays bounded whatever the
// rate of snapshots and however long the API server is away.
type latest struct {
	mu    sync.Mutex
	state *State
}

func (l *latest) put(s State) {
	l.mu.Lock()
	l.state = &s
	l.mu.Unlock()
}

func (l *latest) take() (State, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state == nil {
		return State{}, false
	}
	s := *l.state
	l.state = nil
	return s, true
}
