package config

import (
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultNodeTaintKey is the key of the NoSchedule taint a registered Node carries unless
// registerWithTaints says otherwise: staticlet runs static pods only, and the scheduler should not place
// others on the node (static pods need no toleration: nothing schedules them).
const DefaultNodeTaintKey = "node.staticlet.dev/static-pods-only"

// nodeTaints defaults registerWithTaints: unset is the one default taint, an empty list is none.
func nodeTaints(configured []corev1.Taint) []corev1.Taint {
	if configured == nil {
		return []corev1.Taint{{Key: DefaultNodeTaintKey, Effect: corev1.TaintEffectNoSchedule}}
	}
	return configured
}

// validateNodeRegistration checks registerWithTaints as the API server would (qualified key, label-like
// value, one of the three effects, no TimeAdded), kubeletPort's range, and refuses a nodeIP the kubelet
// refuses as --node-ip because no other host could reach it (unspecified, multicast, link-local).
func validateNodeRegistration(s Settings) []error {
	taints, kubeletPort := s.RegisterWithTaints, s.KubeletPort
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %w: %s", field, ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	for i, t := range taints {
		field := fmt.Sprintf("registerWithTaints[%d]", i)
		if msgs := validation.IsQualifiedName(t.Key); len(msgs) > 0 {
			bad(field+".key", "%q: %s", t.Key, strings.Join(msgs, "; "))
		}
		if t.Value != "" {
			if msgs := validation.IsValidLabelValue(t.Value); len(msgs) > 0 {
				bad(field+".value", "%q: %s", t.Value, strings.Join(msgs, "; "))
			}
		}
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			bad(field+".effect", "%q is not one of NoSchedule, PreferNoSchedule, NoExecute", t.Effect)
		}
		if t.TimeAdded != nil {
			bad(field+".timeAdded", "must not be set: the API server sets it for NoExecute taints")
		}
	}
	if ip := net.ParseIP(s.NodeIP); ip != nil && (ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalUnicast()) {
		bad("nodeIP", "%s is an unspecified, multicast or link-local address, which the API server cannot reach the node on", s.NodeIP)
	}
	if kubeletPort < 0 || kubeletPort > 65535 {
		bad("kubeletPort", "%d is not a port number (0 advertises none)", kubeletPort)
	}
	return errs
}
