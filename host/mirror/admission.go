package mirror

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
)

// refuseForeign rejects, once, a pod bound to this node that is not a mirror pod (an ordinary pod created
// with spec.nodeName, a DaemonSet's pod that tolerates every taint): staticlet never runs it, and without
// an answer it would sit Pending forever. Only a node this agent registers does it: on a Node another
// agent registered (a kubelet next to staticlet), that agent runs such pods.
func (m *Manager) refuseForeign(ctx context.Context, key string, p *corev1.Pod) error {
	if !m.cfg.RegisterNode {
		return nil
	}
	if p == nil {
		delete(m.refused, key)
		return nil
	}
	switch mirrorpod.DecideForeign(p, m.cfg.NodeName) {
	case mirrorpod.RejectForeign:
		return m.rejectForeign(ctx, key, p)
	case mirrorpod.DeleteForeign:
		rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
		defer cancel()
		zero := int64(0)
		uid := p.UID
		err := m.cfg.Client.CoreV1().Pods(p.Namespace).Delete(rctx, p.Name, metav1.DeleteOptions{
			GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
		m.count("delete", err)
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete rejected pod: %s (uid %s): %w", key, uid, err)
		}
	}
	return nil
}

func (m *Manager) rejectForeign(ctx context.Context, key string, p *corev1.Pod) error {
	patch, err := mirrorpod.RejectionPatch(m.cfg.NodeName)
	if err != nil {
		return fmt.Errorf("reject pod: %s: %w", key, err)
	}
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	_, err = m.cfg.Client.CoreV1().Pods(p.Namespace).Patch(rctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "status")
	m.count("patch_status", err)
	switch {
	case apierrors.IsNotFound(err):
		return nil // gone already
	case err != nil:
		return fmt.Errorf("reject pod: %s (uid %s): %w", key, p.UID, err)
	}
	if m.refused[key] != p.UID {
		m.refused[key] = p.UID
		m.log.Info("pod bound to this node rejected: staticlet runs only static pods", "pod", key, "uid", p.UID)
		m.recorder.Event(p, corev1.EventTypeWarning, mirrorpod.ReasonStaticPodsOnly, mirrorpod.RejectionMessage(m.cfg.NodeName))
		m.events.Add(1)
	}
	return nil
}
