package containerd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
)

// stop ends the pod: the stop signal (the image's STOPSIGNAL or SIGTERM) to
// every running container, up to grace for them to exit, then SIGKILL; then
// removes containers, namespaces and folders. An error leaves the pod to be
// stopped again.
func (w *worker) stop(ctx context.Context, grace time.Duration) error {
	w.stopping = true
	w.log.Info("stopping pod", "grace_period", grace)
	if err := w.terminateAll(ctx, grace); err != nil {
		return err
	}
	var errs []error
	for _, cs := range w.containers {
		if cs.ctr != nil {
			if err := removeContainer(ctx, cs.ctr); err != nil {
				errs = append(errs, err)
				continue
			}
			cs.ctr = nil
		}
	}
	// Anything else labelled with this pod (a run created by an agent that
	// died before recording it) goes too: no container outlives its pod.
	left, err := w.rt.client.Containers(ctx, fmt.Sprintf(`labels.%q==%q`, LabelPodUID, string(w.uid)))
	if err != nil {
		errs = append(errs, fmt.Errorf("list leftovers: %w", err))
	}
	for _, c := range left {
		if err := removeContainer(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return w.rt.teardownSandbox(string(w.uid), w.namespace, w.name)
}

// terminateAll ends every container of the pod as the kubelet kills a pod:
// nothing starts again and the probes stop; the app containers get their
// preStop hooks and stop signal within grace, then the sidecars (reverse
// order) within what is left, so a proxy or log shipper outlives what it
// serves; what still runs then gets SIGKILL. It returns once all exited.
func (w *worker) terminateAll(ctx context.Context, grace time.Duration) error {
	for _, cs := range w.containers {
		cs.pending = false
		if cs.probeCancel != nil {
			cs.probeCancel()
			cs.probeCancel = nil
		}
	}
	deadline := time.Now().Add(grace)
	isSidecar := func(cs *containerState) bool { return cs.kind == sidecarContainer }
	notSidecar := func(cs *containerState) bool { return cs.kind != sidecarContainer }
	deadline = w.preStopAll(ctx, deadline, notSidecar)
	if err := w.signalRunning(ctx, 0, notSidecar); err != nil {
		return err
	}
	w.waitExits(ctx, deadline, notSidecar)
	deadline = w.preStopAll(ctx, deadline, isSidecar)
	if err := w.signalRunning(ctx, 0, isSidecar); err != nil {
		return err
	}
	if !w.waitExits(ctx, deadline, nil) {
		w.log.Info("grace period over; killing", "grace_period", grace)
		if err := w.signalRunning(ctx, syscall.SIGKILL, nil); err != nil {
			return err
		}
		if !w.waitExits(ctx, time.Now().Add(killTimeout), nil) {
			return fmt.Errorf("containers still running %s after SIGKILL", killTimeout)
		}
	}
	return nil
}

// preStopAll runs the preStop hooks of the running containers which
// selects, together, within what is left until deadline, and returns the
// deadline for their stop signal: at least minStopGrace after the hooks, as
// the kubelet gives each container.
func (w *worker) preStopAll(ctx context.Context, deadline time.Time, which func(*containerState) bool) time.Time {
	var wg sync.WaitGroup
	hooks := false
	for _, cs := range w.containers {
		if !cs.running || cs.ctr == nil || !which(cs) || preStopOf(cs.spec) == nil {
			continue
		}
		left := time.Until(deadline)
		if left <= 0 {
			continue
		}
		hooks = true
		wg.Go(func() { w.preStop(ctx, cs.ctr, cs.spec, left) })
	}
	if !hooks {
		return deadline
	}
	wg.Wait()
	if floor := time.Now().Add(minStopGrace); floor.After(deadline) {
		return floor
	}
	return deadline
}

// signalRunning sends sig, or each container's stop signal when sig is 0,
// to every running container that which selects (nil: all). Sidecars are
// signalled in reverse order, as the kubelet stops them.
func (w *worker) signalRunning(ctx context.Context, sig syscall.Signal, which func(*containerState) bool) error {
	for i := range w.containers {
		cs := w.containers[len(w.containers)-1-i]
		if !cs.running || cs.ctr == nil || (which != nil && !which(cs)) {
			continue
		}
		s := sig
		if s == 0 {
			var err error
			if s, err = client.GetStopSignal(ctx, cs.ctr, syscall.SIGTERM); err != nil {
				s = syscall.SIGTERM
			}
		}
		task, err := cs.ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			cs.running = false
			continue
		}
		if err != nil {
			return fmt.Errorf("signal %s: %w", cs.name, err)
		}
		if err := task.Kill(ctx, s); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("signal %s with %s: %w", cs.name, s, err)
		}
	}
	return nil
}

// waitExits handles exits until no container that which selects (nil: all)
// runs (true) or the deadline passes (false).
func (w *worker) waitExits(ctx context.Context, deadline time.Time, which func(*containerState) bool) bool {
	timer := time.NewTimer(max(time.Until(deadline), 0))
	defer timer.Stop()
	for w.anyRunning(which) {
		select {
		case ex := <-w.exits:
			w.onExit(ctx, ex)
		case <-w.probeEvents:
			// Probes of a stopping pod change nothing.
		case <-timer.C:
			return !w.anyRunning(which)
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (w *worker) anyRunning(which func(*containerState) bool) bool {
	for _, cs := range w.containers {
		if cs.running && (which == nil || which(cs)) {
			return true
		}
	}
	return false
}
