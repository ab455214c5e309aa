package pod

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/manifest"
)

const seed = `apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels: {app: myapp, type: front-end}
spec:
  containers:
  - name: nginx-container
    image: nginx
`

var seen = time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)

func mustStatic(t *testing.T, yaml, node string) *corev1.Pod {
	t.Helper()
	doc, err := manifest.Decode([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	p, err := MakeStatic(doc.Pod, doc.CanonicalJSON, StaticOptions{NodeName: node, Source: SourceFile, Seen: seen})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMakeStaticSeed(t *testing.T) {
	p := mustStatic(t, seed, "Worker-1")
	checks := []struct {
		what      string
		got, want interface{}
	}{
		{"name", p.Name, "myapp-pod-worker-1"},
		{"namespace", p.Namespace, "default"},
		{"nodeName", p.Spec.NodeName, "worker-1"},
		{"config.hash", p.Annotations[AnnotationConfigHash], string(p.UID)},
		{"config.source", p.Annotations[AnnotationConfigSource], "file"},
		{"config.seen", p.Annotations[AnnotationConfigSeen], "2026-11-28T10:00:00Z"},
		{"uid length", len(p.UID), 32},
		{"restartPolicy", p.Spec.RestartPolicy, corev1.RestartPolicyAlways},
		{"grace", *p.Spec.TerminationGracePeriodSeconds, int64(30)},
		{"dnsPolicy", p.Spec.DNSPolicy, corev1.DNSClusterFirst},
		{"pull policy of untagged image", p.Spec.Containers[0].ImagePullPolicy, corev1.PullAlways},
		{"termination message path", p.Spec.Containers[0].TerminationMessagePath, "/dev/termination-log"},
		{"tolerations", len(p.Spec.Tolerations), 1},
		{"toleration op", p.Spec.Tolerations[0].Operator, corev1.TolerationOpExists},
		{"toleration effect", p.Spec.Tolerations[0].Effect, corev1.TaintEffectNoExecute},
		{"labels kept", p.Labels["app"], "myapp"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
		}
	}
}

func TestUIDStability(t *testing.T) {
	base := mustStatic(t, seed, "worker-1").UID
	// A golden value: if this changes, every static pod on every upgraded
	// node restarts. Only change it with a new uid scheme and a release note.
	const golden = "1d529e81ea86c4339f72f46c02caf2de"
	if string(base) != golden {
		t.Fatalf("seed UID on worker-1 is %s, want %s: the UID scheme changed", base, golden)
	}
	same := map[string]string{
		"explicit namespace": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: myapp-pod\n  namespace: default\n  labels: {app: myapp, type: front-end}\nspec:\n  containers:\n  - name: nginx-container\n    image: nginx\n",
		"json":               `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"myapp-pod","labels":{"type":"front-end","app":"myapp"}},"spec":{"containers":[{"image":"nginx","name":"nginx-container"}]}}`,
		"comments and order": "# a comment\nkind: Pod\napiVersion: v1\nspec:\n  containers:\n  - image: nginx\n    name: nginx-container\nmetadata:\n  labels: {type: front-end, app: myapp}\n  name: myapp-pod\n",
		"status is ignored":  seed + "status:\n  phase: Running\n",
		"copied config.hash": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: myapp-pod\n  annotations: {kubernetes.io/config.hash: abc}\n  labels: {app: myapp, type: front-end}\nspec:\n  containers:\n  - name: nginx-container\n    image: nginx\n",
	}
	for name, y := range same {
		if got := mustStatic(t, y, "worker-1").UID; got != base {
			t.Errorf("%s: UID %s, want %s (same pod)", name, got, base)
		}
	}
	different := map[string]struct{ yaml, node string }{
		"other node":      {seed, "worker-2"},
		"other image":     {seed[:len(seed)-len("nginx\n")] + "nginx:1.27\n", "worker-1"},
		"other namespace": {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: myapp-pod\n  namespace: kube-system\n  labels: {app: myapp, type: front-end}\nspec:\n  containers:\n  - name: nginx-container\n    image: nginx\n", "worker-1"},
		"other label":     {"apiVersion: v1\nkind: Pod\nmetadata:\n  name: myapp-pod\n  labels: {app: myapp, type: back-end}\nspec:\n  containers:\n  - name: nginx-container\n    image: nginx\n", "worker-1"},
	}
	for name, c := range different {
		if got := mustStatic(t, c.yaml, c.node).UID; got == base {
			t.Errorf("%s: UID unchanged, want a new one", name)
		}
	}
	// Node names are case-insensitive, as in the kubelet.
	if got := mustStatic(t, seed, "WORKER-1").UID; got != base {
		t.Errorf("upper-case node name changed the UID")
	}
}

func TestNameOverride(t *testing.T) {
	doc, err := manifest.Decode([]byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	p, err := MakeStatic(doc.Pod, doc.CanonicalJSON, StaticOptions{NodeName: "n1", Source: SourceHTTP, Name: "custom-name"})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "custom-name" || p.Annotations[AnnotationConfigSource] != "http" {
		t.Fatalf("name %q source %q", p.Name, p.Annotations[AnnotationConfigSource])
	}
	if doc.Pod.Name != "myapp-pod" || doc.Pod.Annotations != nil {
		t.Fatal("MakeStatic modified its input")
	}
}

func TestDefaultPullPolicy(t *testing.T) {
	cases := map[string]corev1.PullPolicy{
		"nginx": corev1.PullAlways, "nginx:latest": corev1.PullAlways, "nginx:1.27": corev1.PullIfNotPresent,
		"registry:5000/nginx": corev1.PullAlways, "registry:5000/nginx:1.2": corev1.PullIfNotPresent,
		"nginx@sha256:abcd": corev1.PullIfNotPresent, "registry.k8s.io/etcd:3.5.9-0": corev1.PullIfNotPresent,
	}
	for image, want := range cases {
		if got := DefaultPullPolicy(image); got != want {
			t.Errorf("DefaultPullPolicy(%q) = %s, want %s", image, got, want)
		}
	}
}

func TestSetDefaultsDetails(t *testing.T) {
	p := mustStatic(t, `apiVersion: v1
kind: Pod
metadata: {name: api, namespace: kube-system}
spec:
  hostNetwork: true
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 5
  volumes:
  - name: certs
    hostPath: {path: /etc/kubernetes/pki}
  tolerations:
  - {operator: Exists, effect: NoExecute}
  containers:
  - name: api
    image: registry.k8s.io/kube-apiserver:v1.37.2
    ports: [{containerPort: 6443, name: https}]
    livenessProbe:
      httpGet: {port: https}
    env:
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
`, "cp-1")
	c := p.Spec.Containers[0]
	if p.Spec.RestartPolicy != corev1.RestartPolicyOnFailure || *p.Spec.TerminationGracePeriodSeconds != 5 {
		t.Error("explicit values were overwritten")
	}
	if c.Ports[0].HostPort != 6443 || c.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("port defaults: %+v", c.Ports[0])
	}
	lp := c.LivenessProbe
	if lp.PeriodSeconds != 10 || lp.TimeoutSeconds != 1 || lp.FailureThreshold != 3 || lp.SuccessThreshold != 1 || lp.HTTPGet.Path != "/" || lp.HTTPGet.Scheme != corev1.URISchemeHTTP {
		t.Errorf("probe defaults: %+v", lp)
	}
	if c.Env[0].ValueFrom.FieldRef.APIVersion != "v1" {
		t.Error("fieldRef apiVersion not defaulted")
	}
	if *p.Spec.Volumes[0].HostPath.Type != corev1.HostPathUnset {
		t.Error("hostPath type not defaulted")
	}
	if len(p.Spec.Tolerations) != 1 {
		t.Errorf("toleration duplicated: %+v", p.Spec.Tolerations)
	}
}

func TestUpstreamDefaultsValidationRelyOn(t *testing.T) {
	p := mustStatic(t, `apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  terminationGracePeriodSeconds: -5
  volumes:
  - name: scratch
  - name: info
    downwardAPI:
      items: [{path: name, fieldRef: {fieldPath: metadata.name}}]
  - name: img
    image: {reference: "registry.local/data:1"}
  containers:
  - name: c
    image: busybox
    resources: {limits: {cpu: 500m, memory: 64Mi}}
`, "n1")
	if *p.Spec.TerminationGracePeriodSeconds != 1 {
		t.Errorf("negative grace period = %d, want 1", *p.Spec.TerminationGracePeriodSeconds)
	}
	if p.Spec.Volumes[0].EmptyDir == nil {
		t.Error("sourceless volume is not an emptyDir")
	}
	if p.Spec.Volumes[1].DownwardAPI.Items[0].FieldRef.APIVersion != "v1" {
		t.Error("downwardAPI fieldRef apiVersion not defaulted")
	}
	if p.Spec.Volumes[2].Image.PullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image volume pull policy = %q", p.Spec.Volumes[2].Image.PullPolicy)
	}
	req := p.Spec.Containers[0].Resources.Requests
	if req.Cpu().String() != "500m" || req.Memory().String() != "64Mi" {
		t.Errorf("requests not copied from limits: %v", req)
	}
}
