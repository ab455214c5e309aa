package containerd

import (
	"errors"
	"fmt"
	"io/fs"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/kubeletapi"
	"github.com/staticlet/staticlet/host/runtime/cgroups"
)

var _ kubeletapi.ResourceStats = (*Runtime)(nil)

// procDir is where NodeUsage reads meminfo.
const procDir = "/proc"

// NodeUsage implements kubeletapi.ResourceStats: the root cgroup's usage, as the kubelet's summary.
func (r *Runtime) NodeUsage() (kubeletapi.ResourceUsage, error) {
	u, err := r.cgroups.NodeUsage(procDir)
	if err != nil {
		return kubeletapi.ResourceUsage{}, err
	}
	return resourceUsage(u, r), nil
}

// PodUsage implements kubeletapi.ResourceStats: the pod's cgroup and its running containers' cgroups,
// read from the files the kernel keeps (no call to containerd). It reads the containers the pod's
// worker last published, so it never waits for a busy worker; an adopted pod reports nothing until
// its worker has looked at what runs.
func (r *Runtime) PodUsage(pod *corev1.Pod) (kubeletapi.PodUsage, error) {
	r.mu.Lock()
	w := r.workers[pod.UID]
	r.mu.Unlock()
	if w == nil {
		return kubeletapi.PodUsage{}, nil
	}
	targets := w.targets.Load()
	if targets == nil {
		return kubeletapi.PodUsage{}, nil
	}
	var out kubeletapi.PodUsage
	parent, podUsage, err := r.podCgroupUsage(pod.UID)
	if err != nil {
		return kubeletapi.PodUsage{}, fmt.Errorf("pod %s: %w", pod.UID, err)
	}
	if podUsage != nil {
		u := resourceUsage(*podUsage, r)
		out.Pod = &u
	}
	for name, c := range targets.containers {
		if !c.running {
			continue
		}
		u, found, err := r.containerUsage(parent, c.ctr.ID())
		switch {
		case err != nil:
			return kubeletapi.PodUsage{}, fmt.Errorf("pod %s: container %s: %w", pod.UID, name, err)
		case !found:
			continue // ended since the worker published it
		}
		if out.Containers == nil {
			out.Containers = map[string]kubeletapi.ResourceUsage{}
		}
		out.Containers[name] = resourceUsage(u, r)
	}
	return out, nil
}

// podCgroupUsage finds the pod's cgroup under whichever QoS class it is in (an adopted pod's class
// may be unknown) and reads it. Without pod cgroups (a Flat layout) or with the cgroup gone it returns
// no usage, and the parent containers are under.
func (r *Runtime) podCgroupUsage(uid types.UID) (string, *cgroups.Usage, error) {
	l := r.opts.Cgroups
	for _, cg := range l.AllPodPaths(uid) {
		u, err := r.cgroups.Usage(cg)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return "", nil, err
		}
		return cg, &u, nil
	}
	// Flat: containers are under the root (ContainerParent ignores the class then).
	return l.ContainerParent(uid, corev1.PodQOSBestEffort), nil, nil
}

// containerUsage reads the container's cgroup where it may be (containerCgroups); found is false
// when none is there.
func (r *Runtime) containerUsage(parent, id string) (cgroups.Usage, bool, error) {
	for _, cg := range r.containerCgroups(&sandbox{cgroupParent: parent}, id) {
		u, err := r.cgroups.Usage(cg)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			continue
		case err != nil:
			return cgroups.Usage{}, false, err
		}
		return u, true, nil
	}
	return cgroups.Usage{}, false, nil
}

// resourceUsage stamps a usage with the time it was read.
func resourceUsage(u cgroups.Usage, r *Runtime) kubeletapi.ResourceUsage {
	out := kubeletapi.ResourceUsage{Time: r.now(), CPUNanoseconds: u.CPUNanoseconds, MemoryWorkingSetBytes: u.MemoryWorkingSetBytes}
	if u.Swap != nil {
		out.Swap = &kubeletapi.SwapUsage{UsageBytes: u.Swap.UsageBytes, AvailableBytes: u.Swap.AvailableBytes}
	}
	return out
}
