package containerd

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The files in a pod's folder that keep its lifetime across agent
// restarts: when it was first started, and that its activeDeadlineSeconds
// ran out.
const (
	startTimeFile        = "start-time"
	deadlineExceededFile = "deadline-exceeded"
)

// deadlineExceededMessage is the kubelet's.
const deadlineExceededMessage = "Pod was active on the node longer than the specified deadline"

// loadLifetime restores the pod's start time (or records it, for a new pod)
// and whether its deadline already passed, so an adopted pod keeps its
// status startTime and a pod killed for its deadline is not started again.
func (w *worker) loadLifetime() {
	if w.sandbox == nil {
		return
	}
	path := filepath.Join(w.sandbox.dir, startTimeFile)
	if data, err := os.ReadFile(path); err == nil {
		if t, err := time.Parse(time.RFC3339Nano, string(data)); err == nil {
			w.startTime = t
		}
	} else if errors.Is(err, fs.ErrNotExist) {
		if err := writeFileAtomic(path, []byte(w.startTime.UTC().Format(time.RFC3339Nano)), 0o600); err != nil {
			w.log.Warn("cannot record the pod's start time; an agent restart resets it", "error", err)
		}
	}
	if _, err := os.Stat(filepath.Join(w.sandbox.dir, deadlineExceededFile)); err == nil {
		w.deadlineExceeded = true
		w.finishing = true
		for _, cs := range w.containers {
			cs.pending = false
		}
	}
}

// activeDeadline is when the pod's activeDeadlineSeconds runs out, counted
// from its start time as the kubelet counts it.
func (w *worker) activeDeadline() (time.Time, bool) {
	if w.pod == nil || w.pod.Spec.ActiveDeadlineSeconds == nil || w.deadlineExceeded || w.stopping {
		return time.Time{}, false
	}
	return w.startTime.Add(time.Duration(*w.pod.Spec.ActiveDeadlineSeconds) * time.Second), true
}

// enforceDeadline kills the pod's containers once its active deadline has
// passed, as the kubelet does: preStop hooks and the stop signal within the
// grace period (app containers, then sidecars), then SIGKILL. Nothing is
// restarted afterwards and the pod is Failed with reason DeadlineExceeded;
// its containers stay until the pod is stopped, so their logs and exit
// codes remain. It reports whether the deadline had passed.
func (w *worker) enforceDeadline(ctx context.Context) bool {
	at, ok := w.activeDeadline()
	if !ok || w.rt.now().Before(at) {
		return w.deadlineExceeded
	}
	w.deadlineExceeded, w.finishing = true, true
	if err := writeFileAtomic(filepath.Join(w.sandbox.dir, deadlineExceededFile), nil, 0o600); err != nil {
		w.log.Warn("cannot record the exceeded deadline; an agent restart would start the pod again", "error", err)
	}
	w.log.Info("active deadline exceeded; killing the pod's containers", "active_deadline_seconds", *w.pod.Spec.ActiveDeadlineSeconds)
	if err := w.terminateAll(ctx, w.grace); err != nil {
		w.log.Warn("killing the pod's containers past its deadline", "error", err)
	}
	return true
}

// applyDeadlineStatus marks a pod whose deadline passed as the kubelet
// does: Failed, reason DeadlineExceeded, not ready.
func (w *worker) applyDeadlineStatus(st *corev1.PodStatus) {
	if !w.deadlineExceeded {
		return
	}
	st.Phase, st.Reason, st.Message = corev1.PodFailed, "DeadlineExceeded", deadlineExceededMessage
	for i := range st.Conditions {
		if c := &st.Conditions[i]; c.Type == corev1.PodReady || c.Type == corev1.ContainersReady {
			c.Status, c.Reason = corev1.ConditionFalse, "PodFailed"
		}
	}
}
