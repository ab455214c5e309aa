package containerd

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	corev1 "k8s.io/api/core/v1"
)

// safeSysctls are the sysctls the kubelet allows every pod (its "safe set",
// Kubernetes 1.32): namespaced, and unable to hurt other pods. This host's
// kernel (5.x+) has all of them, so no kernel-version gating is needed.
var safeSysctls = map[string]bool{
	"kernel.shm_rmid_forced":              true,
	"net.ipv4.ip_local_port_range":        true,
	"net.ipv4.tcp_syncookies":             true,
	"net.ipv4.ping_group_range":           true,
	"net.ipv4.ip_unprivileged_port_start": true,
	"net.ipv4.ip_local_reserved_ports":    true,
	"net.ipv4.tcp_keepalive_time":         true,
	"net.ipv4.tcp_fin_timeout":            true,
	"net.ipv4.tcp_keepalive_intvl":        true,
	"net.ipv4.tcp_keepalive_probes":       true,
	"net.ipv4.tcp_rmem":                   true,
	"net.ipv4.tcp_wmem":                   true,
}

// ErrSysctlForbidden marks a pod sysctl the node does not allow; the kubelet
// rejects such a pod with reason SysctlForbidden.
var ErrSysctlForbidden = errors.New("SysctlForbidden")

// ErrSysctlNotNamespaced marks an allowedUnsafeSysctls pattern that would
// reach outside the pod: the kubelet refuses to start with one.
var ErrSysctlNotNamespaced = errors.New("sysctl is not namespaced")

// sysctlNamespace is the namespace a sysctl lives in, as the kubelet's
// NamespacedBy: ipc for System V IPC and POSIX message queues, net for
// net.*; "" for a sysctl no pod may set because it is host-wide.
func sysctlNamespace(name string) string {
	switch {
	case name == "kernel.sem", strings.HasPrefix(name, "kernel.shm"), strings.HasPrefix(name, "kernel.msg"), strings.HasPrefix(name, "fs.mqueue."):
		return "ipc"
	case strings.HasPrefix(name, "net."):
		return "net"
	}
	return ""
}

// normalizeSysctl turns the slash form (net/ipv4/ip_forward) into the dot
// form, as the kubelet does; a name with dots in a slash path keeps them as
// slashes so net/ipv4/conf/eth0.100/forwarding stays one component.
func normalizeSysctl(name string) string {
	if !strings.Contains(name, "/") {
		return name
	}
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = strings.ReplaceAll(p, ".", "/")
	}
	return strings.Join(parts, ".")
}

// SysctlPolicy says which sysctls pods may set: the safe set plus the
// KubeletConfiguration's allowedUnsafeSysctls (exact names or prefixes
// ending in *).
type SysctlPolicy struct {
	AllowedUnsafe []string
}

// Validate checks the allowlist as the kubelet does at start: every
// pattern must name namespaced sysctls.
func (p SysctlPolicy) Validate() error {
	var errs []error
	for i, pattern := range p.AllowedUnsafe {
		name := normalizeSysctl(strings.TrimSuffix(pattern, "*"))
		if sysctlNamespace(name) == "" {
			errs = append(errs, fmt.Errorf("allowedUnsafeSysctls[%d] %q: %w", i, pattern, ErrSysctlNotNamespaced))
		}
	}
	return errors.Join(errs...)
}

func (p SysctlPolicy) allowed(name string) bool {
	if safeSysctls[name] {
		return true
	}
	for _, pattern := range p.AllowedUnsafe {
		pattern = normalizeSysctl(pattern)
		if prefix, ok := strings.CutSuffix(pattern, "*"); ok && strings.HasPrefix(name, prefix) || pattern == name {
			return true
		}
	}
	return false
}

// podSysctls checks the pod's sysctls against the policy and its host
// namespaces, with the kubelet's messages, and returns the allowed ones in
// dot form and a refusal for each other.
func podSysctls(pod *corev1.Pod, policy SysctlPolicy) (map[string]string, []refusal) {
	if pod.Spec.SecurityContext == nil || len(pod.Spec.SecurityContext.Sysctls) == 0 {
		return nil, nil
	}
	out := map[string]string{}
	var refused []refusal
	for i, s := range pod.Spec.SecurityContext.Sysctls {
		name := normalizeSysctl(s.Name)
		bad := func(detail string) {
			refused = append(refused, refusal{field: fmt.Sprintf("spec.securityContext.sysctls[%d]", i), name: s.Name, kind: ErrSysctlForbidden, detail: detail})
		}
		switch ns := sysctlNamespace(name); {
		case !policy.allowed(name):
			bad(fmt.Sprintf("forbidden sysctl: %q not allowlisted", s.Name))
		case ns == "":
			bad(fmt.Sprintf("%q is not a namespaced sysctl", s.Name))
		case ns == "net" && pod.Spec.HostNetwork:
			bad(fmt.Sprintf("%q not allowed with host net enabled", s.Name))
		case ns == "ipc" && pod.Spec.HostIPC:
			bad(fmt.Sprintf("%q not allowed with host ipc enabled", s.Name))
		default:
			out[name] = s.Value
		}
	}
	return out, refused
}

// withSysctls sets the sysctls runc writes in the container's namespaces;
// every container of the pod sets the same values in the namespaces they
// share.
func withSysctls(sysctls map[string]string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if len(sysctls) == 0 || s.Linux == nil {
			return nil
		}
		if s.Linux.Sysctl == nil {
			s.Linux.Sysctl = map[string]string{}
		}
		maps.Copy(s.Linux.Sysctl, sysctls)
		return nil
	}
}
