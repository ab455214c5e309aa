package containerd

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/probe"
)

const (
	// postStartTimeout bounds a postStart hook: the kubelet has none, but a
	// hook that never returns would hold the pod's worker for ever.
	postStartTimeout = 2 * time.Minute
	// minStopGrace is what the stop signal always gets after a preStop
	// hook, as the kubelet's minimumGracePeriodInSeconds.
	minStopGrace = 2 * time.Second
)

// runHook runs a lifecycle handler against the container's current run:
// exec in the container, httpGet from the pod's network view, or sleep.
func (w *worker) runHook(ctx context.Context, ctr client.Container, c *corev1.Container, h *corev1.LifecycleHandler) probe.Result {
	switch {
	case h.Exec != nil:
		return execProbe(ctx, ctr, w.log, h.Exec.Command)
	case h.HTTPGet != nil:
		res := probe.HTTPGet(ctx, w.dialer(), h.HTTPGet, c, probeHost)
		// Any response will do, as for the kubelet's hooks: only probes
		// judge the status.
		res.OK = res.OK || res.StatusCode != 0
		return res
	case h.Sleep != nil:
		select {
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
			return probe.Result{OK: true}
		case <-ctx.Done():
			return probe.Result{Message: fmt.Sprintf("sleep %ds: %v", h.Sleep.Seconds, ctx.Err())}
		}
	}
	return probe.Result{Message: "the hook has no supported handler"}
}

func postStartOf(c *corev1.Container) *corev1.LifecycleHandler {
	if c == nil || c.Lifecycle == nil {
		return nil
	}
	return c.Lifecycle.PostStart
}

func preStopOf(c *corev1.Container) *corev1.LifecycleHandler {
	if c == nil || c.Lifecycle == nil {
		return nil
	}
	return c.Lifecycle.PreStop
}

// postStart runs cs's postStart hook right after its start, as the kubelet
// does before it counts the container as running; a failed hook kills the
// run (its exit then follows the restart policy) and says why in its
// terminated state. It reports whether the run may go on.
//
// The hook runs under ctx (the start attempt's, cut short by a stop); the
// kill outlives it under watchCtx.
func (w *worker) postStart(ctx, watchCtx context.Context, cs *containerState) bool {
	h := postStartOf(cs.spec)
	if h == nil {
		return true
	}
	hctx, cancel := context.WithTimeout(ctx, postStartTimeout)
	res := w.runHook(hctx, cs.ctr, cs.spec, h)
	cancel()
	if res.OK {
		return true
	}
	if ctx.Err() != nil {
		// Cut short by the pod's stop, which kills the run itself.
		return false
	}
	msg := "PostStartHookError: " + res.Message
	w.log.Warn("postStart hook failed; killing the container", "container", cs.name, "message", res.Message)
	cs.killMessage = msg
	if err := w.killRun(watchCtx, cs.ctr, cs.spec, w.grace); err != nil {
		w.log.Warn("killing a container after a failed postStart hook", "container", cs.name, "error", err)
	}
	return false
}

// preStop runs c's preStop hook on ctr within grace and returns the grace
// left for the stop signal: what the hook did not use, at least
// minStopGrace, as the kubelet computes it. Without a hook (or with no
// grace at all) grace is returned as it is.
func (w *worker) preStop(ctx context.Context, ctr client.Container, c *corev1.Container, grace time.Duration) time.Duration {
	h := preStopOf(c)
	if h == nil || grace <= 0 || ctr == nil {
		return grace
	}
	begin := time.Now()
	hctx, cancel := context.WithTimeout(ctx, grace)
	res := w.runHook(hctx, ctr, c, h)
	cancel()
	if !res.OK {
		w.log.Warn("preStop hook failed", "container", c.Name, "message", res.Message)
	}
	return max(grace-time.Since(begin), minStopGrace)
}
