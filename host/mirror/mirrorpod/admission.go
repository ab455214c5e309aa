package mirrorpod

import (
	"encoding/json"
	"fmt"

	corev1 "k8s.io/api/core/v1"
)

// ReasonStaticPodsOnly is the reason a pod bound to a node registered by staticlet is rejected with: staticlet
// runs static pods only, never pods from the API server. The kubelet rejects a pod it cannot admit with
// phase Failed, an admission reason naming what failed (NodeAffinity, OutOfcpu, NodeShutdown, ...) and the
// message "Pod was rejected: <why>", plus a Warning Event with the same reason; so does staticlet, with a
// reason of its own, since none of the kubelet's says why (docs/RATIONALE.md).
const ReasonStaticPodsOnly = "StaticPodsOnly"

// ForeignAction is what a registered node's agent does about a pod bound to it that is not a mirror pod.
type ForeignAction int

const (
	// LeaveForeign: not such a pod, or already terminal and not being deleted.
	LeaveForeign ForeignAction = iota
	// RejectForeign: patch its status to Failed (RejectionPatch) and record a Warning Event.
	RejectForeign
	// DeleteForeign: it is terminal and being deleted; delete it with grace period 0, as the kubelet does
	// once a pod it stopped is terminal, so that a deletion does not hang with no kubelet to finish it.
	DeleteForeign
)

// DecideForeign says what to do about p, a pod on nodeName's watch: pods bound to the node that are not
// mirror pods are never run by staticlet, so they are rejected once and deleted when they are deleted.
func DecideForeign(p *corev1.Pod, nodeName string) ForeignAction {
	if p == nil || IsMirror(p) || p.Spec.NodeName != nodeName {
		return LeaveForeign
	}
	terminal := p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded
	switch {
	case !terminal:
		return RejectForeign
	case p.DeletionTimestamp != nil:
		return DeleteForeign
	}
	return LeaveForeign
}

// RejectionMessage is why the pod is not run, as the Event says it.
func RejectionMessage(nodeName string) string {
	return fmt.Sprintf("node %s runs only static pods (staticlet); pods from the API server are not run here", nodeName)
}

// RejectionPatch is the merge patch of pods/status that rejects a pod as the kubelet does: phase Failed,
// the reason, and "Pod was rejected: " before the message.
func RejectionPatch(nodeName string) ([]byte, error) {
	patch, err := json.Marshal(map[string]any{"status": map[string]any{
		"phase": corev1.PodFailed, "reason": ReasonStaticPodsOnly, "message": "Pod was rejected: " + RejectionMessage(nodeName),
	}})
	if err != nil {
		return nil, fmt.Errorf("rejection patch: %w", err)
	}
	return patch, nil
}
