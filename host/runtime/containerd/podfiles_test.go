package containerd

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHostsFile(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-node1"}, Spec: corev1.PodSpec{
		HostAliases: []corev1.HostAlias{{IP: "10.0.0.9", Hostnames: []string{"db", "db.local"}}},
	}}
	got := string(hostsFile(pod, []byte("1.2.3.4 host"), nil))
	if !strings.HasPrefix(got, "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n") || !strings.Contains(got, "10.0.0.9\tdb\tdb.local\n") || strings.Contains(got, "1.2.3.4") {
		t.Errorf("pod network hosts file:\n%s", got)
	}
	pod.Spec.HostNetwork = true
	got = string(hostsFile(pod, []byte("1.2.3.4 host"), nil))
	if !strings.HasPrefix(got, "# Kubernetes-managed hosts file (host network).\n1.2.3.4 host\n") {
		t.Errorf("host network hosts file:\n%s", got)
	}
}

func TestResolvConf(t *testing.T) {
	host := []byte("# comment\nnameserver 192.0.2.1\nsearch corp.example\noptions edns0\n")
	pod := func(policy corev1.DNSPolicy, hostNet bool) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "kube-system"}, Spec: corev1.PodSpec{DNSPolicy: policy, HostNetwork: hostNet}}
	}
	cluster := DNS{Servers: []string{"10.96.0.10"}, Domain: "cluster.local"}
	for _, tc := range []struct {
		name string
		pod  *corev1.Pod
		dns  DNS
		want string
	}{
		{"default", pod(corev1.DNSDefault, false), cluster, "nameserver 192.0.2.1\nsearch corp.example\noptions edns0\n"},
		{"cluster first without cluster dns", pod("", false), DNS{}, "nameserver 192.0.2.1\nsearch corp.example\noptions edns0\n"},
		{"cluster first", pod(corev1.DNSClusterFirst, false), cluster,
			"nameserver 10.96.0.10\nsearch kube-system.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n"},
		{"cluster first on host network", pod(corev1.DNSClusterFirst, true), cluster, "nameserver 192.0.2.1\nsearch corp.example\noptions edns0\n"},
		{"with host net", pod(corev1.DNSClusterFirstWithHostNet, true), cluster,
			"nameserver 10.96.0.10\nsearch kube-system.svc.cluster.local svc.cluster.local cluster.local corp.example\noptions ndots:5\n"},
	} {
		if got := string(resolvConfFile(tc.pod, host, tc.dns)); got != tc.want {
			t.Errorf("%s:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
	two := "2"
	p := pod(corev1.DNSNone, false)
	p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"a.b"}, Options: []corev1.PodDNSConfigOption{{Name: "ndots", Value: &two}}}
	if got, want := string(resolvConfFile(p, host, cluster)), "nameserver 1.1.1.1\nsearch a.b\noptions ndots:2\n"; got != want {
		t.Errorf("None with dnsConfig:\n%s\nwant:\n%s", got, want)
	}
	p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1", "1.1.1.2", "1.1.1.3", "1.1.1.4"}}
	if got, want := string(resolvConfFile(p, host, cluster)), "nameserver 1.1.1.1\nnameserver 1.1.1.2\nnameserver 1.1.1.3\n"; got != want {
		t.Errorf("more than three nameservers:\n%s\nwant:\n%s", got, want)
	}
	if h := podHostname(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: strings.Repeat("a", 62) + "-bcd"}}); len(h) != 62 {
		t.Errorf("hostname %q not truncated to 63 without a trailing dash", h)
	}
}

func TestMemoryVolumeSize(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("8Gi")}
	limited := func(mem string) corev1.Container {
		return corev1.Container{Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(mem)}}}
	}
	small, huge := resource.MustParse("1Mi"), resource.MustParse("16Gi")
	for _, tc := range []struct {
		name  string
		spec  corev1.PodSpec
		limit *resource.Quantity
		want  string
	}{
		{"no limits: allocatable", corev1.PodSpec{Containers: []corev1.Container{{}}}, nil, "8Gi"},
		{"one container unlimited", corev1.PodSpec{Containers: []corev1.Container{limited("64Mi"), {}}}, nil, "8Gi"},
		{"pod limit", corev1.PodSpec{Containers: []corev1.Container{limited("64Mi"), limited("64Mi")}}, nil, "128Mi"},
		{"init container's larger limit", corev1.PodSpec{InitContainers: []corev1.Container{limited("1Gi")}, Containers: []corev1.Container{limited("64Mi")}}, nil, "1Gi"},
		{"sizeLimit smaller", corev1.PodSpec{Containers: []corev1.Container{limited("64Mi")}}, &small, "1Mi"},
		{"sizeLimit larger is ignored", corev1.PodSpec{Containers: []corev1.Container{{}}}, &huge, "8Gi"},
	} {
		got := memoryVolumeSize(&corev1.Pod{Spec: tc.spec}, tc.limit, alloc)
		if want := resource.MustParse(tc.want); got == nil || got.Cmp(want) != 0 {
			t.Errorf("%s: %v, want %s", tc.name, got, tc.want)
		}
	}
}

func TestResourceFieldValue(t *testing.T) {
	alloc := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")}
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "a", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}}},
		{Name: "b"},
	}}}
	for _, tc := range []struct {
		self, container, res, divisor, want string
	}{
		{"a", "", "limits.cpu", "", "2"}, // rounded up
		{"a", "", "limits.cpu", "1m", "1500"},
		{"a", "", "requests.cpu", "1m", "1500"},   // the request defaults to the limit
		{"a", "", "limits.memory", "1Mi", "8192"}, // allocatable
		{"a", "b", "limits.cpu", "", "4"},         // another container's, allocatable
		{"b", "", "requests.memory", "", "0"},     // no request, no limit
	} {
		ref := &corev1.ResourceFieldSelector{ContainerName: tc.container, Resource: tc.res}
		if tc.divisor != "" {
			ref.Divisor = resource.MustParse(tc.divisor)
		}
		got, err := resourceFieldValue(pod, tc.self, ref, alloc)
		if err != nil || got != tc.want {
			t.Errorf("%s of %s%s /%s: %q, %v; want %q", tc.res, tc.self, tc.container, tc.divisor, got, err, tc.want)
		}
	}
	if _, err := resourceFieldValue(pod, "a", &corev1.ResourceFieldSelector{ContainerName: "nope", Resource: "limits.cpu"}, alloc); err == nil {
		t.Error("an unknown container must be an error")
	}
}
