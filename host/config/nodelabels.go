package config

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// kubeletLabels are the kubernetes.io labels NodeRestriction lets a node set on itself.
var kubeletLabels = map[string]bool{
	"kubernetes.io/hostname":                   true,
	"kubernetes.io/arch":                       true,
	"kubernetes.io/os":                         true,
	"beta.kubernetes.io/instance-type":         true,
	"beta.kubernetes.io/arch":                  true,
	"beta.kubernetes.io/os":                    true,
	"node.kubernetes.io/instance-type":         true,
	"topology.kubernetes.io/region":            true,
	"topology.kubernetes.io/zone":              true,
	"failure-domain.beta.kubernetes.io/region": true,
	"failure-domain.beta.kubernetes.io/zone":   true,
}

// ValidateNodeLabels checks labels a node sets on its own Node: valid keys and values, and, as
// NodeRestriction enforces, no kubernetes.io or k8s.io label other than the kubelet's own and those under
// kubelet.kubernetes.io/ and node.kubernetes.io/. Each error names field[key].
func ValidateNodeLabels(labels map[string]string, field string) []error {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var errs []error
	for _, k := range keys {
		name := fmt.Sprintf("%s[%s]", field, k)
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s: %w: invalid label key: %s", name, ErrInvalidConfig, strings.Join(msgs, "; ")))
			continue
		}
		if msgs := validation.IsValidLabelValue(labels[k]); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s: %w: invalid label value %q: %s", name, ErrInvalidConfig, labels[k], strings.Join(msgs, "; ")))
		}
		if !nodeMaySetLabel(k) {
			errs = append(errs, fmt.Errorf("%s: %w: NodeRestriction forbids a node to set this label on itself (kubernetes.io and k8s.io labels are limited to the kubelet's own and the kubelet.kubernetes.io/ and node.kubernetes.io/ prefixes)", name, ErrInvalidConfig))
		}
	}
	return errs
}

func nodeMaySetLabel(key string) bool {
	namespace, _, ok := strings.Cut(key, "/")
	if !ok {
		return true
	}
	namespace = strings.ToLower(namespace)
	if namespace == "node-restriction.kubernetes.io" || strings.HasSuffix(namespace, ".node-restriction.kubernetes.io") {
		return false
	}
	if !(namespace == "kubernetes.io" || strings.HasSuffix(namespace, ".kubernetes.io") || namespace == "k8s.io" || strings.HasSuffix(namespace, ".k8s.io")) {
		return true
	}
	if kubeletLabels[key] {
		return true
	}
	for _, allowed := range []string{"kubelet.kubernetes.io", "node.kubernetes.io"} {
		if namespace == allowed || strings.HasSuffix(namespace, "."+allowed) {
			return true
		}
	}
	return false
}
