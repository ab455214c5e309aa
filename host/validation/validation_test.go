package validation

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

func ptr[T any](v T) *T { return &v }

// baselinePod is a kubeadm-style kube-apiserver static pod after the agent's
// defaulting: what a real control-plane node runs. It must validate cleanly.
func baselinePod() *corev1.Pod {
	hostPath := func(name, path string, t corev1.HostPathType) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: ptr(t)}}}
	}
	mount := func(name, path string) corev1.VolumeMount {
		return corev1.VolumeMount{Name: name, MountPath: path, ReadOnly: true}
	}
	httpsGet := func(path string, port intstr.IntOrString) corev1.ProbeHandler {
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "10.0.0.10", Path: path, Port: port, Scheme: corev1.URISchemeHTTPS}}
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      "kube-apiserver-cp-1",
			Namespace: "kube-system",
			UID:       "9d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f",
			Labels:    map[string]string{"component": "kube-apiserver", "tier": "control-plane"},
			Annotations: map[string]string{
				"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": "10.0.0.10:6443",
				"kubernetes.io/config.hash":                                       "9d2c3e4f5a6b7c8d9e0f1a2b3c4d5e6f",
				"kubernetes.io/config.source":                                     "file",
				"kubernetes.io/config.seen":                                       "2026-01-02T03:04:05.000000006Z",
			},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "kube-apiserver",
				Image: "registry.k8s.io/kube-apiserver:v1.37.2",
				Command: []string{
					"kube-apiserver",
					"--advertise-address=10.0.0.10",
					"--etcd-servers=https://127.0.0.1:2379",
					"--secure-port=6443",
				},
				Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 6443, HostPort: 6443, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{{
					Name:      "POD_IP",
					ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "status.podIP"}},
				}},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("512Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("2Gi")},
				},
				VolumeMounts: []corev1.VolumeMount{
					mount("ca-certs", "/etc/ssl/certs"),
					mount("etc-ca-certificates", "/etc/ca-certificates"),
					mount("k8s-certs", "/etc/kubernetes/pki"),
					mount("usr-local-share-ca-certificates", "/usr/local/share/ca-certificates"),
					mount("usr-share-ca-certificates", "/usr/share/ca-certificates"),
				},
				LivenessProbe: &corev1.Probe{
					ProbeHandler:        httpsGet("/livez", intstr.FromInt32(6443)),
					InitialDelaySeconds: 10, TimeoutSeconds: 15, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 8,
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:   httpsGet("/readyz", intstr.FromString("https")),
					TimeoutSeconds: 15, PeriodSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3,
				},
				StartupProbe: &corev1.Probe{
					ProbeHandler:        httpsGet("/livez", intstr.FromInt32(6443)),
					InitialDelaySeconds: 10, TimeoutSeconds: 15, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 24,
				},
				TerminationMessagePath:   "/dev/termination-log",
				TerminationMessagePolicy: corev1.TerminationMessageReadFile,
				ImagePullPolicy:          corev1.PullIfNotPresent,
			}},
			Volumes: []corev1.Volume{
				hostPath("ca-certs", "/etc/ssl/certs", corev1.HostPathDirectoryOrCreate),
				hostPath("etc-ca-certificates", "/etc/ca-certificates", corev1.HostPathDirectoryOrCreate),
				hostPath("k8s-certs", "/etc/kubernetes/pki", corev1.HostPathDirectoryOrCreate),
				hostPath("usr-local-share-ca-certificates", "/usr/local/share/ca-certificates", corev1.HostPathDirectoryOrCreate),
				hostPath("usr-share-ca-certificates", "/usr/share/ca-certificates", corev1.HostPathUnset),
			},
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr(int64(30)),
			DNSPolicy:                     corev1.DNSClusterFirst,
			NodeName:                      "cp-1",
			HostNetwork:                   true,
			SecurityContext:               &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			SchedulerName:                 "default-scheduler",
			Tolerations:                   []corev1.Toleration{{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}},
			PriorityClassName:             "system-node-critical",
			Priority:                      ptr(int32(2000001000)),
			EnableServiceLinks:            ptr(true),
		},
	}
}

// problem is what a test expects of one error: its type and path.
type problem struct {
	Type  field.ErrorType
	Field string
}

func (p problem) String() string { return fmt.Sprintf("%s %s", p.Type, p.Field) }

func problemsOf(errs field.ErrorList) []problem {
	out := make([]problem, 0, len(errs))
	for _, err := range errs {
		out = append(out, problem{err.Type, err.Field})
	}
	slices.SortFunc(out, func(a, b problem) int { return strings.Compare(a.String(), b.String()) })
	return out
}

func assertProblems(t *testing.T, errs field.ErrorList, want ...problem) {
	t.Helper()
	slices.SortFunc(want, func(a, b problem) int { return strings.Compare(a.String(), b.String()) })
	if got := problemsOf(errs); !slices.Equal(got, want) {
		t.Errorf("problems:\n got  %v\n want %v\nerrors: %v", got, want, errs.ToAggregate())
	}
}

func required(f string) problem     { return problem{field.ErrorTypeRequired, f} }
func invalid(f string) problem      { return problem{field.ErrorTypeInvalid, f} }
func notSupported(f string) problem { return problem{field.ErrorTypeNotSupported, f} }
func duplicate(f string) problem    { return problem{field.ErrorTypeDuplicate, f} }
func forbidden(f string) problem    { return problem{field.ErrorTypeForbidden, f} }
func notFound(f string) problem     { return problem{field.ErrorTypeNotFound, f} }
func tooLong(f string) problem      { return problem{field.ErrorTypeTooLong, f} }

func TestValidatePodBaseline(t *testing.T) {
	if errs := ValidatePod(baselinePod()); len(errs) != 0 {
		t.Fatalf("baseline pod: %v", errs.ToAggregate())
	}
}

func TestValidatePodNil(t *testing.T) {
	assertProblems(t, ValidatePod(nil),
		required("metadata.name"), required("metadata.namespace"), required("spec.containers"),
		required("spec.terminationGracePeriodSeconds"), required("spec.restartPolicy"), required("spec.dnsPolicy"))
}

// container0 and friends keep the cases short.
func container0(p *corev1.Pod) *corev1.Container { return &p.Spec.Containers[0] }

const c0 = "spec.containers[0]"

func secondContainer() corev1.Container {
	return corev1.Container{
		Name: "sidecar", Image: "busybox:1.36", ImagePullPolicy: corev1.PullIfNotPresent,
		TerminationMessagePath: "/dev/termination-log", TerminationMessagePolicy: corev1.TerminationMessageReadFile,
	}
}

func addVolume(p *corev1.Pod, v corev1.Volume) {
	p.Spec.Volumes = append(p.Spec.Volumes, v)
}

func TestValidatePodRules(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(p *corev1.Pod)
		want   []problem
	}{
		// metadata
		{"name required", func(p *corev1.Pod) { p.Name = "" }, []problem{required("metadata.name")}},
		{"name DNS subdomain", func(p *corev1.Pod) { p.Name = "Kube_APIServer-cp-1" }, []problem{invalid("metadata.name")}},
		{"name too long after node suffix", func(p *corev1.Pod) { p.Name = strings.Repeat("a", 250) + "-cp-1" }, []problem{invalid("metadata.name")}},
		{"namespace required", func(p *corev1.Pod) { p.Namespace = "" }, []problem{required("metadata.namespace")}},
		{"namespace DNS label", func(p *corev1.Pod) { p.Namespace = "kube.system" }, []problem{invalid("metadata.namespace")}},
		{"label key", func(p *corev1.Pod) { p.Labels["-bad"] = "x" }, []problem{invalid("metadata.labels")}},
		{"label value", func(p *corev1.Pod) { p.Labels["tier"] = "control plane" }, []problem{invalid("metadata.labels")}},
		{"annotation key", func(p *corev1.Pod) { p.Annotations["bad key"] = "x" }, []problem{invalid("metadata.annotations")}},
		{"annotations total size", func(p *corev1.Pod) { p.Annotations["big"] = strings.Repeat("x", 256*1024) }, []problem{tooLong("metadata.annotations")}},
		{"pod deletion cost", func(p *corev1.Pod) { p.Annotations[corev1.PodDeletionCost] = "010" },
			[]problem{invalid("metadata.annotations[controller.kubernetes.io/pod-deletion-cost]")}},
		{"mirror annotation needs nodeName", func(p *corev1.Pod) {
			p.Annotations[corev1.MirrorPodAnnotationKey] = "x"
			p.Spec.NodeName = ""
		}, []problem{invalid("metadata.annotations[kubernetes.io/config.mirror]")}},
		{"tolerations annotation", func(p *corev1.Pod) { p.Annotations[corev1.TolerationsAnnotationKey] = "[{" },
			[]problem{invalid("metadata.annotations[scheduler.alpha.kubernetes.io/tolerations]")}},
		{"seccomp annotation value", func(p *corev1.Pod) {
			p.Annotations[corev1.SeccompContainerAnnotationKeyPrefix+"kube-apiserver"] = "bogus"
		},
			[]problem{invalid("metadata.annotations[container.seccomp.security.alpha.kubernetes.io/kube-apiserver]")}},
		{"seccomp annotation contradicts field", func(p *corev1.Pod) { p.Annotations[corev1.SeccompPodAnnotationKey] = "unconfined" },
			[]problem{forbidden("spec.securityContext.seccompProfile.type")}},
		{"apparmor annotation for missing container", func(p *corev1.Pod) {
			p.Annotations[corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix+"nope"] = "runtime/default"
		}, []problem{invalid("metadata.annotations[container.apparmor.security.beta.kubernetes.io/nope]")}},
		{"apparmor annotation contradicts field", func(p *corev1.Pod) {
			p.Annotations[corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix+"kube-apiserver"] = "unconfined"
			container0(p).SecurityContext = &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}}
		}, []problem{forbidden(c0 + ".securityContext.appArmorProfile.type")}},

		// containers
		{"at least one container", func(p *corev1.Pod) { p.Spec.Containers = nil }, []problem{required("spec.containers")}},
		{"container name required", func(p *corev1.Pod) { container0(p).Name = "" }, []problem{required(c0 + ".name")}},
		{"container name DNS label", func(p *corev1.Pod) { container0(p).Name = "Kube_APIServer" }, []problem{invalid(c0 + ".name")}},
		{"container names unique", func(p *corev1.Pod) {
			c := secondContainer()
			c.Name = "kube-apiserver"
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []problem{duplicate("spec.containers[1].name")}},
		{"container names unique across init containers", func(p *corev1.Pod) {
			c := secondContainer()
			c.Name = "kube-apiserver"
			p.Spec.InitContainers = []corev1.Container{c}
		}, []problem{duplicate("spec.initContainers[0].name")}},
		{"image required", func(p *corev1.Pod) { container0(p).Image = "" }, []problem{required(c0 + ".image")}},
		{"image whitespace", func(p *corev1.Pod) { container0(p).Image = " registry.k8s.io/pause:3.10" }, []problem{invalid(c0 + ".image")}},
		{"imagePullPolicy required", func(p *corev1.Pod) { container0(p).ImagePullPolicy = "" }, []problem{required(c0 + ".imagePullPolicy")}},
		{"imagePullPolicy values", func(p *corev1.Pod) { container0(p).ImagePullPolicy = "Sometimes" }, []problem{notSupported(c0 + ".imagePullPolicy")}},
		{"terminationMessagePolicy required", func(p *corev1.Pod) { container0(p).TerminationMessagePolicy = "" },
			[]problem{required(c0 + ".terminationMessagePolicy")}},
		{"terminationMessagePolicy values", func(p *corev1.Pod) { container0(p).TerminationMessagePolicy = "Stdout" },
			[]problem{notSupported(c0 + ".terminationMessagePolicy")}},
		{"workingDir absolute", func(p *corev1.Pod) { container0(p).WorkingDir = "var/lib" }, []problem{invalid(c0 + ".workingDir")}},

		// ports
		{"containerPort required", func(p *corev1.Pod) {
			p.Spec.HostNetwork = false
			container0(p).Ports[0].ContainerPort = 0
		}, []problem{required(c0 + ".ports[0].containerPort")}},
		{"port numbers in range", func(p *corev1.Pod) {
			container0(p).Ports[0].ContainerPort = 70000
			container0(p).Ports[0].HostPort = 70000
		}, []problem{invalid(c0 + ".ports[0].containerPort"), invalid(c0 + ".ports[0].hostPort")}},
		{"port name IANA_SVC_NAME", func(p *corev1.Pod) {
			container0(p).Ports[0].Name = "HTTPS_PORT"
			container0(p).ReadinessProbe.HTTPGet.Port = intstr.FromInt32(6443)
		}, []problem{invalid(c0 + ".ports[0].name"), invalid(c0 + ".ports[0].name")}}, // two reasons: charset, and no letter
		{"port names unique", func(p *corev1.Pod) {
			container0(p).Ports = append(container0(p).Ports, corev1.ContainerPort{Name: "https", ContainerPort: 8443, HostPort: 8443, Protocol: corev1.ProtocolTCP})
		}, []problem{duplicate(c0 + ".ports[1].name")}},
		{"port protocol", func(p *corev1.Pod) { container0(p).Ports[0].Protocol = "HTTP" }, []problem{notSupported(c0 + ".ports[0].protocol")}},
		{"port protocol required", func(p *corev1.Pod) { container0(p).Ports[0].Protocol = "" }, []problem{required(c0 + ".ports[0].protocol")}},
		{"host ports unique across containers", func(p *corev1.Pod) {
			c := secondContainer()
			c.Ports = []corev1.ContainerPort{{ContainerPort: 6443, HostPort: 6443, Protocol: corev1.ProtocolTCP}}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []problem{duplicate("spec.containers[1].ports[0].hostPort")}},
		{"same host port on another protocol is fine", func(p *corev1.Pod) {
			c := secondContainer()
			c.Ports = []corev1.ContainerPort{{ContainerPort: 6443, HostPort: 6443, Protocol: corev1.ProtocolUDP}}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, nil},
		{"host ports unique within an init container", func(p *corev1.Pod) {
			c := secondContainer()
			c.Ports = []corev1.ContainerPort{{ContainerPort: 80, HostPort: 80, Protocol: corev1.ProtocolTCP}, {ContainerPort: 81, HostPort: 80, Protocol: corev1.ProtocolTCP}}
			second := secondContainer()
			second.Name = "init-2"
			second.Ports = []corev1.ContainerPort{{ContainerPort: 6443, HostPort: 6443, Protocol: corev1.ProtocolTCP}}
			p.Spec.InitContainers = []corev1.Container{second, c}
		}, []problem{duplicate("spec.initContainers[1].ports[1].hostPort")}},
		{"hostNetwork needs hostPort == containerPort", func(p *corev1.Pod) { container0(p).Ports[0].HostPort = 16443 },
			[]problem{invalid(c0 + ".ports[0].hostPort")}},

		// env
		{"env name", func(p *corev1.Pod) { container0(p).Env[0].Name = "A=B" }, []problem{invalid(c0 + ".env[0].name")}},
		{"env name relaxed", func(p *corev1.Pod) { container0(p).Env[0].Name = "1 weird.name-ok" }, nil},
		{"env name required", func(p *corev1.Pod) { container0(p).Env[0].Name = "" }, []problem{required(c0 + ".env[0].name")}},
		{"env valueFrom one source", func(p *corev1.Pod) {
			container0(p).Env[0].ValueFrom.ResourceFieldRef = &corev1.ResourceFieldSelector{Resource: "limits.memory"}
		}, []problem{invalid(c0 + ".env[0].valueFrom")}},
		{"env valueFrom needs a source", func(p *corev1.Pod) { container0(p).Env[0].ValueFrom.FieldRef = nil },
			[]problem{invalid(c0 + ".env[0].valueFrom")}},
		{"env value and valueFrom", func(p *corev1.Pod) { container0(p).Env[0].Value = "10.0.0.10" }, []problem{invalid(c0 + ".env[0].valueFrom")}},
		{"env fieldRef path", func(p *corev1.Pod) { container0(p).Env[0].ValueFrom.FieldRef.FieldPath = "spec.schedulerName" },
			[]problem{notSupported(c0 + ".env[0].valueFrom.fieldRef.fieldPath")}},
		{"env fieldRef unknown path", func(p *corev1.Pod) { container0(p).Env[0].ValueFrom.FieldRef.FieldPath = "spec.nope" },
			[]problem{invalid(c0 + ".env[0].valueFrom.fieldRef.fieldPath")}},
		{"env fieldRef apiVersion", func(p *corev1.Pod) { container0(p).Env[0].ValueFrom.FieldRef.APIVersion = "" },
			[]problem{required(c0 + ".env[0].valueFrom.fieldRef.apiVersion")}},
		{"env resourceFieldRef divisor", func(p *corev1.Pod) {
			container0(p).Env[0].ValueFrom = &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu", Divisor: resource.MustParse("1Mi")}}
		}, []problem{invalid(c0 + ".env[0].valueFrom.resourceFieldRef.divisor")}},
		{"env resourceFieldRef resource", func(p *corev1.Pod) {
			container0(p).Env[0].ValueFrom = &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.gpu"}}
		}, []problem{notSupported(c0 + ".env[0].valueFrom.resourceFieldRef.resource")}},
		{"envFrom prefix", func(p *corev1.Pod) {
			container0(p).EnvFrom = []corev1.EnvFromSource{{Prefix: "A=", ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
		}, []problem{invalid(c0 + ".envFrom[0].prefix"), forbidden(c0 + ".envFrom[0].configMapRef")}},

		// volume mounts and devices
		{"mount names a volume", func(p *corev1.Pod) { container0(p).VolumeMounts[0].Name = "nope" }, []problem{notFound(c0 + ".volumeMounts[0].name")}},
		{"mountPath required", func(p *corev1.Pod) { container0(p).VolumeMounts[0].MountPath = "" }, []problem{required(c0 + ".volumeMounts[0].mountPath")}},
		{"mountPath unique", func(p *corev1.Pod) { container0(p).VolumeMounts[1].MountPath = "/etc/ssl/certs" },
			[]problem{invalid(c0 + ".volumeMounts[1].mountPath")}},
		{"subPath relative", func(p *corev1.Pod) { container0(p).VolumeMounts[0].SubPath = "/abs" }, []problem{invalid(c0 + ".volumeMounts[0].subPath")}},
		{"subPath no backsteps", func(p *corev1.Pod) { container0(p).VolumeMounts[0].SubPath = "a/../../b" },
			[]problem{invalid(c0 + ".volumeMounts[0].subPath")}},
		{"subPath and subPathExpr exclusive", func(p *corev1.Pod) {
			container0(p).VolumeMounts[0].SubPath = "a"
			container0(p).VolumeMounts[0].SubPathExpr = "$(POD_IP)"
		}, []problem{invalid(c0 + ".volumeMounts[0].subPathExpr")}},
		{"mountPropagation values", func(p *corev1.Pod) {
			container0(p).VolumeMounts[0].MountPropagation = ptr(corev1.MountPropagationMode("Shared"))
		},
			[]problem{notSupported(c0 + ".volumeMounts[0].mountPropagation")}},
		{"bidirectional propagation needs privileged", func(p *corev1.Pod) {
			container0(p).VolumeMounts[0].MountPropagation = ptr(corev1.MountPropagationBidirectional)
		}, []problem{forbidden(c0 + ".volumeMounts[0].mountPropagation")}},
		{"bidirectional propagation when privileged", func(p *corev1.Pod) {
			container0(p).VolumeMounts[0].MountPropagation = ptr(corev1.MountPropagationBidirectional)
			container0(p).SecurityContext = &corev1.SecurityContext{Privileged: ptr(true)}
		}, nil},
		{"recursiveReadOnly needs readOnly", func(p *corev1.Pod) {
			container0(p).VolumeMounts[0].ReadOnly = false
			container0(p).VolumeMounts[0].RecursiveReadOnly = ptr(corev1.RecursiveReadOnlyEnabled)
		}, []problem{forbidden(c0 + ".volumeMounts[0].recursiveReadOnly")}},
		{"volumeDevices need block volumes", func(p *corev1.Pod) {
			container0(p).VolumeDevices = []corev1.VolumeDevice{{Name: "usr-share-ca-certificates", DevicePath: "/dev/xvda"}}
			container0(p).VolumeMounts = container0(p).VolumeMounts[:4]
		}, []problem{invalid(c0 + ".volumeDevices[0].name")}},

		// resources
		{"resource quantity not negative", func(p *corev1.Pod) { container0(p).Resources.Requests[corev1.ResourceCPU] = resource.MustParse("-1") },
			[]problem{invalid(c0 + ".resources.requests[cpu]")}},
		{"request not above limit", func(p *corev1.Pod) {
			container0(p).Resources.Requests[corev1.ResourceMemory] = resource.MustParse("4Gi")
		},
			[]problem{invalid(c0 + ".resources.requests[memory]")}},
		{"resource name known", func(p *corev1.Pod) { container0(p).Resources.Limits["gpu"] = resource.MustParse("1") },
			[]problem{invalid(c0 + ".resources.limits[gpu]"), invalid(c0 + ".resources.limits[gpu]")}}, // not standard, not for containers
		{"resource name for containers", func(p *corev1.Pod) { container0(p).Resources.Limits["pods"] = resource.MustParse("1") },
			[]problem{invalid(c0 + ".resources.limits[pods]")}},
		{"extended resource", func(p *corev1.Pod) {
			container0(p).Resources.Limits["example.com/gpu"] = resource.MustParse("1")
			container0(p).Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}, nil},
		{"extended resource needs a limit", func(p *corev1.Pod) { container0(p).Resources.Requests["example.com/gpu"] = resource.MustParse("1") },
			[]problem{required(c0 + ".resources.limits[example.com/gpu]")}},
		{"extended resource whole number", func(p *corev1.Pod) {
			container0(p).Resources.Limits["example.com/gpu"] = resource.MustParse("500m")
		}, []problem{invalid(c0 + ".resources.limits[example.com/gpu]")}},
		{"hugepages multiple of page size", func(p *corev1.Pod) {
			container0(p).Resources.Limits["hugepages-2Mi"] = resource.MustParse("3Mi")
		}, []problem{invalid(c0 + ".resources.limits[hugepages-2Mi]")}},
		{"hugepages need cpu or memory", func(p *corev1.Pod) {
			container0(p).Resources = corev1.ResourceRequirements{Limits: corev1.ResourceList{"hugepages-2Mi": resource.MustParse("4Mi")}}
		}, []problem{forbidden(c0 + ".resources")}},
		{"resize policy", func(p *corev1.Pod) {
			container0(p).ResizePolicy = []corev1.ContainerResizePolicy{{ResourceName: "storage", RestartPolicy: corev1.NotRequired}}
		}, []problem{notSupported(c0 + ".resizePolicy[0].resourceName")}},

		// probes and lifecycle
		{"probe needs a handler", func(p *corev1.Pod) { container0(p).LivenessProbe.HTTPGet = nil }, []problem{required(c0 + ".livenessProbe")}},
		{"probe one handler", func(p *corev1.Pod) {
			container0(p).LivenessProbe.TCPSocket = &corev1.TCPSocketAction{Port: intstr.FromInt32(6443)}
		}, []problem{forbidden(c0 + ".livenessProbe.tcpSocket")}},
		{"liveness successThreshold 1", func(p *corev1.Pod) { container0(p).LivenessProbe.SuccessThreshold = 2 },
			[]problem{invalid(c0 + ".livenessProbe.successThreshold")}},
		{"startup successThreshold 1", func(p *corev1.Pod) { container0(p).StartupProbe.SuccessThreshold = 3 },
			[]problem{invalid(c0 + ".startupProbe.successThreshold")}},
		{"readiness successThreshold may exceed 1", func(p *corev1.Pod) { container0(p).ReadinessProbe.SuccessThreshold = 3 }, nil},
		{"probe numbers not negative", func(p *corev1.Pod) {
			container0(p).ReadinessProbe.PeriodSeconds = -1
			container0(p).ReadinessProbe.InitialDelaySeconds = -5
		}, []problem{invalid(c0 + ".readinessProbe.periodSeconds"), invalid(c0 + ".readinessProbe.initialDelaySeconds")}},
		{"readiness has no terminationGracePeriodSeconds", func(p *corev1.Pod) { container0(p).ReadinessProbe.TerminationGracePeriodSeconds = ptr(int64(5)) },
			[]problem{invalid(c0 + ".readinessProbe.terminationGracePeriodSeconds")}},
		{"probe terminationGracePeriodSeconds positive", func(p *corev1.Pod) { container0(p).LivenessProbe.TerminationGracePeriodSeconds = ptr(int64(0)) },
			[]problem{invalid(c0 + ".livenessProbe.terminationGracePeriodSeconds")}},
		{"httpGet port number", func(p *corev1.Pod) { container0(p).LivenessProbe.HTTPGet.Port = intstr.FromInt32(0) },
			[]problem{invalid(c0 + ".livenessProbe.httpGet.port")}},
		{"httpGet named port exists", func(p *corev1.Pod) { container0(p).ReadinessProbe.HTTPGet.Port = intstr.FromString("metrics") },
			[]problem{invalid(c0 + ".readinessProbe.httpGet.port")}},
		{"httpGet named port format", func(p *corev1.Pod) { container0(p).ReadinessProbe.HTTPGet.Port = intstr.FromString("Not_A_Name") },
			[]problem{invalid(c0 + ".readinessProbe.httpGet.port")}},
		{"httpGet scheme", func(p *corev1.Pod) { container0(p).LivenessProbe.HTTPGet.Scheme = "FTP" },
			[]problem{notSupported(c0 + ".livenessProbe.httpGet.scheme")}},
		{"httpGet path required", func(p *corev1.Pod) { container0(p).LivenessProbe.HTTPGet.Path = "" },
			[]problem{required(c0 + ".livenessProbe.httpGet.path")}},
		{"httpGet header name", func(p *corev1.Pod) {
			container0(p).LivenessProbe.HTTPGet.HTTPHeaders = []corev1.HTTPHeader{{Name: "bad header", Value: "x"}}
		}, []problem{invalid(c0 + ".livenessProbe.httpGet.httpHeaders")}},
		{"exec command required", func(p *corev1.Pod) {
			container0(p).LivenessProbe.ProbeHandler = corev1.ProbeHandler{Exec: &corev1.ExecAction{}}
		}, []problem{required(c0 + ".livenessProbe.exec.command")}},
		{"grpc port", func(p *corev1.Pod) {
			container0(p).LivenessProbe.ProbeHandler = corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 70000, Service: ptr("")}}
		}, []problem{invalid(c0 + ".livenessProbe.grpc.port")}},
		{"lifecycle handler required", func(p *corev1.Pod) {
			container0(p).Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{}}
		}, []problem{required(c0 + ".lifecycle.preStop")}},
		{"lifecycle sleep within grace period", func(p *corev1.Pod) {
			container0(p).Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 31}}}
		}, []problem{invalid(c0 + ".lifecycle.preStop.sleep")}},
		{"lifecycle tcpSocket named port", func(p *corev1.Pod) {
			container0(p).Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("https")}}}
		}, nil},
		{"stopSignal needs os", func(p *corev1.Pod) {
			container0(p).Lifecycle = &corev1.Lifecycle{StopSignal: ptr(corev1.SIGTERM)}
		}, []problem{forbidden(c0 + ".lifecycle.stopSignal")}},
		{"stopSignal on linux", func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
			container0(p).Lifecycle = &corev1.Lifecycle{StopSignal: ptr(corev1.Signal("SIGNOPE"))}
		}, []problem{notSupported(c0 + ".lifecycle.stopSignal")}},

		// container restartPolicy and init containers
		{"restartPolicy only on init containers", func(p *corev1.Pod) { container0(p).RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways) },
			[]problem{forbidden(c0 + ".restartPolicy")}},
		{"restartPolicyRules unsupported", func(p *corev1.Pod) {
			container0(p).RestartPolicyRules = []corev1.ContainerRestartRule{{Action: corev1.ContainerRestartRuleActionRestart}}
		}, []problem{forbidden(c0 + ".restartPolicyRules")}},
		{"init restartPolicy Always only", func(p *corev1.Pod) {
			c := secondContainer()
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicyNever)
			p.Spec.InitContainers = []corev1.Container{c}
		}, []problem{notSupported("spec.initContainers[0].restartPolicy")}},
		{"init container probes forbidden", func(p *corev1.Pod) {
			c := secondContainer()
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, SuccessThreshold: 1}
			c.Lifecycle = &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}}
			p.Spec.InitContainers = []corev1.Container{c}
		}, []problem{forbidden("spec.initContainers[0].readinessProbe"), forbidden("spec.initContainers[0].lifecycle")}},
		{"sidecar init container may have probes", func(p *corev1.Pod) {
			c := secondContainer()
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			c.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, SuccessThreshold: 1}
			c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, SuccessThreshold: 1}
			p.Spec.InitContainers = []corev1.Container{c}
		}, nil},
		{"sidecar probes are validated", func(p *corev1.Pod) {
			c := secondContainer()
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			c.StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, SuccessThreshold: 2}
			p.Spec.InitContainers = []corev1.Container{c}
		}, []problem{invalid("spec.initContainers[0].startupProbe.successThreshold")}},
		{"init containers are validated like containers", func(p *corev1.Pod) {
			c := secondContainer()
			c.Image = ""
			c.VolumeMounts = []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}}
			p.Spec.InitContainers = []corev1.Container{c}
		}, []problem{required("spec.initContainers[0].image"), notFound("spec.initContainers[0].volumeMounts[0].name")}},

		// container securityContext
		{"runAsUser not negative", func(p *corev1.Pod) {
			container0(p).SecurityContext = &corev1.SecurityContext{RunAsUser: ptr(int64(-1))}
		},
			[]problem{invalid(c0 + ".securityContext.runAsUser")}},
		{"runAsGroup in range", func(p *corev1.Pod) {
			container0(p).SecurityContext = &corev1.SecurityContext{RunAsGroup: ptr(int64(1 << 40))}
		},
			[]problem{invalid(c0 + ".securityContext.runAsGroup")}},
		{"privileged without privilege escalation", func(p *corev1.Pod) {
			container0(p).SecurityContext = &corev1.SecurityContext{Privileged: ptr(true), AllowPrivilegeEscalation: ptr(false)}
		}, []problem{invalid(c0 + ".securityContext")}},
		{"CAP_SYS_ADMIN without privilege escalation", func(p *corev1.Pod) {
			container0(p).SecurityContext = &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr(false),
				Capabilities:             &corev1.Capabilities{Add: []corev1.Capability{"CAP_SYS_ADMIN"}},
			}
		}, []problem{invalid(c0 + ".securityContext")}},
		{"procMount values", func(p *corev1.Pod) {
			container0(p).SecurityContext = &corev1.SecurityContext{ProcMount: ptr(corev1.ProcMountType("Masked"))}
		},
			[]problem{notSupported(c0 + ".securityContext.procMount")}},
		{"Unmasked procMount needs a user namespace", func(p *corev1.Pod) {
			container0(p).SecurityContext = &corev1.SecurityContext{ProcMount: ptr(corev1.UnmaskedProcMount)}
		}, []problem{invalid(c0 + ".securityContext.procMount")}},
		{"container seccomp Localhost needs a profile", func(p *corev1.Pod) {
			container0(p).SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost}}
		}, []problem{required(c0 + ".securityContext.seccompProfile.localhostProfile")}},
		{"seccomp profile relative", func(p *corev1.Pod) {
			container0(p).SecurityContext = &corev1.SecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeLocalhost, LocalhostProfile: ptr("/abs.json")}}
		}, []problem{invalid(c0 + ".securityContext.seccompProfile.localhostProfile")}},
		{"apparmor type", func(p *corev1.Pod) {
			container0(p).SecurityContext = &corev1.SecurityContext{AppArmorProfile: &corev1.AppArmorProfile{Type: "Complain"}}
		}, []problem{notSupported(c0 + ".securityContext.appArmorProfile.type")}},

		// volumes
		{"volume name DNS label", func(p *corev1.Pod) {
			p.Spec.Volumes[0].Name = "CA_Certs"
			container0(p).VolumeMounts[0].Name = "CA_Certs"
		}, []problem{invalid("spec.volumes[0].name")}},
		{"volume names unique", func(p *corev1.Pod) {
			p.Spec.Volumes[1].Name = "ca-certs"
			container0(p).VolumeMounts[1].Name = "ca-certs"
		},
			[]problem{duplicate("spec.volumes[1].name")}},
		{"volume needs a source", func(p *corev1.Pod) { addVolume(p, corev1.Volume{Name: "empty"}) }, []problem{required("spec.volumes[5]")}},
		{"volume one source", func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir = &corev1.EmptyDirVolumeSource{} },
			[]problem{forbidden("spec.volumes[0].hostPath")}},
		{"hostPath path required", func(p *corev1.Pod) { p.Spec.Volumes[0].HostPath.Path = "" }, []problem{required("spec.volumes[0].hostPath.path")}},
		{"hostPath no backsteps", func(p *corev1.Pod) { p.Spec.Volumes[0].HostPath.Path = "/etc/../root" },
			[]problem{invalid("spec.volumes[0].hostPath.path")}},
		{"hostPath type", func(p *corev1.Pod) { p.Spec.Volumes[0].HostPath.Type = ptr(corev1.HostPathType("Dir")) },
			[]problem{notSupported("spec.volumes[0].hostPath.type")}},
		{"emptyDir medium", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "Disk"}}})
		}, []problem{notSupported("spec.volumes[5].emptyDir.medium")}},
		{"emptyDir memory and hugepages", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("64Mi"))}}})
			addVolume(p, corev1.Volume{Name: "huge", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: "HugePages-2Mi"}}})
		}, nil},
		{"emptyDir sizeLimit", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(resource.MustParse("-1"))}}})
		}, []problem{forbidden("spec.volumes[5].emptyDir.sizeLimit")}},
		{"downwardAPI item path relative", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				Items: []corev1.DownwardAPIVolumeFile{{Path: "/labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}}},
			}}})
		}, []problem{invalid("spec.volumes[5].downwardAPI.items[0].path")}},
		{"downwardAPI item needs a ref", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{
				Items: []corev1.DownwardAPIVolumeFile{{Path: "labels"}},
			}}})
		}, []problem{required("spec.volumes[5].downwardAPI.items[0]")}},
		{"projected downwardAPI is allowed", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "podinfo", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
					{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}},
					{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "kube-apiserver", Resource: "requests.cpu", Divisor: resource.MustParse("1m")}},
				}}}},
				DefaultMode: ptr(int32(0o644)),
			}}})
		}, nil},
		{"projected paths unique", func(p *corev1.Pod) {
			file := corev1.DownwardAPIVolumeFile{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels"}}
			addVolume(p, corev1.Volume{Name: "podinfo", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				Sources: []corev1.VolumeProjection{{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{file, file}}}},
			}}})
		}, []problem{invalid("spec.volumes[5].projected")}},
		{"nfs path absolute", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "share", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "nfs.example.com", Path: "exports"}}})
		}, []problem{invalid("spec.volumes[5].nfs.path")}},
		{"image volume", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "tools", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "example.com/tools:1"}}})
		}, []problem{required("spec.volumes[5].image.pullPolicy")}},
		{"file mode", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "podinfo", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{DefaultMode: ptr(int32(0o1000))}}})
		}, []problem{invalid("spec.volumes[5].downwardAPI.defaultMode")}},

		// pod-level fields
		{"restartPolicy required", func(p *corev1.Pod) { p.Spec.RestartPolicy = "" }, []problem{required("spec.restartPolicy")}},
		{"restartPolicy values", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, []problem{notSupported("spec.restartPolicy")}},
		{"dnsPolicy values", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Host" }, []problem{notSupported("spec.dnsPolicy")}},
		{"dnsPolicy None needs dnsConfig", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, []problem{required("spec.dnsConfig")}},
		{"dnsPolicy None needs nameservers", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Searches: []string{"cluster.local"}}
		}, []problem{required("spec.dnsConfig.nameservers")}},
		{"dnsConfig", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "not-an-ip"}, Searches: []string{"bad_domain!"}, Options: []corev1.PodDNSConfigOption{{}}}
		}, []problem{invalid("spec.dnsConfig.nameservers[1]"), invalid("spec.dnsConfig.searches[0]"), required("spec.dnsConfig.options[0]")}},
		{"terminationGracePeriodSeconds required", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = nil },
			[]problem{required("spec.terminationGracePeriodSeconds")}},
		{"terminationGracePeriodSeconds not negative", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr(int64(-1)) },
			[]problem{invalid("spec.terminationGracePeriodSeconds")}},
		{"activeDeadlineSeconds positive", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr(int64(0)) },
			[]problem{invalid("spec.activeDeadlineSeconds")}},
		{"hostname DNS label", func(p *corev1.Pod) { p.Spec.Hostname = "cp.1" }, []problem{invalid("spec.hostname")}},
		{"subdomain DNS label", func(p *corev1.Pod) { p.Spec.Subdomain = "Control_Plane" }, []problem{invalid("spec.subdomain")}},
		{"hostAliases", func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.0.0.300", Hostnames: []string{"ok.example.com", "not ok"}}}
		}, []problem{invalid("spec.hostAliases[0].ip"), invalid("spec.hostAliases[0].hostnames[1]")}},
		{"nodeSelector labels", func(p *corev1.Pod) {
			p.Spec.NodeSelector = map[string]string{"node-role.kubernetes.io/control-plane": "yes please"}
		},
			[]problem{invalid("spec.nodeSelector")}},
		{"nodeName DNS subdomain", func(p *corev1.Pod) { p.Spec.NodeName = "CP_1" }, []problem{invalid("spec.nodeName")}},
		{"toleration operator values", func(p *corev1.Pod) { p.Spec.Tolerations[0].Operator = "Lt"; p.Spec.Tolerations[0].Key = "k" },
			[]problem{notSupported("spec.tolerations[0].operator")}},
		{"toleration Exists has no value", func(p *corev1.Pod) { p.Spec.Tolerations[0].Value = "x" },
			[]problem{invalid("spec.tolerations[0].operator")}},
		{"toleration empty key needs Exists", func(p *corev1.Pod) { p.Spec.Tolerations[0].Operator = corev1.TolerationOpEqual },
			[]problem{invalid("spec.tolerations[0].operator")}},
		{"toleration key qualified name", func(p *corev1.Pod) { p.Spec.Tolerations[0].Key = "bad key" },
			[]problem{invalid("spec.tolerations[0].key")}},
		{"toleration effect values", func(p *corev1.Pod) { p.Spec.Tolerations[0].Effect = "NoAdmit" },
			[]problem{notSupported("spec.tolerations[0].effect")}},
		{"tolerationSeconds needs NoExecute", func(p *corev1.Pod) {
			p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: corev1.TolerationOpEqual, Value: "v", Effect: corev1.TaintEffectNoSchedule, TolerationSeconds: ptr(int64(5))})
		}, []problem{invalid("spec.tolerations[1].effect")}},
		{"priorityClassName DNS subdomain", func(p *corev1.Pod) { p.Spec.PriorityClassName = "System_Node_Critical"; p.Spec.Priority = nil },
			[]problem{invalid("spec.priorityClassName")}},
		{"priority matches built-in class", func(p *corev1.Pod) { p.Spec.Priority = ptr(int32(1000)) }, []problem{invalid("spec.priority")}},
		{"preemptionPolicy", func(p *corev1.Pod) { p.Spec.PreemptionPolicy = ptr(corev1.PreemptionPolicy("Always")) },
			[]problem{notSupported("spec.preemptionPolicy")}},
		{"runtimeClassName", func(p *corev1.Pod) { p.Spec.RuntimeClassName = ptr("Kata_Containers") }, []problem{invalid("spec.runtimeClassName")}},
		{"readinessGates", func(p *corev1.Pod) { p.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "bad gate"}} },
			[]problem{invalid("spec.readinessGates[0].conditionType")}},
		{"schedulingGates on a bound pod", func(p *corev1.Pod) { p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}} },
			[]problem{forbidden("spec.nodeName")}},
		{"shareProcessNamespace with hostPID", func(p *corev1.Pod) { p.Spec.HostPID = true; p.Spec.ShareProcessNamespace = ptr(true) },
			[]problem{invalid("spec.shareProcessNamespace")}},
		{"hostUsers false with hostPID", func(p *corev1.Pod) { p.Spec.HostUsers = ptr(false); p.Spec.HostPID = true },
			[]problem{forbidden("spec.hostPID")}},
		{"hostnameOverride with hostNetwork", func(p *corev1.Pod) { p.Spec.HostnameOverride = ptr("apiserver") },
			[]problem{forbidden("spec.hostnameOverride")}},
		{"os name", func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: "plan9"} }, []problem{notSupported("spec.os")}},
		{"windows pod without linux settings", func(p *corev1.Pod) { p.Spec.OS = &corev1.PodOS{Name: corev1.Windows} },
			[]problem{forbidden("spec.securityContext.seccompProfile")}},
		{"linux pod without windows options", func(p *corev1.Pod) {
			p.Spec.OS = &corev1.PodOS{Name: corev1.Linux}
			container0(p).SecurityContext = &corev1.SecurityContext{WindowsOptions: &corev1.WindowsSecurityContextOptions{RunAsUserName: ptr("admin")}}
		}, []problem{forbidden(c0 + ".securityContext.windowsOptions")}},

		// pod securityContext
		{"pod seccomp type", func(p *corev1.Pod) { p.Spec.SecurityContext.SeccompProfile.Type = "Default" },
			[]problem{notSupported("spec.securityContext.seccompProfile.type")}},
		{"pod seccomp Localhost needs a profile", func(p *corev1.Pod) { p.Spec.SecurityContext.SeccompProfile.Type = corev1.SeccompProfileTypeLocalhost },
			[]problem{required("spec.securityContext.seccompProfile.localhostProfile")}},
		{"pod seccomp localhostProfile only for Localhost", func(p *corev1.Pod) { p.Spec.SecurityContext.SeccompProfile.LocalhostProfile = ptr("x.json") },
			[]problem{invalid("spec.securityContext.seccompProfile.localhostProfile")}},
		{"pod runAsUser", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr(int64(-1)) }, []problem{invalid("spec.securityContext.runAsUser")}},
		{"supplementalGroups", func(p *corev1.Pod) { p.Spec.SecurityContext.SupplementalGroups = []int64{1000, -1} },
			[]problem{invalid("spec.securityContext.supplementalGroups[1]")}},
		{"sysctl name", func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "Kernel.Bad!", Value: "1"}}
		},
			[]problem{invalid("spec.securityContext.sysctls[0].name")}},
		{"sysctl names unique", func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "kernel.shm_rmid_forced", Value: "1"}, {Name: "kernel.shm_rmid_forced", Value: "0"}}
		}, []problem{duplicate("spec.securityContext.sysctls[1].name")}},
		{"net sysctl with hostNetwork", func(p *corev1.Pod) {
			p.Spec.SecurityContext.Sysctls = []corev1.Sysctl{{Name: "net/ipv4/ip_unprivileged_port_start", Value: "0"}}
		}, []problem{invalid("spec.securityContext.sysctls[0].name")}},
		{"fsGroupChangePolicy", func(p *corev1.Pod) {
			p.Spec.SecurityContext.FSGroupChangePolicy = ptr(corev1.PodFSGroupChangePolicy("Never"))
		},
			[]problem{notSupported("spec.securityContext.fsGroupChangePolicy")}},

		// pod-level resources
		{"pod resources cover container requests", func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}}
		}, []problem{invalid("spec.resources.requests[cpu]")}},
		{"pod resources cover container limits", func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")}}
		}, []problem{invalid(c0 + ".resources.limits[memory]")}},
		{"pod resources names", func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}
		}, []problem{notSupported("spec.resources.limits[ephemeral-storage]")}},
		{"pod resources sum sidecars", func(p *corev1.Pod) {
			c := secondContainer()
			c.RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}
			p.Spec.InitContainers = []corev1.Container{c}
			p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("300m")}}
		}, []problem{invalid("spec.resources.requests[cpu]")}},
		{"pod resources fit", func(p *corev1.Pod) {
			p.Spec.Resources = &corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("4Gi")},
			}
		}, nil},

		// scheduling fields the API server still checks
		{"node affinity operator", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "kubernetes.io/os", Operator: "Is", Values: []string{"linux"}}}}},
			}}}
		}, []problem{invalid("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator")}},
		{"pod anti-affinity topologyKey", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{
				LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"component": "kube-apiserver"}},
			}}}}
		}, []problem{required("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey"),
			// and, as upstream, the empty string's two label-name problems
			invalid("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey"),
			invalid("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey")}},
		{"topology spread", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{MaxSkew: 0, TopologyKey: "zone", WhenUnsatisfiable: "Maybe"}}
		}, []problem{invalid("spec.topologySpreadConstraints[0].maxSkew"), notSupported("spec.topologySpreadConstraints[0].whenUnsatisfiable")}},

		// static pod restrictions
		{"serviceAccountName", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "kube-apiserver" }, []problem{forbidden("spec.serviceAccountName")}},
		{"deprecated serviceAccount", func(p *corev1.Pod) { p.Spec.DeprecatedServiceAccount = "kube-apiserver" }, //nolint:staticcheck // the field under test
			[]problem{forbidden("spec.serviceAccount")}},
		{"serviceAccountName synced with the deprecated field", func(p *corev1.Pod) {
			p.Spec.ServiceAccountName = "kube-apiserver"
			p.Spec.DeprecatedServiceAccount = "kube-apiserver" //nolint:staticcheck // the field under test
		}, []problem{forbidden("spec.serviceAccountName")}},
		{"imagePullSecrets", func(p *corev1.Pod) { p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}} },
			[]problem{forbidden("spec.imagePullSecrets")}},
		{"env secretKeyRef", func(p *corev1.Pod) {
			container0(p).Env = append(container0(p).Env, corev1.EnvVar{Name: "TOKEN", ValueFrom: &corev1.EnvVarSource{
				SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "token"}, Key: "token"}}})
		}, []problem{forbidden(c0 + ".env[1].valueFrom.secretKeyRef")}},
		{"env configMapKeyRef", func(p *corev1.Pod) {
			container0(p).Env = append(container0(p).Env, corev1.EnvVar{Name: "MODE", ValueFrom: &corev1.EnvVarSource{
				ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}})
		}, []problem{forbidden(c0 + ".env[1].valueFrom.configMapKeyRef")}},
		{"envFrom secretRef", func(p *corev1.Pod) {
			container0(p).EnvFrom = []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "creds"}}}}
		}, []problem{forbidden(c0 + ".envFrom[0].secretRef")}},
		{"envFrom on init containers", func(p *corev1.Pod) {
			c := secondContainer()
			c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}
			p.Spec.InitContainers = []corev1.Container{c}
		}, []problem{forbidden("spec.initContainers[0].envFrom[0].configMapRef")}},
		{"secret volume", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "certs", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "certs"}}})
		}, []problem{forbidden("spec.volumes[5].secret")}},
		{"configMap volume", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}})
		}, []problem{forbidden("spec.volumes[5].configMap")}},
		{"persistentVolumeClaim volume", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}})
		}, []problem{forbidden("spec.volumes[5].persistentVolumeClaim")}},
		{"ephemeral volume", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "data", VolumeSource: corev1.VolumeSource{Ephemeral: &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{}}}})
		}, []problem{forbidden("spec.volumes[5].ephemeral")}},
		{"csi volume", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "store", VolumeSource: corev1.VolumeSource{CSI: &corev1.CSIVolumeSource{Driver: "secrets-store.csi.k8s.io"}}})
		}, []problem{forbidden("spec.volumes[5].csi")}},
		{"iscsi volume with a secret", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "lun", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{
				TargetPortal: "10.0.0.5:3260", IQN: "iqn.2001-04.com.example:storage", SessionCHAPAuth: true,
				SecretRef: &corev1.LocalObjectReference{Name: "chap"},
			}}})
		}, []problem{forbidden("spec.volumes[5].iscsi.secretRef")}},
		{"iscsi volume without a secret", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "lun", VolumeSource: corev1.VolumeSource{ISCSI: &corev1.ISCSIVolumeSource{
				TargetPortal: "10.0.0.5:3260", IQN: "iqn.2001-04.com.example:storage",
			}}})
		}, nil},
		{"projected sources that need the API", func(p *corev1.Pod) {
			addVolume(p, corev1.Volume{Name: "token", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}},
				{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "c"}}},
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr(int64(3600))}},
				{ClusterTrustBundle: &corev1.ClusterTrustBundleProjection{Name: ptr("bundle"), Path: "ca.crt"}},
				{PodCertificate: &corev1.PodCertificateProjection{SignerName: "example.com/signer", KeyType: "ED25519", CredentialBundlePath: "cred.pem"}},
			}}}})
		}, []problem{
			forbidden("spec.volumes[5].projected.sources[0].secret"),
			forbidden("spec.volumes[5].projected.sources[1].configMap"),
			forbidden("spec.volumes[5].projected.sources[2].serviceAccountToken"),
			forbidden("spec.volumes[5].projected.sources[3].clusterTrustBundle"),
			forbidden("spec.volumes[5].projected.sources[4].podCertificate"),
		}},
		{"resourceClaims", func(p *corev1.Pod) {
			p.Spec.ResourceClaims = []corev1.PodResourceClaim{{Name: "gpu", ResourceClaimTemplateName: ptr("gpu")}}
			container0(p).Resources.Claims = []corev1.ResourceClaim{{Name: "gpu"}}
		}, []problem{forbidden("spec.resourceClaims"), forbidden(c0 + ".resources.claims")}},
		{"ephemeralContainers", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox"}}}
		}, []problem{forbidden("spec.ephemeralContainers")}},
	}
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case name %q", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			p := baselinePod()
			tc.mutate(p)
			assertProblems(t, ValidatePod(p), tc.want...)
		})
	}
}

func TestValidatePodReportsEverythingAtOnce(t *testing.T) {
	p := baselinePod()
	p.Namespace = "Kube_System"
	container0(p).Image = ""
	container0(p).Ports[0].Protocol = "HTTP"
	container0(p).VolumeMounts[2].Name = "missing"
	container0(p).LivenessProbe.SuccessThreshold = 3
	p.Spec.RestartPolicy = "Sometimes"
	p.Spec.ServiceAccountName = "admin"
	addVolume(p, corev1.Volume{Name: "creds", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{}}})
	p.Spec.Tolerations = append(p.Spec.Tolerations, corev1.Toleration{Key: "k", Operator: "Maybe"})

	errs := ValidatePod(p)
	assertProblems(t, errs,
		invalid("metadata.namespace"),
		required(c0+".image"),
		notSupported(c0+".ports[0].protocol"),
		notFound(c0+".volumeMounts[2].name"),
		invalid(c0+".livenessProbe.successThreshold"),
		notSupported("spec.restartPolicy"),
		forbidden("spec.serviceAccountName"),
		required("spec.volumes[5].secret.secretName"),
		forbidden("spec.volumes[5].secret"),
		notSupported("spec.tolerations[1].operator"),
	)
	// Every error names its field and says why, ready for a log line.
	for _, err := range errs {
		if err.Field == "" || err.Error() == "" {
			t.Errorf("error without field or message: %#v", err)
		}
	}
}

func TestValidateStaticPodRestrictions(t *testing.T) {
	if errs := ValidateStaticPodRestrictions(baselinePod()); len(errs) != 0 {
		t.Fatalf("baseline pod: %v", errs.ToAggregate())
	}
	if errs := ValidateStaticPodRestrictions(nil); len(errs) != 0 {
		t.Fatalf("nil pod: %v", errs.ToAggregate())
	}

	p := baselinePod()
	p.Spec.ServiceAccountName = "default"
	p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
	addVolume(p, corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}})
	errs := ValidateStaticPodRestrictions(p)
	assertProblems(t, errs, forbidden("spec.serviceAccountName"), forbidden("spec.imagePullSecrets"), forbidden("spec.volumes[5].configMap"))
	for _, err := range errs {
		if !strings.Contains(err.Detail, "static pods cannot reference API objects") {
			t.Errorf("%s: detail %q does not explain the static-pod rule", err.Field, err.Detail)
		}
	}
}

// TestValidatePodDoesNotMutate guards the contract that validation only
// reads: callers validate the very pod they will run.
func TestValidatePodDoesNotMutate(t *testing.T) {
	p := baselinePod()
	p.Spec.Resources = &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	before := p.DeepCopy()
	ValidatePod(p)
	if !equalPods(before, p) {
		t.Fatal("ValidatePod changed its input")
	}
}

func equalPods(a, b *corev1.Pod) bool {
	aj, errA := a.Marshal()
	bj, errB := b.Marshal()
	return errA == nil && errB == nil && string(aj) == string(bj)
}

func BenchmarkValidatePod(b *testing.B) {
	p := baselinePod()
	b.ReportAllocs()
	for b.Loop() {
		if errs := ValidatePod(p); len(errs) != 0 {
			b.Fatal(errs.ToAggregate())
		}
	}
}
