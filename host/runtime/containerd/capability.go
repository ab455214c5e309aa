package containerd

import (
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Capabilities are the facts about this host that decide whether this
// runtime can run a pod: what the kernel, the LSMs and runc offer, and
// which sysctls the node allows. Supports is pure; DetectCapabilities does
// the probing, once, so admission (the agent's and `staticlet check`'s)
// and StartPod refuse the same pods with the same code.
type Capabilities struct {
	security hostSecurity
	sysctls  SysctlPolicy
}

// DetectCapabilities probes this host as the runtime does at start: the
// AppArmor and SELinux state under /sys, mount_setattr, and `runc
// features` from PATH. It needs no containerd and never fails: what cannot
// be read is not offered.
func DetectCapabilities(sysctls SysctlPolicy) Capabilities {
	return Capabilities{security: detectHostSecurity(""), sysctls: sysctls}
}

// Supports lists what of the pod this runtime cannot run on this host, each
// with its field path, as admission reports a rejected manifest; empty when
// the pod can run.
func (c Capabilities) Supports(pod *corev1.Pod) field.ErrorList {
	var out field.ErrorList
	for _, r := range c.refusals(pod) {
		out = append(out, r.fieldError())
	}
	return out
}

// check is StartPod's backstop for a pod that did not pass admission: the
// same refusals as errors wrapping ErrUnsupported or ErrSysctlForbidden.
func (c Capabilities) check(pod *corev1.Pod) error {
	return refusalsError(c.refusals(pod))
}

func (c Capabilities) refusals(pod *corev1.Pod) []refusal {
	out := unsupportedFields(pod)
	out = append(out, hostRefusals(pod, c.security)...)
	_, sysctls := podSysctls(pod, c.sysctls)
	return append(out, sysctls...)
}

// refusal is one thing of a pod the runtime will not run.
type refusal struct {
	// field is the field path; name, when set, is the named item there
	// (a volume's or a sysctl's name).
	field, name string
	// kind is ErrUnsupported or ErrSysctlForbidden.
	kind   error
	detail string
}

func (r refusal) err() error {
	at := r.field
	if r.name != "" {
		at += " (" + r.name + ")"
	}
	return fmt.Errorf("%s: %w: %s", at, r.kind, r.detail)
}

func (r refusal) fieldError() *field.Error {
	detail := r.kind.Error() + ": " + r.detail
	if r.name != "" {
		detail = r.name + ": " + detail
	}
	return &field.Error{Type: field.ErrorTypeForbidden, Field: r.field, Detail: detail}
}

func refusalsError(refused []refusal) error {
	errs := make([]error, 0, len(refused))
	for _, r := range refused {
		errs = append(errs, r.err())
	}
	return errors.Join(errs...)
}

// unsupportedFields refuses what the runtime cannot run on any host.
// tty, stdin and shareProcessNamespace are refused rather than run:
// static pods have no attach, and no pause process holds a pod-wide PID
// namespace (docs/pod-spec-support.md).
func unsupportedFields(pod *corev1.Pod) []refusal {
	var out []refusal
	bad := func(field, what string) {
		out = append(out, refusal{field: field, kind: ErrUnsupported, detail: what})
	}
	if len(pod.Spec.Containers) == 0 {
		bad("spec.containers", "a pod needs at least one container")
	}
	if pod.Spec.OS != nil && pod.Spec.OS.Name != corev1.Linux {
		bad("spec.os.name", "only Linux pods run on containerd with runc")
	}
	if pod.Spec.HostUsers != nil && !*pod.Spec.HostUsers {
		bad("spec.hostUsers", "user namespaces are not implemented: the pod would run in the host's user namespace, which is what hostUsers: false asks not to do")
	}
	if pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace {
		bad("spec.shareProcessNamespace", "no pause process holds a pod-wide PID namespace; each container has its own")
	}
	check := func(field string, c *corev1.Container) {
		if c.TTY {
			bad(field+".tty", "static pods have no attach, so a terminal would never be read")
		}
		if sc := c.SecurityContext; sc != nil && sc.ProcMount != nil && *sc.ProcMount == corev1.UnmaskedProcMount {
			bad(field+".securityContext.procMount", "Unmasked needs a user namespace (hostUsers: false), which is not implemented")
		}
		if c.Stdin || c.StdinOnce {
			bad(field+".stdin", "static pods have no attach, so standard input would never be written")
		}
		if lc := c.Lifecycle; lc != nil {
			for _, h := range []struct {
				name    string
				handler *corev1.LifecycleHandler
			}{{"postStart", lc.PostStart}, {"preStop", lc.PreStop}} {
				if h.handler != nil && h.handler.TCPSocket != nil {
					bad(field+".lifecycle."+h.name+".tcpSocket", "deprecated and never run by the kubelet; use exec, httpGet or sleep")
				}
			}
		}
		for j, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef == nil && e.ValueFrom.ResourceFieldRef == nil {
				bad(fmt.Sprintf("%s.env[%d].valueFrom", field, j), "only fieldRef and resourceFieldRef are supported on a node without an API server")
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		check(fmt.Sprintf("spec.initContainers[%d]", i), &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		check(fmt.Sprintf("spec.containers[%d]", i), &pod.Spec.Containers[i])
	}
	for i, v := range pod.Spec.Volumes {
		if v.HostPath == nil && v.EmptyDir == nil && v.DownwardAPI == nil && !downwardOnly(v.Projected) {
			out = append(out, refusal{field: fmt.Sprintf("spec.volumes[%d]", i), name: v.Name, kind: ErrUnsupported,
				detail: "only hostPath, emptyDir, downwardAPI and projected downwardAPI volumes are supported"})
		}
	}
	return out
}

// hostRefusals refuses a pod that needs something this host lacks, as the
// kubelet's admission does: an AppArmor profile other than Unconfined on a
// host without AppArmor ("Cannot enforce AppArmor"), and recursiveReadOnly:
// Enabled where the kernel or runc cannot make a mount recursively
// read-only.
func hostRefusals(pod *corev1.Pod, host hostSecurity) []refusal {
	var out []refusal
	bad := func(field, what string) {
		out = append(out, refusal{field: field, kind: ErrUnsupported, detail: what})
	}
	check := func(field string, c *corev1.Container) {
		if p := appArmorProfile(pod, c); p != nil && p.Type != corev1.AppArmorProfileTypeUnconfined && !host.appArmor {
			bad(field+".securityContext.appArmorProfile", "cannot enforce AppArmor: AppArmor is not enabled on the host")
		}
		for j, vm := range c.VolumeMounts {
			if vm.RecursiveReadOnly != nil && *vm.RecursiveReadOnly == corev1.RecursiveReadOnlyEnabled && !host.recursiveReadOnly {
				bad(fmt.Sprintf("%s.volumeMounts[%d].recursiveReadOnly", field, j), "the kernel (mount_setattr, Linux 5.12+) or runc (the rro mount option) cannot make a mount recursively read-only; use IfPossible to fall back to a plain read-only mount")
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		check(fmt.Sprintf("spec.initContainers[%d]", i), &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		check(fmt.Sprintf("spec.containers[%d]", i), &pod.Spec.Containers[i])
	}
	return out
}
