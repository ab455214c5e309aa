package pod

import corev1 "k8s.io/api/core/v1"

// AggregateResources is a pod's effective need of one resource list (of
// picks requests or limits from a container), as Kubernetes computes it for
// admission, QoS and the pod cgroup: app containers and sidecars (init
// containers with restartPolicy Always) run together; each ordinary init
// container runs alone beside the sidecars started before it; the pod needs
// the larger of the two.
func AggregateResources(spec *corev1.PodSpec, of func(*corev1.Container) corev1.ResourceList) corev1.ResourceList {
	total := corev1.ResourceList{}
	for i := range spec.Containers {
		addResources(total, of(&spec.Containers[i]))
	}
	sidecars, peakInit := corev1.ResourceList{}, corev1.ResourceList{}
	for i := range spec.InitContainers {
		c := &spec.InitContainers[i]
		own := of(c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			addResources(total, own)
			addResources(sidecars, own)
			maxResources(peakInit, sidecars)
			continue
		}
		running := corev1.ResourceList{}
		addResources(running, own)
		addResources(running, sidecars)
		maxResources(peakInit, running)
	}
	maxResources(total, peakInit)
	return total
}

func addResources(into, from corev1.ResourceList) {
	for name, q := range from {
		sum := into[name]
		sum.Add(q)
		into[name] = sum
	}
}

func maxResources(into, from corev1.ResourceList) {
	for name, q := range from {
		if current, ok := into[name]; !ok || q.Cmp(current) > 0 {
			into[name] = q.DeepCopy()
		}
	}
}
