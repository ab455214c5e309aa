package mirror

// This file keeps one mirror pod in line: create, delete, status patches.

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
)

func (m *Manager) syncPod(ctx context.Context, key string) error {
	if !m.pods.synced.Load() || m.nodeUID == "" {
		return nil // keyAll runs once both are known
	}
	want := m.desired[key]
	var static *corev1.Pod
	if want != nil {
		static = want.Pod
	}
	actual := m.pods.pod(key)
	if err := m.refuseForeign(ctx, key, actual); err != nil {
		return err
	}
	term := m.terminating[key]
	d := mirrorpod.Decide(static, actual, m.cfg.NodeName, m.nodeUID, m.state.Synced, term.UID)
	if d.Action != mirrorpod.SyncStatus && d.Action != mirrorpod.Nothing {
		m.log.Debug("mirror pod: sync", "pod", key, "action", d.Action, "reason", d.Reason)
	}
	if d.Action != mirrorpod.Conflict {
		delete(m.conflicts, key)
	}
	switch d.Action {
	case mirrorpod.Nothing:
		if actual == nil {
			delete(m.stopping, key)
		}
		return nil
	case mirrorpod.Create:
		return m.create(ctx, want)
	case mirrorpod.Recreate:
		m.log.Info("mirror pod: recreating", "pod", key, "reason", d.Reason, "old_uid", actual.UID)
		if err := m.delete(ctx, actual); err != nil {
			return err
		}
		return m.create(ctx, want)
	case mirrorpod.Delete:
		if gone := m.stopping[key]; gone != nil {
			m.record(actual, mirrorpod.KillingEvents(gone))
			delete(m.stopping, key)
		}
		m.log.Info("mirror pod: deleting", "pod", key, "reason", d.Reason, "uid", actual.UID)
		return m.delete(ctx, actual)
	case mirrorpod.Conflict:
		if m.conflicts[key] != d.Reason {
			m.conflicts[key] = d.Reason
			m.log.Warn("mirror pod: cannot create", "pod", key, "reason", d.Reason)
			m.recorder.Eventf(m.nodeRef(), corev1.EventTypeWarning, "MirrorPodConflict", "static pod %s has no mirror pod: %s", key, d.Reason)
			m.events.Add(1)
		}
		return nil
	case mirrorpod.SyncStatus:
		return m.syncStatus(ctx, want, actual, false)
	case mirrorpod.SyncTerminating:
		if gone := m.stopping[key]; gone != nil {
			m.record(actual, mirrorpod.KillingEvents(gone))
			delete(m.stopping, key)
		}
		// The mirror is a copy of the pod it mirrors: its spec lays out the container statuses, and the
		// agent's UID for the pod finds the runtime's status.
		spec := actual.DeepCopy()
		spec.UID = types.UID(term.UID)
		return m.syncStatus(ctx, &Pod{Pod: spec, Runtime: term.Runtime}, actual, true)
	case mirrorpod.Wait:
		return nil
	}
	return nil
}

func (m *Manager) create(ctx context.Context, want *Pod) error {
	mirror := mirrorpod.BuildMirror(want.Pod, m.cfg.NodeName, m.nodeUID)
	key := mirrorpod.Key(mirror)
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	created, err := m.cfg.Client.CoreV1().Pods(mirror.Namespace).Create(rctx, mirror, metav1.CreateOptions{})
	m.count("create", err)
	if err == nil {
		m.creates.Add(1)
		m.log.Info("mirror pod: created", "pod", key, "uid", created.UID, "hash", mirrorpod.Hash(want.Pod))
		m.created[key] = created
		return m.syncStatus(ctx, want, created, false)
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create mirror pod: %s: %w", key, err)
	}
	// Our cache is behind: look at what is there. The same hash is success, as for the kubelet; anything
	// else is handled when the watch event for it arrives (or on retry).
	existing, getErr := m.cfg.Client.CoreV1().Pods(mirror.Namespace).Get(rctx, mirror.Name, metav1.GetOptions{})
	m.count("get", getErr)
	if getErr != nil {
		return fmt.Errorf("create mirror pod: %s: already exists, and reading it failed: %w", key, getErr)
	}
	if d := mirrorpod.Decide(want.Pod, existing, m.cfg.NodeName, m.nodeUID, m.state.Synced, m.terminating[key].UID); d.Action != mirrorpod.SyncStatus {
		return fmt.Errorf("create mirror pod: %s: %w (%s)", key, err, d.Reason)
	}
	return m.syncStatus(ctx, want, existing, false)
}

// delete removes a mirror pod at once (grace period 0) and only the object that was looked at (UID
// precondition), never a newer one created meanwhile.
func (m *Manager) delete(ctx context.Context, p *corev1.Pod) error {
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	zero := int64(0)
	uid := p.UID
	if c := m.created[mirrorpod.Key(p)]; c != nil && c.UID == uid {
		delete(m.created, mirrorpod.Key(p))
	}
	err := m.cfg.Client.CoreV1().Pods(p.Namespace).Delete(rctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	m.count("delete", err)
	switch {
	case err == nil:
		m.deletes.Add(1)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Gone already, or another object holds the name now: its own watch event brings it to us.
		return nil
	}
	return fmt.Errorf("delete mirror pod: %s (uid %s): %w", mirrorpod.Key(p), uid, err)
}

// syncStatus patches the mirror's status from what the runtime reports of want (or from the start failure
// the agent reports). terminating is set for a pod on its way out: its mirror shows its status but gets no
// lifecycle Events (Killing was recorded when it began).
func (m *Manager) syncStatus(ctx context.Context, want *Pod, mirror *corev1.Pod, terminating bool) error {
	key := mirrorpod.Key(mirror)
	rs := want.Runtime // the agent's view: it publishes its state whenever the runtime signals a change
	if rs == nil && want.LastError == "" {
		// Nothing is known of the pod yet: the agent has not started it, or the runtime is still adopting
		// it after an agent restart. A status made up now (Pending, containers waiting) would only be
		// taken back; the kubelet, too, sends a pod's status only once it has synced the pod.
		return nil
	}
	if !terminating {
		prev := m.lastRuntime[key]
		if prev == nil && len(mirror.Status.ContainerStatuses)+len(mirror.Status.InitContainerStatuses) > 0 {
			// First look since this agent started: what the mirror shows is what was announced, so
			// containers that kept running across an agent restart get no second Created and Started.
			prev = &mirror.Status
		}
		m.record(mirror, mirrorpod.LifecycleEvents(prev, rs))
	}
	if rs != nil {
		m.lastRuntime[key] = rs.DeepCopy()
	}
	status := mirrorpod.MirrorStatus(mirrorpod.StatusInput{Static: want.Pod, Runtime: rs, AgentPhase: want.Phase, LastError: want.LastError,
		HostIP: m.hostIP, Mirror: mirror, Now: m.cfg.Now()})
	patch, changed, err := mirrorpod.StatusPatch(mirror, status)
	if err != nil || !changed {
		return err
	}
	if r := m.limiter.Reserve(); r.Delay() > 0 {
		// Over the budget: come back when a token is free; the queue coalesces changes until then.
		delay := r.Delay()
		r.Cancel()
		m.queue.AddAfter(key, delay)
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	_, err = m.cfg.Client.CoreV1().Pods(mirror.Namespace).Patch(rctx, mirror.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	m.count("patch_status", err)
	switch {
	case err == nil:
		m.patches.Add(1)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil // the mirror changed under us; its watch event brings it back here
	}
	return fmt.Errorf("patch mirror pod status: %s: %w", key, err)
}

// count reports one request; NotFound and Conflict are answers the manager expects, not errors.
func (m *Manager) count(verb string, err error) {
	outcome := "ok"
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
		outcome = "error"
	}
	m.cfg.CountCall(verb, outcome)
}
