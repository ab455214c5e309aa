package mirror

// This file keeps the Node, its status and its Lease (registerNode: true).

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
)

// keepNode registers the Node when it is missing, renews its Lease every LeaseRenewInterval and patches
// its Ready condition every NodeStatusInterval, retrying with jittered back-off while the API server is away.
func (m *Manager) keepNode(ctx context.Context) {
	var lastStatus time.Time
	backoff := newJitteredBackoff(retryBase, retryMax, 0.5)
	for {
		err := m.ensureNode(ctx, &lastStatus)
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if apierrors.IsForbidden(err) {
				m.forbidden.Add(1)
			}
			wait = backoff.When("node")
			m.log.Warn("node: request failed; retrying", "error", err, "retry_in", wait)
		} else {
			backoff.Forget("node")
			wait = wait4(min(mirrorpod.LeaseRenewInterval, m.cfg.NodeStatusInterval))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// wait4 spreads periodic work by up to -10%, as the kubelet's lease controller does.
func wait4(d time.Duration) time.Duration { return wait.Jitter(d*9/10, 0.1) }

func (m *Manager) ensureNode(ctx context.Context, lastStatus *time.Time) error {
	health := m.nodeHealth(ctx)
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	nodes := m.cfg.Client.CoreV1().Nodes()
	now := m.cfg.Now()
	node, err := nodes.Get(rctx, m.cfg.NodeName, metav1.GetOptions{})
	m.count("get_node", err)
	if apierrors.IsNotFound(err) {
		node, err = nodes.Create(rctx, mirrorpod.NodeObject(m.cfg.NodeName, m.cfg.Node, health, now), metav1.CreateOptions{})
		m.count("create_node", err)
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("register node: %s: %w", m.cfg.NodeName, err)
		}
		if err == nil {
			m.log.Info("node: registered", "node", m.cfg.NodeName, "uid", node.UID)
			*lastStatus = now
		} else {
			node, err = nodes.Get(rctx, m.cfg.NodeName, metav1.GetOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("register node: get %s: %w", m.cfg.NodeName, err)
	}
	if node, err = m.reconcileNodeLabels(rctx, node); err != nil {
		return err
	}
	m.warnMissingTaints(node)
	if now.Sub(*lastStatus) >= m.cfg.NodeStatusInterval || mirrorpod.NodeReady(node) == health.RuntimeDown {
		if err := m.patchNodeStatus(rctx, node, health, now); err != nil {
			return err
		}
		*lastStatus = now
	}
	return m.renewLease(rctx, node, now)
}

// reconcileNodeLabels patches the Node's labels when they differ from the configured ones (see
// mirrorpod.NodeLabelsPatch) and returns the Node as it is now.
func (m *Manager) reconcileNodeLabels(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	patch, err := mirrorpod.NodeLabelsPatch(node, m.cfg.Node)
	if err != nil || patch == nil {
		return node, err
	}
	patched, err := m.cfg.Client.CoreV1().Nodes().Patch(ctx, m.cfg.NodeName, types.MergePatchType, patch, metav1.PatchOptions{})
	m.count("patch_node_labels", err)
	if err != nil {
		return node, fmt.Errorf("node labels: patch %s: %w", m.cfg.NodeName, err)
	}
	m.log.Info("node: labels reconciled", "node", m.cfg.NodeName, "patch", string(patch))
	return patched, nil
}

func (m *Manager) patchNodeStatus(ctx context.Context, node *corev1.Node, health mirrorpod.NodeHealth, now time.Time) error {
	patch, err := mirrorpod.NodeStatusPatch(node, m.cfg.Node, health, now)
	if err != nil {
		return fmt.Errorf("node status: %s: %w", m.cfg.NodeName, err)
	}
	_, err = m.cfg.Client.CoreV1().Nodes().Patch(ctx, m.cfg.NodeName, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	m.count("patch_node_status", err)
	if err != nil {
		return fmt.Errorf("node status: patch %s: %w", m.cfg.NodeName, err)
	}
	m.readyChanged(mirrorpod.NodeReady(node), !health.RuntimeDown)
	return nil
}

func (m *Manager) renewLease(ctx context.Context, node *corev1.Node, now time.Time) error {
	leases := m.cfg.Client.CoordinationV1().Leases(NodeLeaseNamespace)
	want := mirrorpod.LeaseObject(m.cfg.NodeName, node.UID, now)
	lease, err := leases.Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
	m.count("get_lease", err)
	if apierrors.IsNotFound(err) {
		_, err := leases.Create(ctx, want, metav1.CreateOptions{})
		m.count("create_lease", err)
		if err != nil {
			return fmt.Errorf("node lease: create %s/%s: %w", NodeLeaseNamespace, m.cfg.NodeName, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("node lease: get %s/%s: %w", NodeLeaseNamespace, m.cfg.NodeName, err)
	}
	lease.Spec = want.Spec
	lease.OwnerReferences = want.OwnerReferences
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	m.count("update_lease", err)
	if err != nil {
		return fmt.Errorf("node lease: renew %s/%s: %w", NodeLeaseNamespace, m.cfg.NodeName, err)
	}
	return nil
}
