package mirrorpod

import (
	"fmt"
	goruntime "runtime"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// NodeLeaseNamespace is where nodes renew their Lease.
const NodeLeaseNamespace = "kube-node-lease"

// Lease timing as the kubelet's defaults: a 40 s lease renewed every 10 s.
const (
	LeaseDurationSeconds = 40
	LeaseRenewInterval   = 10 * time.Second
)

// NodeOptions is what a registered Node says about this host.
type NodeOptions struct {
	// Labels are added to the well-known ones (kubernetes.io/hostname, kubernetes.io/os,
	// kubernetes.io/arch). NodeRestriction refuses most kubernetes.io and k8s.io labels set by a node; the
	// config validates them (config.ValidateNodeLabels).
	Labels map[string]string
	// Addresses; when empty, InternalIP is guessed from the host's interfaces and Hostname is the node name.
	Addresses []corev1.NodeAddress
	// Capacity; when empty, CPU and memory come from the host and pods is 110.
	Capacity corev1.ResourceList
	// AgentVersion is reported as the node's kubelet version.
	AgentVersion string
}

// NodeObject is the Node this agent registers (pure: addresses and capacity are in opts).
func NodeObject(name string, opts NodeOptions, now time.Time) *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:   name,
		corev1.LabelOSStable:   goruntime.GOOS,
		corev1.LabelArchStable: goruntime.GOARCH,
	}
	for k, v := range opts.Labels {
		labels[k] = v
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Status: corev1.NodeStatus{
			Capacity:    opts.Capacity.DeepCopy(),
			Allocatable: opts.Capacity.DeepCopy(),
			Addresses:   append([]corev1.NodeAddress(nil), opts.Addresses...),
			Conditions:  []corev1.NodeCondition{ReadyCondition(now, nil)},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:  opts.AgentVersion,
				OperatingSystem: goruntime.GOOS,
				Architecture:    goruntime.GOARCH,
			},
		},
	}
}

// ReadyCondition is the node's Ready condition as of now, keeping the transition time of prev when it was
// already Ready.
func ReadyCondition(now time.Time, prev []corev1.NodeCondition) corev1.NodeCondition {
	c := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
		Message:           "staticlet is posting ready status",
		LastHeartbeatTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
	for _, p := range prev {
		if p.Type == corev1.NodeReady && p.Status == corev1.ConditionTrue && !p.LastTransitionTime.IsZero() {
			c.LastTransitionTime = p.LastTransitionTime
		}
	}
	return c
}

// LeaseObject is the node's Lease, owned by the Node as the kubelet makes it.
func LeaseObject(nodeName string, nodeUID types.UID, now time.Time) *coordinationv1.Lease {
	duration := int32(LeaseDurationSeconds)
	renew := metav1.NewMicroTime(now)
	holder := nodeName
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: nodeName, Namespace: NodeLeaseNamespace,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: nodeName, UID: nodeUID}},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &duration, RenewTime: &renew},
	}
}

// InternalIP returns the node's InternalIP address, or "".
func InternalIP(n *corev1.Node) string {
	if n == nil {
		return ""
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	return ""
}

// NodeReady reports whether the node's Ready condition is True.
func NodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeStatusPatch is the strategic merge patch of nodes/status that renews the Ready heartbeat and sets
// capacity, allocatable and addresses from opts.
func NodeStatusPatch(node *corev1.Node, opts NodeOptions, now time.Time) ([]byte, error) {
	want := NodeObject(node.Name, opts, now).Status
	want.Conditions = []corev1.NodeCondition{ReadyCondition(now, node.Status.Conditions)}
	old, err := jsonOf(corev1.Node{Status: corev1.NodeStatus{Conditions: node.Status.Conditions, Capacity: node.Status.Capacity,
		Allocatable: node.Status.Allocatable, Addresses: node.Status.Addresses}})
	if err != nil {
		return nil, fmt.Errorf("node status patch: %s: %w", node.Name, err)
	}
	patch, err := twoWayPatch(old, corev1.Node{Status: corev1.NodeStatus{Conditions: want.Conditions, Capacity: want.Capacity,
		Allocatable: want.Allocatable, Addresses: want.Addresses}}, corev1.Node{})
	if err != nil {
		return nil, fmt.Errorf("node status patch: %s: %w", node.Name, err)
	}
	return patch, nil
}
