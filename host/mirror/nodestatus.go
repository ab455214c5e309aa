package mirror

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
)

// runtimeHealthTimeout bounds one health check: containerd's client waits for a connection that is not
// there, so without a bound a stopped containerd would stall the Node's heartbeat and its Lease.
const runtimeHealthTimeout = 3 * time.Second

// nodeHealth asks the runtime whether it answers and, when it does, its version.
func (m *Manager) nodeHealth(ctx context.Context) mirrorpod.NodeHealth {
	var h mirrorpod.NodeHealth
	if m.cfg.RuntimeHealth != nil {
		hctx, cancel := context.WithTimeout(ctx, runtimeHealthTimeout)
		err := m.cfg.RuntimeHealth(hctx)
		cancel()
		if err != nil {
			if !m.runtimeDown.Load() {
				m.log.Warn("node: container runtime is down; the Node is reported not ready", "error", err)
			}
			m.runtimeDown.Store(true)
			h.RuntimeDown = true
			return h
		}
		if m.runtimeDown.Swap(false) {
			m.log.Info("node: container runtime answers again")
		}
	}
	if m.cfg.RuntimeVersion != nil {
		vctx, cancel := context.WithTimeout(ctx, runtimeHealthTimeout)
		v, err := m.cfg.RuntimeVersion(vctx)
		cancel()
		if err != nil {
			m.log.Debug("node: runtime version unknown", "error", err)
		}
		h.RuntimeVersion = v
	}
	return h
}

// readyChanged records the kubelet's NodeReady or NodeNotReady Event when a status patch changed the
// Ready condition.
func (m *Manager) readyChanged(was, now bool) {
	if was == now {
		return
	}
	reason := "NodeNotReady"
	if now {
		reason = "NodeReady"
	}
	m.recorder.Eventf(m.nodeRef(), corev1.EventTypeNormal, reason, "Node %s status is now: %s", m.cfg.NodeName, reason)
	m.events.Add(1)
}

// warnMissingTaints logs, once, that a Node this agent did not register lacks the configured taints:
// NodeRestriction forbids a node to change its own taints, so an administrator has to add them.
func (m *Manager) warnMissingTaints(node *corev1.Node) {
	if m.taintsWarned.Load() {
		return
	}
	var missing []string
	for _, want := range m.cfg.Node.Taints {
		found := false
		for _, t := range node.Spec.Taints {
			found = found || (t.Key == want.Key && t.Effect == want.Effect && t.Value == want.Value)
		}
		if !found {
			missing = append(missing, want.ToString())
		}
	}
	if len(missing) > 0 {
		m.taintsWarned.Store(true)
		m.log.Warn("node: the Node exists without the configured taints, and a node may not change its own taints; add them as an administrator (kubectl taint nodes)",
			"node", m.cfg.NodeName, "missing", missing)
	}
}
