package plan

import (
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Desired is a pod some manifest wants.
type Desired struct {
	Key string
	UID types.UID
	Pod *corev1.Pod
	// ManifestName is metadata.name before the node-name suffix: the name
	// start-after annotations refer to.
	ManifestName string
}

// Phase is the agent's view of a pod it started or adopted.
type Phase string

// Phases of an observed pod.
const (
	// Starting: a start is in flight.
	Starting Phase = "Starting"
	// Active: the runtime runs (or keeps restarting) the pod.
	Active Phase = "Active"
	// StartFailed: the last start failed; retry at RetryAt.
	StartFailed Phase = "StartFailed"
	// Stopping: a stop is in flight.
	Stopping Phase = "Stopping"
	// StopFailed: the last stop failed; retry at RetryAt.
	StopFailed Phase = "StopFailed"
	// Dormant: the runtime holds the pod from its records, with none of its
	// containers running (the node restarted): it is started only when a
	// manifest wants it (after its start-after dependencies, as a new pod),
	// and stopped, to clean it up, when none does.
	Dormant Phase = "Dormant"
)

// Observed is a pod the runtime holds (or is being asked to hold).
type Observed struct {
	Key     string
	UID     types.UID
	Phase   Phase
	RetryAt time.Time
	// GracePeriod is the stop grace period of the version that runs.
	GracePeriod time.Duration
	// Ready is true when the pod is Active and the runtime reports it
	// Running with its Ready condition True; pods that name it in their
	// start-after annotation start only then.
	Ready bool
}

// Kind of action.
type Kind string

// Action kinds.
const (
	Start Kind = "start"
	Stop  Kind = "stop"
)

// Action is one step for the agent to execute.
type Action struct {
	Kind Kind
	Key  string
	UID  types.UID
	// Pod is set for Start.
	Pod *corev1.Pod
	// GracePeriod is set for Stop.
	GracePeriod time.Duration
	// Reason is a human explanation for logs and events.
	Reason string
}

// Input is everything Plan looks at.
type Input struct {
	Desired  []Desired
	Observed []Observed
	// AllowOrphanStops is true once every source delivered a complete
	// listing.
	AllowOrphanStops bool
	Now              time.Time
}

// Output is what to do now and when to plan again without new input.
type Output struct {
	Actions []Action
	// NextRetry is the earliest pending retry; zero when none.
	NextRetry time.Time
	// Waiting are the desired pods held back by their start-after
	// annotation, by key. Readiness changes of what they wait for, not the
	// clock, end the wait: plan again when one comes.
	Waiting []Waiting
}

// Plan computes the actions for one reconcile pass.
func Plan(in Input) Output {
	var out Output
	observedByKey := map[string][]Observed{}
	observedUID := map[types.UID]Observed{}
	for _, o := range in.Observed {
		observedByKey[o.Key] = append(observedByKey[o.Key], o)
		observedUID[o.UID] = o
	}
	desiredUID := map[types.UID]bool{}
	desiredKey := map[string]bool{}
	for _, d := range in.Desired {
		desiredUID[d.UID] = true
		desiredKey[d.Key] = true
	}
	retryDue := func(o Observed) bool {
		if in.Now.Before(o.RetryAt) {
			out.noteRetry(o.RetryAt)
			return false
		}
		return true
	}

	startAfter := newStartGraph(in.Desired)

	for i, d := range in.Desired {
		if o, ok := observedUID[d.UID]; ok {
			switch {
			case o.Phase == StartFailed && retryDue(o):
				out.Actions = append(out.Actions, Action{Kind: Start, Key: d.Key, UID: d.UID, Pod: d.Pod, Reason: "retrying failed start"})
			case o.Phase == Dormant:
				if w, held := startAfter.gate(i, observedUID); held {
					out.Waiting = append(out.Waiting, w)
				} else {
					out.Actions = append(out.Actions, Action{Kind: Start, Key: d.Key, UID: d.UID, Pod: d.Pod, Reason: "wanted by a manifest; its containers are gone"})
				}
			}
			// Active or Starting: nothing to do. Stopping: the pod was
			// unwanted for a moment and is wanted again; it starts afresh once
			// the stop completes.
			continue
		}
		if w, held := startAfter.gate(i, observedUID); held {
			out.Waiting = append(out.Waiting, w)
			// The version that runs keeps running until this one may start:
			// an edit must not take a pod down to then wait, perhaps for ever.
			// What does not run is cleared away, and a stop begun is finished.
			for _, o := range observedByKey[d.Key] {
				switch {
				case o.Phase == StartFailed, o.Phase == Dormant:
					out.Actions = append(out.Actions, Action{Kind: Stop, Key: o.Key, UID: o.UID, GracePeriod: o.GracePeriod,
						Reason: "replaced by a new version (uid " + string(d.UID) + ")"})
				case o.Phase == StopFailed && retryDue(o):
					out.Actions = append(out.Actions, Action{Kind: Stop, Key: o.Key, UID: o.UID, GracePeriod: o.GracePeriod, Reason: "retrying failed stop"})
				}
			}
			continue
		}
		blocked := false
		for _, o := range observedByKey[d.Key] {
			blocked = true // another version holds the name
			// A start in flight finishes first; the next pass stops it.
			switch o.Phase {
			case Active, StartFailed, Dormant:
				out.Actions = append(out.Actions, Action{Kind: Stop, Key: o.Key, UID: o.UID, GracePeriod: o.GracePeriod,
					Reason: "replaced by a new version (uid " + string(d.UID) + ")"})
			case StopFailed:
				if retryDue(o) {
					out.Actions = append(out.Actions, Action{Kind: Stop, Key: o.Key, UID: o.UID, GracePeriod: o.GracePeriod, Reason: "retrying failed stop"})
				}
			}
		}
		if !blocked {
			out.Actions = append(out.Actions, Action{Kind: Start, Key: d.Key, UID: d.UID, Pod: d.Pod, Reason: "wanted by a manifest"})
		}
	}

	for _, o := range in.Observed {
		if desiredUID[o.UID] || desiredKey[o.Key] {
			continue // kept, or handled as a replacement above
		}
		if !in.AllowOrphanStops {
			continue
		}
		switch o.Phase {
		case Active, StartFailed, Dormant:
			out.Actions = append(out.Actions, Action{Kind: Stop, Key: o.Key, UID: o.UID, GracePeriod: o.GracePeriod, Reason: "no manifest wants it"})
		case StopFailed:
			if retryDue(o) {
				out.Actions = append(out.Actions, Action{Kind: Stop, Key: o.Key, UID: o.UID, GracePeriod: o.GracePeriod, Reason: "retrying failed stop"})
			}
		}
	}
	sort.SliceStable(out.Actions, func(i, j int) bool {
		// Stops first: they free names and resources for starts.
		if out.Actions[i].Kind != out.Actions[j].Kind {
			return out.Actions[i].Kind == Stop
		}
		return out.Actions[i].Key < out.Actions[j].Key
	})
	sort.Slice(out.Waiting, func(i, j int) bool { return out.Waiting[i].Key < out.Waiting[j].Key })
	return out
}

func (o *Output) noteRetry(t time.Time) {
	if o.NextRetry.IsZero() || t.Before(o.NextRetry) {
		o.NextRetry = t
	}
}
