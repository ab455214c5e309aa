package containerd

import (
	"context"
	"errors"
	"path"
	"time"

	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/runtime/cgroups"
)

// podCgroupRemoveWait is how long a teardown waits for the last tasks to
// leave a pod's cgroup (runc removes a container's own cgroup as its task
// is deleted, just before).
const podCgroupRemoveWait = 2 * time.Second

// cgroupDefaults completes the cgroup options: without a Root, pods go
// under /<Namespace>, where containerd's default spec put containers
// before pod cgroups existed (and which keeps parallel test runtimes
// apart); cmd/staticlet always passes the KubeletConfiguration's root.
func cgroupDefaults(opts *Options) {
	if opts.Cgroups.Root == "" {
		opts.Cgroups.Root = "/" + opts.Namespace
	}
}

// ensurePodCgroup makes the pod's cgroup with the kubelet's pod-level
// limits, before any of its containers, and returns the cgroup its
// containers go under. Safe to repeat for an adopted pod: the values are
// the same, since a pod's spec never changes under one UID.
func (r *Runtime) ensurePodCgroup(pod *corev1.Pod) (string, error) {
	qos := qosClass(pod)
	limits := cgroups.ForPod(pod, qos, r.opts.PodPidsLimit)
	parent, err := r.cgroups.EnsurePod(r.opts.Cgroups, pod.UID, qos, limits)
	if err != nil {
		return "", err
	}
	return parent, nil
}

// resizeBurstableLocked sets the burstable class cgroup's cpu shares to
// the sum of its pods' cpu requests, as the kubelet's QoS manager does
// whenever a pod comes or goes: the pods the runtime holds, without
// removing (being torn down). Without it the class would weigh 1024 shares,
// one CPU's worth, however much its pods requested. The caller holds r.mu,
// which also orders the writes.
func (r *Runtime) resizeBurstableLocked(removing types.UID) {
	paths := r.opts.Cgroups.QOSPaths(corev1.PodQOSBurstable)
	if len(paths) == 0 {
		return
	}
	var burstable []*corev1.Pod
	for uid, w := range r.workers {
		if uid != removing && w.pod != nil && qosClass(w.pod) == corev1.PodQOSBurstable {
			burstable = append(burstable, w.pod)
		}
	}
	if err := r.cgroups.Ensure(paths[len(paths)-1], cgroups.BurstableLimits(burstable)); err != nil {
		r.log.Warn("cannot resize the burstable QoS cgroup", "error", err)
	}
}

// removePodCgroup removes the pod's cgroup once its containers are gone. A
// cgroup that cannot be removed (a task that outlived its container) is
// logged, never fatal: the pod is gone either way, and an empty cgroup
// left behind costs nothing.
func (r *Runtime) removePodCgroup(uid string) {
	defer func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.resizeBurstableLocked(types.UID(uid))
	}()
	err := r.cgroups.RemovePod(r.opts.Cgroups, types.UID(uid), podCgroupRemoveWait)
	switch {
	case errors.Is(err, cgroups.ErrBusy):
		r.log.Warn("pod cgroup still has tasks after its containers were removed; left in place", "uid", uid, "error", err)
	case err != nil:
		r.log.Warn("cannot remove the pod cgroup", "uid", uid, "error", err)
	}
}

// withCgroupParent puts the container's cgroup under the pod's:
// <parent>/<container id>, as the CRI plugin does with the sandbox's
// cgroup parent and the cgroupfs driver.
func withCgroupParent(parent string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, c *containers.Container, s *oci.Spec) error {
		if parent == "" {
			return nil
		}
		if s.Linux == nil {
			s.Linux = &specs.Linux{}
		}
		s.Linux.CgroupsPath = cgroups.ContainerPath(parent, c.ID)
		return nil
	}
}

// containerCgroups are where a container's cgroup may be: below its pod's
// cgroup, or where containerd's default put it (/<namespace>/<id>) for a
// container an older staticlet started and this one adopted.
func (r *Runtime) containerCgroups(sb *sandbox, id string) []string {
	var out []string
	if sb != nil && sb.cgroupParent != "" {
		out = append(out, cgroups.ContainerPath(sb.cgroupParent, id))
	}
	return append(out, path.Join("/", r.opts.Namespace, id))
}

// oomKilledIn reads the OOM-kill count of the container's memory cgroup,
// which runc keeps until the task is deleted.
func (r *Runtime) oomKilledIn(sb *sandbox, id string) bool {
	for _, cg := range r.containerCgroups(sb, id) {
		if n, err := r.cgroups.OOMKills(cg); err == nil {
			return n > 0
		}
	}
	return false
}

// logCgroupLayout says once, at start, where pod cgroups go.
func (r *Runtime) logCgroupLayout() {
	l := r.opts.Cgroups
	version := "v1"
	if r.cgroups.Unified() {
		version = "v2"
	}
	r.log.Info("pod cgroups", "cgroup", version, "root", l.Root, "per_qos", !l.Flat, "systemd_names", l.SystemdNames, "pod_pids_limit", r.opts.PodPidsLimit)
	if l.SystemdNames {
		r.log.Info("cgroupDriver systemd: pod cgroups get the systemd driver's slice names but are made through cgroupfs; systemd does not manage them (docs/RATIONALE.md)")
	}
	if l.Flat && r.opts.PodPidsLimit > 0 {
		r.log.Warn("cgroupsPerQOS is false: there are no pod cgroups, so podPidsLimit is not applied (as with the kubelet)", "pod_pids_limit", r.opts.PodPidsLimit)
	}
}

// podLevelQOS is the QoS class of a pod with pod-level cpu or memory
// resources, which decide it alone (PodLevelResources with the 1.37 kubelet
// QoS fix): per resource, a request equal to a non-zero limit is
// Guaranteed, neither is BestEffort, anything else Burstable; the pod is
// Guaranteed or BestEffort only when both resources agree. Pod-level
// requests are not defaulted from limits, as the 1.37 kubelet does not.
func podLevelQOS(pod *corev1.Pod) (corev1.PodQOSClass, bool) {
	r := pod.Spec.Resources
	if r == nil {
		return "", false
	}
	set := false
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		_, req := r.Requests[name]
		_, lim := r.Limits[name]
		set = set || req || lim
	}
	if !set {
		return "", false
	}
	var qos corev1.PodQOSClass
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, lim := r.Requests[name], r.Limits[name]
		own := corev1.PodQOSGuaranteed
		switch {
		case !req.Equal(lim):
			return corev1.PodQOSBurstable, true
		case req.IsZero():
			own = corev1.PodQOSBestEffort
		}
		if qos != "" && qos != own {
			return corev1.PodQOSBurstable, true
		}
		qos = own
	}
	return qos, true
}
