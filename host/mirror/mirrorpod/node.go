package mirrorpod

import (
	"encoding/json"
	"fmt"
	"maps"
	goruntime "runtime"
	"slices"
	"strings"
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
	// SystemInfo holds the host's facts as the kubelet reports them: kernel version, OS image, boot,
	// machine and system IDs (see host/mirror.HostNodeOptions). Its KubeletVersion, OperatingSystem and
	// Architecture are ignored (AgentVersion and the build's GOOS and GOARCH are reported), and its
	// ContainerRuntimeVersion is used only until NodeHealth reports one.
	SystemInfo corev1.NodeSystemInfo
	// KubeletPort is advertised as status.daemonEndpoints.kubeletEndpoint.Port; 0 when no kubelet API is
	// served on this node (the API server's logs, exec and node proxy then have nowhere to go).
	KubeletPort int32
	// Taints are set on the Node when this agent registers it. NodeRestriction forbids a node to change
	// its taints afterwards, so a Node that already exists keeps the ones it has.
	Taints []corev1.Taint
}

// ManagedLabelsAnnotation lists, comma-separated and sorted, the configured node labels staticlet last set
// on its Node. A label dropped from the configuration is removed from the Node; labels others set (an
// operator, a controller) are never touched. The kubelet applies --node-labels only when it registers the
// Node; staticlet keeps them in line.
const ManagedLabelsAnnotation = "staticlet.dev/node-labels"

// nodeLabels are the labels this agent wants on its Node: the well-known ones and the configured ones.
func nodeLabels(name string, opts NodeOptions) map[string]string {
	labels := map[string]string{
		corev1.LabelHostname:   name,
		corev1.LabelOSStable:   goruntime.GOOS,
		corev1.LabelArchStable: goruntime.GOARCH,
	}
	maps.Copy(labels, opts.Labels)
	return labels
}

func managedLabels(opts NodeOptions) string {
	return strings.Join(slices.Sorted(maps.Keys(opts.Labels)), ",")
}

// NodeObject is the Node this agent registers (pure: addresses, capacity and the host's facts are in opts,
// the runtime's health in h).
func NodeObject(name string, opts NodeOptions, h NodeHealth, now time.Time) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: nodeLabels(name, opts),
			Annotations: map[string]string{ManagedLabelsAnnotation: managedLabels(opts)}},
		Spec: corev1.NodeSpec{Taints: append([]corev1.Taint(nil), opts.Taints...)},
		Status: corev1.NodeStatus{
			Capacity:        opts.Capacity.DeepCopy(),
			Allocatable:     opts.Capacity.DeepCopy(),
			Addresses:       append([]corev1.NodeAddress(nil), opts.Addresses...),
			Conditions:      []corev1.NodeCondition{ReadyCondition(now, h, nil)},
			NodeInfo:        nodeInfo(opts, h, ""),
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: opts.KubeletPort}},
		},
	}
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

// NodeStatusPatch is the strategic merge patch of nodes/status that renews the Ready heartbeat from h and
// sets capacity, allocatable, addresses, nodeInfo and daemonEndpoints from opts.
func NodeStatusPatch(node *corev1.Node, opts NodeOptions, h NodeHealth, now time.Time) ([]byte, error) {
	want := NodeObject(node.Name, opts, h, now).Status
	want.Conditions = []corev1.NodeCondition{ReadyCondition(now, h, node.Status.Conditions)}
	want.NodeInfo = nodeInfo(opts, h, node.Status.NodeInfo.ContainerRuntimeVersion)
	old, err := jsonOf(corev1.Node{Status: corev1.NodeStatus{Conditions: node.Status.Conditions, Capacity: node.Status.Capacity,
		Allocatable: node.Status.Allocatable, Addresses: node.Status.Addresses, NodeInfo: node.Status.NodeInfo,
		DaemonEndpoints: node.Status.DaemonEndpoints}})
	if err != nil {
		return nil, fmt.Errorf("node status patch: %s: %w", node.Name, err)
	}
	patch, err := twoWayPatch(old, corev1.Node{Status: corev1.NodeStatus{Conditions: want.Conditions, Capacity: want.Capacity,
		Allocatable: want.Allocatable, Addresses: want.Addresses, NodeInfo: want.NodeInfo, DaemonEndpoints: want.DaemonEndpoints}}, corev1.Node{})
	if err != nil {
		return nil, fmt.Errorf("node status patch: %s: %w", node.Name, err)
	}
	return patch, nil
}

// NodeLabelsPatch is the merge patch that brings an existing Node's labels in line with opts: the
// well-known and configured labels set to their values, the labels listed in ManagedLabelsAnnotation but
// no longer configured removed, the annotation updated. It is nil when the Node already matches.
func NodeLabelsPatch(node *corev1.Node, opts NodeOptions) ([]byte, error) {
	labels := map[string]any{}
	for k, v := range nodeLabels(node.Name, opts) {
		if got, ok := node.Labels[k]; !ok || got != v {
			labels[k] = v
		}
	}
	if prev := node.Annotations[ManagedLabelsAnnotation]; prev != "" {
		for _, k := range strings.Split(prev, ",") {
			if _, still := opts.Labels[k]; !still && k != corev1.LabelHostname && k != corev1.LabelOSStable && k != corev1.LabelArchStable {
				if _, present := node.Labels[k]; present {
					labels[k] = nil
				}
			}
		}
	}
	want := managedLabels(opts)
	got, annotated := node.Annotations[ManagedLabelsAnnotation]
	if len(labels) == 0 && annotated && got == want {
		return nil, nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"labels": labels, "annotations": map[string]string{ManagedLabelsAnnotation: want},
	}})
	if err != nil {
		return nil, fmt.Errorf("node labels patch: %s: %w", node.Name, err)
	}
	return patch, nil
}
