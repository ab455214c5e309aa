package agent

import (
	"context"
	"errors"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// ErrPodNotFound is returned by StopPod for a UID the runtime does not hold.
// The agent treats it as success: the pod is gone either way.
var ErrPodNotFound = errors.New("pod not found")

// RuntimePod is a pod the runtime holds, as reported for adoption.
type RuntimePod struct {
	UID types.UID
	// Key is namespace/name.
	Key string
	// GracePeriod is the pod's terminationGracePeriodSeconds.
	GracePeriod time.Duration
	// Dormant is set for a pod the runtime knows from its records alone,
	// none of its containers running (after a node restart): the runtime
	// starts it only when StartPod asks for its UID, so nothing runs that
	// no source lists.
	Dormant bool
}

// Runtime runs pods. Implementations must be safe for concurrent calls on
// different UIDs; the agent never issues two calls for one UID at once.
type Runtime interface {
	// ListPods returns every pod the runtime holds, including those started
	// by an earlier agent process, so they are adopted rather than restarted.
	ListPods(ctx context.Context) ([]RuntimePod, error)
	// StartPod creates and starts the pod and returns once it runs (or
	// failed to). Restarting its containers by restartPolicy is then the
	// runtime's job. Starting a UID that already runs is a no-op; starting
	// a Dormant one starts it.
	StartPod(ctx context.Context, pod *corev1.Pod) error
	// StopPod stops every container of the pod (SIGTERM, gracePeriod, then
	// SIGKILL), removes it, and returns once nothing of it runs.
	StopPod(ctx context.Context, uid types.UID, gracePeriod time.Duration) error
	// PodStatus reports the pod as the runtime last observed it, in the
	// kubelet's shape (phase, conditions, per-container state, restart
	// counts). It answers from memory without IO, because the agent's loop
	// calls it; ok is false for a pod the runtime does not hold, and may be
	// false for a pod it is still adopting (ListPods waits a bounded time
	// for that): a status that does not know yet what runs would show
	// containers that never stopped as not running.
	PodStatus(uid types.UID) (status corev1.PodStatus, ok bool)
}

// StatusNotifier is implemented by a Runtime that can say when a pod's
// status changed in a way the agent acts on: its phase or its Ready
// condition. The agent re-plans on each signal while a pod waits for its
// start-after dependencies, so the wait ends as soon as the last one turns
// Ready, without polling. A runtime without it gets a PodStatus poll every
// second, and only while some pod waits.
type StatusNotifier interface {
	// StatusChanged returns the one channel the agent reads. The runtime
	// sends without blocking on a channel with a buffer of one, so signals
	// coalesce and a busy agent never holds up the runtime.
	StatusChanged() <-chan struct{}
}

// PodReady is the readiness start-after waits for: the pod is Running and
// its Ready condition is True, as the kubelet's status manager reports it.
func PodReady(st corev1.PodStatus) bool {
	if st.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range st.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// GracePeriod is the pod's termination grace period.
func GracePeriod(p *corev1.Pod) time.Duration {
	if p.Spec.TerminationGracePeriodSeconds == nil {
		return 30 * time.Second
	}
	return time.Duration(*p.Spec.TerminationGracePeriodSeconds) * time.Second
}
