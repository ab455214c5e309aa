package mirrorpod

import (
	goruntime "runtime"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// NodeHealth is what the edge observed of the container runtime at one moment, for the Node's status.
type NodeHealth struct {
	// RuntimeDown is set when the runtime did not answer its last health check.
	RuntimeDown bool
	// RuntimeVersion is the runtime as the kubelet names it ("containerd://1.7.24"); "" when it could not
	// be read (the last known one is kept).
	RuntimeVersion string
}

// The Ready condition's reasons and messages, worded as the kubelet words them
// (pkg/kubelet/nodestatus.ReadyCondition, pkg/kubelet/runtime.go runtimeErrors).
const (
	ReasonNodeReady      = "KubeletReady"
	ReasonNodeNotReady   = "KubeletNotReady"
	MessageNodeReady     = "staticlet is posting ready status"
	MessageRuntimeIsDown = "container runtime is down"
)

// ReadyCondition is the node's Ready condition as of now: False with the kubelet's reason and message while
// the runtime is down, else True. The transition time of prev is kept while the status stays the same.
func ReadyCondition(now time.Time, h NodeHealth, prev []corev1.NodeCondition) corev1.NodeCondition {
	c := corev1.NodeCondition{
		Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: ReasonNodeReady, Message: MessageNodeReady,
		LastHeartbeatTime: metav1.NewTime(now), LastTransitionTime: metav1.NewTime(now),
	}
	if h.RuntimeDown {
		c.Status, c.Reason, c.Message = corev1.ConditionFalse, ReasonNodeNotReady, MessageRuntimeIsDown
	}
	for _, p := range prev {
		if p.Type == corev1.NodeReady && p.Status == c.Status && !p.LastTransitionTime.IsZero() {
			c.LastTransitionTime = p.LastTransitionTime
		}
	}
	return c
}

// nodeInfo is the Node's nodeInfo: the host's facts from opts, staticlet's version as the kubelet
// version, and the runtime version from h, else last (the one the Node shows), else opts'.
func nodeInfo(opts NodeOptions, h NodeHealth, last string) corev1.NodeSystemInfo {
	info := opts.SystemInfo
	info.KubeletVersion = opts.AgentVersion
	info.OperatingSystem = goruntime.GOOS
	info.Architecture = goruntime.GOARCH
	info.KubeProxyVersion = ""
	switch {
	case h.RuntimeVersion != "":
		info.ContainerRuntimeVersion = h.RuntimeVersion
	case last != "":
		info.ContainerRuntimeVersion = last
	}
	return info
}
