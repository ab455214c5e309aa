package cgroups

import (
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Layout is where pod cgroups go, as the kubelet lays them out from its
// KubeletConfiguration. Paths are cgroup paths (from the hierarchy's root,
// starting with /), the same under every v1 hierarchy and on v2.
type Layout struct {
	// Root is cgroupRoot: the cgroup everything goes under ("/" when empty).
	Root string
	// Flat is cgroupsPerQOS: false: no kubepods, QoS or pod cgroups, so no
	// pod-level limits; containers go straight under Root, as the kubelet's.
	Flat bool
	// SystemdNames names the cgroups as the kubelet's systemd driver does
	// (kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice,
	// dashes of the UID as underscores). They are still made through
	// cgroupfs: see docs/RATIONALE.md.
	SystemdNames bool
}

// kubepods is the kubelet's node-allocatable cgroup, parent of all pods.
const kubepods = "kubepods"

// rootParts are Root's components, as the kubelet parses cgroupRoot.
func (l Layout) rootParts() []string {
	var parts []string
	for _, p := range strings.Split(l.Root, "/") {
		if p != "" {
			parts = append(parts, p)
		}
	}
	return parts
}

// name turns components below Root into a cgroup path with the driver's
// naming.
func (l Layout) name(parts ...string) string {
	all := append(l.rootParts(), parts...)
	if !l.SystemdNames {
		return "/" + path.Join(all...)
	}
	// The systemd driver: each level is a slice named after all the
	// components down to it, joined by dashes; dashes inside a component
	// become underscores so the name can be read back.
	slices := make([]string, len(all))
	for i := range all {
		escaped := make([]string, i+1)
		for j, p := range all[:i+1] {
			escaped[j] = strings.ReplaceAll(p, "-", "_")
		}
		slices[i] = strings.Join(escaped, "-") + ".slice"
	}
	return "/" + path.Join(slices...)
}

// qosParts are the components from kubepods down to a class's cgroup:
// Guaranteed pods sit in kubepods itself.
func qosParts(qos corev1.PodQOSClass) []string {
	switch qos {
	case corev1.PodQOSBurstable, corev1.PodQOSBestEffort:
		return []string{kubepods, strings.ToLower(string(qos))}
	}
	return []string{kubepods}
}

// QOSPaths are the cgroups above a pod of class qos, top first: kubepods,
// then its class's (none when Flat).
func (l Layout) QOSPaths(qos corev1.PodQOSClass) []string {
	if l.Flat {
		return nil
	}
	parts := qosParts(qos)
	out := make([]string, len(parts))
	for i := range parts {
		out[i] = l.name(parts[:i+1]...)
	}
	return out
}

// PodPath is the pod's cgroup, "" when Flat.
func (l Layout) PodPath(uid types.UID, qos corev1.PodQOSClass) string {
	if l.Flat {
		return ""
	}
	return l.name(append(qosParts(qos), "pod"+string(uid))...)
}

// AllPodPaths are the pod's cgroup under each QoS class, for a teardown
// that no longer knows the pod's class.
func (l Layout) AllPodPaths(uid types.UID) []string {
	if l.Flat {
		return nil
	}
	var out []string
	for _, qos := range []corev1.PodQOSClass{corev1.PodQOSGuaranteed, corev1.PodQOSBurstable, corev1.PodQOSBestEffort} {
		out = append(out, l.PodPath(uid, qos))
	}
	return out
}

// ContainerParent is the cgroup a pod's containers go under: the pod's, or
// Root when Flat.
func (l Layout) ContainerParent(uid types.UID, qos corev1.PodQOSClass) string {
	if l.Flat {
		return l.name()
	}
	return l.PodPath(uid, qos)
}

// ContainerPath is a container's cgroup (its OCI linux.cgroupsPath).
func ContainerPath(parent, containerID string) string {
	return path.Join(parent, containerID)
}
