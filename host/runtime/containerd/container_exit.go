package containerd

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// watch forwards the task's exit to the worker. When containerd goes away
// the Wait call breaks while the shim keeps the task; watch then waits again
// once containerd answers, so an exit is never lost or invented.
func (w *worker) watch(ctx context.Context, name string, gen uint64, ctr client.Container, ch <-chan client.ExitStatus) {
	delay := 100 * time.Millisecond
	for {
		var st client.ExitStatus
		select {
		case st = <-ch:
		case <-ctx.Done():
			return
		}
		if st.Error() == nil {
			w.sendExit(ctx, taskExit{name: name, gen: gen, code: int32(st.ExitCode()), at: st.ExitTime()})
			return
		}
		if ctx.Err() != nil {
			return
		}
		w.log.Warn("lost the wait on a task; re-attaching", "container", name, "error", st.Error())
		for {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			delay = min(2*delay, 5*time.Second)
			task, err := ctr.Task(ctx, nil)
			if errdefs.IsNotFound(err) {
				w.sendExit(ctx, taskExit{name: name, gen: gen, code: 255, at: time.Now(), lost: true})
				return
			}
			if err != nil {
				continue
			}
			if ch, err = task.Wait(ctx); err == nil {
				w.log.Info("re-attached to a task", "container", name)
				break
			}
		}
	}
}

func (w *worker) sendExit(ctx context.Context, ex taskExit) {
	select {
	case w.exits <- ex:
	case <-ctx.Done():
	}
}

func (w *worker) find(name string) *containerState {
	for _, cs := range w.containers {
		if cs.name == name {
			return cs
		}
	}
	return nil
}

// onExit records a task's exit and applies the restart policy: the pod's
// for app containers, OnFailure at most for init containers, Always for
// sidecars until the pod finishes.
func (w *worker) onExit(ctx context.Context, ex taskExit) {
	cs := w.find(ex.name)
	if cs == nil || cs.gen != ex.gen || !cs.running {
		return
	}
	cs.running, cs.started, cs.ready = false, false, false
	if cs.probeCancel != nil {
		cs.probeCancel()
		cs.probeCancel = nil
	}
	now := w.rt.now()
	oom := w.oomKilled(cs)
	term := &corev1.ContainerStateTerminated{
		ExitCode: ex.code, Reason: terminationReason(ex.code, oom),
		StartedAt: metav1.NewTime(cs.startedAt), FinishedAt: metav1.NewTime(ex.at),
	}
	if cs.ctr != nil {
		term.ContainerID = "containerd://" + cs.ctr.ID()
	}
	if ex.lost {
		term.Reason, term.Message = "ContainerStatusUnknown", "the task vanished without an exit status (its shim died)"
	}
	if cs.killMessage != "" {
		term.Message, cs.killMessage = cs.killMessage, ""
	}
	probeKilled := cs.probeKilled
	cs.probeKilled = false
	if w.stopping || w.deadlineExceeded {
		cs.terminated, cs.pending = term, false
		return
	}
	policy := corev1.RestartPolicyNever
	if w.pod != nil {
		policy = w.pod.Spec.RestartPolicy
	}
	switch cs.kind {
	case initContainer:
		if policy == corev1.RestartPolicyAlways {
			policy = corev1.RestartPolicyOnFailure
		}
	case sidecarContainer:
		policy = corev1.RestartPolicyAlways
		if w.finishing {
			policy = corev1.RestartPolicyNever
		}
	}
	if cs.kind == initContainer && ex.code == 0 && !ex.lost {
		cs.completed = true
		w.markCompleted(ctx, cs)
	}
	if !restartWanted(policy, ex.code) && !(probeKilled && policy != corev1.RestartPolicyNever) {
		cs.terminated, cs.pending = term, false
		w.log.Info("container terminated", "container", cs.name, "kind", cs.kind, "exit_code", ex.code, "reason", term.Reason, "restart_policy", policy)
		return
	}
	cs.lastTerminated = term
	at := cs.crash.readyAt(now, w.rt.opts.CrashBackoff)
	cs.pending, cs.pendingAt = true, at
	cs.waiting = nil
	if at.After(now) {
		cs.waiting = &corev1.ContainerStateWaiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", cs.crash.delay, cs.name, w.name),
		}
	}
	w.log.Info("container exited; restarting", "container", cs.name, "exit_code", ex.code, "reason", term.Reason, "restart_in", at.Sub(now))
}

// markCompleted labels a completed init container's run, so an agent that
// adopts the pod never runs it again, even if its stopped task is gone.
func (w *worker) markCompleted(ctx context.Context, cs *containerState) {
	if cs.ctr == nil {
		return
	}
	if _, err := cs.ctr.SetLabels(ctx, map[string]string{LabelCompleted: "true"}); err != nil {
		w.log.Warn("cannot label a completed init container; an agent restart may run it again", "container", cs.name, "error", err)
	}
}

// oomKilled reads the container's memory cgroup (v1 or v2) for OOM kills;
// runc keeps it until the task is deleted.
func (w *worker) oomKilled(cs *containerState) bool {
	if cs.ctr == nil {
		return false
	}
	return w.rt.oomKilledIn(w.sandbox, cs.ctr.ID())
}
