package containerd

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// ensureSandbox sets up the sandbox of a pod adopted without one: its setup
// failed when this agent started, typically a CNI plugin not ready yet after
// a reboot (its daemon is often a pod itself). It is retried with the
// crash-loop back-off, as the kubelet retries a failed sandbox; meanwhile
// the pod's containers wait in ContainerCreating with the error. It reports
// whether the pod has its sandbox.
func (w *worker) ensureSandbox() bool {
	if w.sandbox != nil {
		return true
	}
	if w.pod == nil {
		return false
	}
	now := w.rt.now()
	if now.Before(w.sandboxRetryAt) {
		return false
	}
	w.sandboxBackoff.retried(now, w.rt.opts.CrashBackoff)
	sb, err := w.rt.setupSandbox(w.pod)
	if err != nil {
		w.sandboxRetryAt = w.sandboxBackoff.readyAt(now, w.rt.opts.CrashBackoff)
		for _, cs := range w.containers {
			if !cs.running && !cs.completed {
				cs.waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating", Message: "pod sandbox: " + err.Error()}
			}
		}
		w.log.Warn("cannot set up the pod's sandbox; retrying", "error", err, "retry_in", w.sandboxRetryAt.Sub(now).Round(time.Millisecond))
		return false
	}
	w.sandbox, w.sandboxRetryAt = sb, time.Time{}
	for _, cs := range w.containers {
		if cs.waiting != nil && cs.waiting.Reason == "ContainerCreating" {
			cs.waiting = nil
		}
	}
	w.loadLifetime()
	w.log.Info("pod sandbox set up")
	return true
}
