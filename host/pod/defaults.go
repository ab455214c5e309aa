package pod

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Values the API server fills in when a pod is created without them
// (k8s.io/kubernetes/pkg/apis/core/v1/defaults.go). A static pod never goes
// through the API server, so the agent applies them itself; the mirror pod
// then matches what the API server would have stored.
const (
	DefaultTerminationGracePeriodSeconds = int64(30)
	DefaultTerminationMessagePath        = "/dev/termination-log"
	DefaultSchedulerName                 = "default-scheduler"
	defaultProbeTimeoutSeconds           = 1
	defaultProbePeriodSeconds            = 10
	defaultProbeSuccessThreshold         = 1
	defaultProbeFailureThreshold         = 3
)

// SetDefaults applies the API server's defaults to p in place. It only fills
// fields that are unset, so it is idempotent.
func SetDefaults(p *corev1.Pod) {
	spec := &p.Spec
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		v := DefaultTerminationGracePeriodSeconds
		spec.TerminationGracePeriodSeconds = &v
	} else if *spec.TerminationGracePeriodSeconds < 0 {
		// The API server turns a negative grace period into the minimum.
		v := int64(1)
		spec.TerminationGracePeriodSeconds = &v
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = DefaultSchedulerName
	}
	if spec.EnableServiceLinks == nil {
		v := true
		spec.EnableServiceLinks = &v
	}
	for i := range spec.InitContainers {
		defaultContainer(&spec.InitContainers[i], spec.HostNetwork)
	}
	for i := range spec.Containers {
		defaultContainer(&spec.Containers[i], spec.HostNetwork)
	}
	for i := range spec.Volumes {
		defaultVolume(&spec.Volumes[i])
	}
}

func defaultContainer(c *corev1.Container, hostNetwork bool) {
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = DefaultPullPolicy(c.Image)
	}
	// A limit without a request requests the limit.
	for name, limit := range c.Resources.Limits {
		if _, ok := c.Resources.Requests[name]; !ok {
			if c.Resources.Requests == nil {
				c.Resources.Requests = corev1.ResourceList{}
			}
			c.Resources.Requests[name] = limit.DeepCopy()
		}
	}
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = DefaultTerminationMessagePath
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	for i := range c.Ports {
		port := &c.Ports[i]
		if port.Protocol == "" {
			port.Protocol = corev1.ProtocolTCP
		}
		// With the host's network the container port is the host port.
		if hostNetwork && port.HostPort == 0 {
			port.HostPort = port.ContainerPort
		}
	}
	for i := range c.Env {
		if ref := c.Env[i].ValueFrom; ref != nil && ref.FieldRef != nil && ref.FieldRef.APIVersion == "" {
			ref.FieldRef.APIVersion = "v1"
		}
	}
	defaultProbe(c.LivenessProbe)
	defaultProbe(c.ReadinessProbe)
	defaultProbe(c.StartupProbe)
	if c.Lifecycle != nil {
		defaultHandler(c.Lifecycle.PostStart)
		defaultHandler(c.Lifecycle.PreStop)
	}
}

func defaultProbe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = defaultProbeTimeoutSeconds
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = defaultProbePeriodSeconds
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = defaultProbeSuccessThreshold
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = defaultProbeFailureThreshold
	}
	defaultHTTPGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		empty := ""
		p.GRPC.Service = &empty
	}
}

func defaultHandler(h *corev1.LifecycleHandler) {
	if h != nil {
		defaultHTTPGet(h.HTTPGet)
	}
}

func defaultHTTPGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

func defaultVolume(v *corev1.Volume) {
	if v.VolumeSource == (corev1.VolumeSource{}) {
		// A volume with no source is an emptyDir.
		v.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if v.Image != nil && v.Image.PullPolicy == "" {
		v.Image.PullPolicy = DefaultPullPolicy(v.Image.Reference)
	}
	if v.DownwardAPI != nil {
		defaultDownwardItems(v.DownwardAPI.Items)
	}
	if v.Projected != nil {
		for i := range v.Projected.Sources {
			if d := v.Projected.Sources[i].DownwardAPI; d != nil {
				defaultDownwardItems(d.Items)
			}
		}
	}
	if v.HostPath != nil && v.HostPath.Type == nil {
		unset := corev1.HostPathUnset
		v.HostPath.Type = &unset
	}
	if v.DownwardAPI != nil && v.DownwardAPI.DefaultMode == nil {
		mode := corev1.DownwardAPIVolumeSourceDefaultMode
		v.DownwardAPI.DefaultMode = &mode
	}
	if v.Projected != nil && v.Projected.DefaultMode == nil {
		mode := corev1.ProjectedVolumeSourceDefaultMode
		v.Projected.DefaultMode = &mode
	}
}

// DefaultPullPolicy is the API server's rule: Always for an image without a
// tag or tagged "latest", IfNotPresent otherwise (including digests).
func DefaultPullPolicy(image string) corev1.PullPolicy {
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	lastSegment := image[strings.LastIndex(image, "/")+1:]
	colon := strings.LastIndex(lastSegment, ":")
	if colon < 0 || lastSegment[colon+1:] == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func defaultDownwardItems(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if ref := items[i].FieldRef; ref != nil && ref.APIVersion == "" {
			ref.APIVersion = "v1"
		}
	}
}
