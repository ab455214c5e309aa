package plan

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/pod"
)

// node is the suffix the test's final names carry, as pod.StaticName adds
// it; references use the manifest name without it.
const node = "n"

// static is a desired pod of namespace ns whose manifest is called name,
// with a start-after annotation unless after is "-".
func static(ns, name, uid, after string) Desired {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod.StaticName(name, node), UID: types.UID(uid)}}
	if after != "-" {
		p.Annotations = map[string]string{pod.AnnotationStartAfter: after}
	}
	return Desired{Key: ns + "/" + p.Name, UID: p.UID, Pod: p, ManifestName: name}
}

func ready(o Observed) Observed {
	o.Ready = true
	return o
}

func renderWaiting(out Output) []string {
	var s []string
	for _, w := range out.Waiting {
		s = append(s, fmt.Sprintf("%s %s %s", w.Key, w.Reason, strings.Join(w.Pending, ",")))
	}
	return s
}

func TestStartAfter(t *testing.T) {
	cases := []struct {
		name     string
		desired  []Desired
		observed []Observed
		want     []string
		waiting  []string
		// message, when set, must appear in the first waiting pod's message.
		message string
	}{
		{name: "missing dependency waits",
			desired: []Desired{static("d", "a", "1", "b")},
			waiting: []string{"d/a-n WaitingForDependencies d/b"},
			message: `waiting for d/b (no static pod with manifest name "b" in namespace "d") to be Running and Ready`},
		{name: "dependency not started: it starts, the dependant waits",
			desired: []Desired{static("d", "a", "1", "b"), static("d", "b", "2", "-")},
			want:    []string{"start d/b-n@2"},
			waiting: []string{"d/a-n WaitingForDependencies d/b-n"},
			message: "d/b-n (not started)"},
		{name: "dependency starting",
			desired:  []Desired{static("d", "a", "1", "b"), static("d", "b", "2", "-")},
			observed: []Observed{have("d/b-n", "2", Starting)},
			waiting:  []string{"d/a-n WaitingForDependencies d/b-n"},
			message:  "d/b-n (starting)"},
		{name: "dependency running, not Ready",
			desired:  []Desired{static("d", "a", "1", "b"), static("d", "b", "2", "-")},
			observed: []Observed{have("d/b-n", "2", Active)},
			waiting:  []string{"d/a-n WaitingForDependencies d/b-n"},
			message:  "d/b-n (not Ready)"},
		{name: "dependency Ready: start",
			desired:  []Desired{static("d", "a", "1", "b"), static("d", "b", "2", "-")},
			observed: []Observed{ready(have("d/b-n", "2", Active))},
			want:     []string{"start d/a-n@1"}},
		{name: "Ready flag without Active does not count",
			desired:  []Desired{static("d", "a", "1", "b"), static("d", "b", "2", "-")},
			observed: []Observed{ready(have("d/b-n", "2", Stopping))},
			waiting:  []string{"d/a-n WaitingForDependencies d/b-n"}},
		{name: "only the desired version of a dependency counts",
			desired:  []Desired{static("d", "a", "1", "b"), static("d", "b", "3", "-")},
			observed: []Observed{ready(have("d/b-n", "2", Active))},
			want:     []string{"stop d/b-n@2"},
			waiting:  []string{"d/a-n WaitingForDependencies d/b-n"},
			message:  "d/b-n (not started)"},
		{name: "running pod is not stopped when its dependency is unready",
			desired:  []Desired{static("d", "a", "1", "b"), static("d", "b", "2", "-")},
			observed: []Observed{have("d/a-n", "1", Active), have("d/b-n", "2", Active)}},
		{name: "failed start retries without waiting again",
			desired:  []Desired{static("d", "a", "1", "b"), static("d", "b", "2", "-")},
			observed: []Observed{have("d/a-n", "1", StartFailed), have("d/b-n", "2", Active)},
			want:     []string{"start d/a-n@1"}},
		{name: "new version waits while the old keeps running",
			desired:  []Desired{static("d", "a", "9", "b"), static("d", "b", "2", "-")},
			observed: []Observed{have("d/a-n", "1", Active), have("d/b-n", "2", Active)},
			waiting:  []string{"d/a-n WaitingForDependencies d/b-n"}},
		{name: "new version may start: the old one stops first",
			desired:  []Desired{static("d", "a", "9", "b"), static("d", "b", "2", "-")},
			observed: []Observed{have("d/a-n", "1", Active), ready(have("d/b-n", "2", Active))},
			want:     []string{"stop d/a-n@1"}},
		{name: "new version waits: an old version that never started is cleared",
			desired:  []Desired{static("d", "a", "9", "b")},
			observed: []Observed{have("d/a-n", "1", StartFailed)},
			want:     []string{"stop d/a-n@1"},
			waiting:  []string{"d/a-n WaitingForDependencies d/b"}},
		{name: "namespace-qualified reference",
			desired:  []Desired{static("d", "a", "1", "kube-system/etcd"), static("kube-system", "etcd", "2", "-"), static("d", "etcd", "3", "-")},
			observed: []Observed{ready(have("d/etcd-n", "3", Active)), have("kube-system/etcd-n", "2", Active)},
			waiting:  []string{"d/a-n WaitingForDependencies kube-system/etcd-n"}},
		{name: "every named pod must be Ready",
			desired:  []Desired{static("d", "a", "1", "b, c"), static("d", "b", "2", "-"), static("d", "c", "3", "-")},
			observed: []Observed{ready(have("d/b-n", "2", Active)), have("d/c-n", "3", Active)},
			waiting:  []string{"d/a-n WaitingForDependencies d/c-n"}},
		{name: "the suffixed name is not a reference, with a hint",
			desired:  []Desired{static("d", "a", "1", "b-n"), static("d", "b", "2", "-")},
			observed: []Observed{ready(have("d/b-n", "2", Active))},
			waiting:  []string{"d/a-n WaitingForDependencies d/b-n"},
			message:  `without the node suffix: "b"`},
		{name: "two-pod cycle: neither starts, others do",
			desired: []Desired{static("d", "a", "1", "b"), static("d", "b", "2", "a"), static("d", "c", "3", "-")},
			want:    []string{"start d/c-n@3"},
			waiting: []string{"d/a-n DependencyCycle d/a-n,d/b-n", "d/b-n DependencyCycle d/a-n,d/b-n"},
			message: "forms a cycle: d/a-n → d/b-n → d/a-n"},
		{name: "three-pod cycle and a pod waiting on it",
			desired: []Desired{static("d", "a", "1", "b"), static("d", "b", "2", "c"), static("d", "c", "3", "a"), static("d", "x", "4", "a")},
			waiting: []string{"d/a-n DependencyCycle d/a-n,d/b-n,d/c-n", "d/b-n DependencyCycle d/a-n,d/b-n,d/c-n",
				"d/c-n DependencyCycle d/a-n,d/b-n,d/c-n", "d/x-n WaitingForDependencies d/a-n"},
			message: "d/a-n → d/b-n → d/c-n → d/a-n"},
		{name: "a running pod on a cycle keeps running",
			desired:  []Desired{static("d", "a", "1", "b"), static("d", "b", "2", "a")},
			observed: []Observed{have("d/a-n", "1", Active)},
			waiting:  []string{"d/b-n DependencyCycle d/a-n,d/b-n"}},
		{name: "self reference is a cycle",
			desired: []Desired{static("d", "a", "1", "a")},
			waiting: []string{"d/a-n DependencyCycle d/a-n"},
			message: "d/a-n → d/a-n"},
		{name: "unparsable annotation holds the pod",
			desired: []Desired{static("d", "a", "1", "b,,c")},
			waiting: []string{"d/a-n InvalidDependencies "},
			message: "entry 2 is empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := Plan(Input{Desired: tc.desired, Observed: tc.observed, AllowOrphanStops: true, Now: now})
			if got := render(out); strings.Join(got, ";") != strings.Join(tc.want, ";") {
				t.Fatalf("actions = %v, want %v", got, tc.want)
			}
			if got := renderWaiting(out); strings.Join(got, ";") != strings.Join(tc.waiting, ";") {
				t.Fatalf("waiting = %q, want %q", got, tc.waiting)
			}
			if tc.message != "" && !strings.Contains(out.Waiting[0].Message, tc.message) {
				t.Fatalf("message %q does not contain %q", out.Waiting[0].Message, tc.message)
			}
		})
	}
}

// TestTranscriptStartAfter simulates the agent through a control plane
// coming up in order, a dependency turning unready, and an upgrade that
// changes both manifests: the runtime reports readiness only when the
// transcript says so.
func TestTranscriptStartAfter(t *testing.T) {
	observed := map[types.UID]Observed{}
	var log []string
	// settle applies each plan as the agent would (starts succeed, stops
	// complete) until nothing is left to do, and returns what waits.
	settle := func(desired []Desired) string {
		var out Output
		log, out = settle(t, desired, observed, now)
		return strings.Join(renderWaiting(out), ";")
	}
	setReady := func(uid string, r bool) {
		o := observed[types.UID(uid)]
		o.Ready = r
		observed[types.UID(uid)] = o
	}
	controlPlane := func(etcd, api string) []Desired {
		return []Desired{
			static("kube-system", "etcd", etcd, "-"),
			static("kube-system", "kube-apiserver", api, "etcd"),
			static("kube-system", "kube-scheduler", "s1", "kube-apiserver"),
		}
	}
	steps := []struct {
		do      func() string
		actions string
		waiting string
	}{
		{func() string { return settle(controlPlane("e1", "a1")) },
			"start kube-system/etcd-n@e1",
			"kube-system/kube-apiserver-n WaitingForDependencies kube-system/etcd-n;kube-system/kube-scheduler-n WaitingForDependencies kube-system/kube-apiserver-n"},
		{func() string { setReady("e1", true); return settle(controlPlane("e1", "a1")) },
			"start kube-system/kube-apiserver-n@a1",
			"kube-system/kube-scheduler-n WaitingForDependencies kube-system/kube-apiserver-n"},
		{func() string { setReady("a1", true); return settle(controlPlane("e1", "a1")) },
			"start kube-system/kube-scheduler-n@s1", ""},
		// etcd turns unready: nothing that runs is stopped.
		{func() string { setReady("e1", false); return settle(controlPlane("e1", "a1")) }, "", ""},
		// Both manifests change: etcd is replaced at once; the new
		// apiserver waits for the new etcd while the old apiserver runs.
		{func() string { setReady("e1", true); return settle(controlPlane("e2", "a2")) },
			"stop kube-system/etcd-n@e1;start kube-system/etcd-n@e2",
			"kube-system/kube-apiserver-n WaitingForDependencies kube-system/etcd-n"},
		{func() string { setReady("e2", true); return settle(controlPlane("e2", "a2")) },
			"stop kube-system/kube-apiserver-n@a1;start kube-system/kube-apiserver-n@a2", ""},
	}
	for i, s := range steps {
		waiting := s.do()
		if got := strings.Join(log, ";"); got != s.actions {
			t.Fatalf("step %d: actions %q, want %q", i, got, s.actions)
		}
		if waiting != s.waiting {
			t.Fatalf("step %d: waiting %q, want %q", i, waiting, s.waiting)
		}
	}
}

func TestDependencyProblems(t *testing.T) {
	desired := []Desired{
		static("d", "a", "1", "b"), static("d", "b", "2", "a"),
		static("d", "c", "3", "ghost, a"), static("d", "e", "4", "c"), static("d", "f", "5", "-"),
	}
	var got []string
	for _, w := range DependencyProblems(desired) {
		got = append(got, fmt.Sprintf("%s %s %s", w.Key, w.Reason, strings.Join(w.Pending, ",")))
	}
	want := []string{"d/a-n DependencyCycle d/a-n,d/b-n", "d/b-n DependencyCycle d/a-n,d/b-n", "d/c-n WaitingForDependencies d/ghost"}
	if strings.Join(got, ";") != strings.Join(want, ";") {
		t.Fatalf("problems = %q, want %q", got, want)
	}
	if DependencyProblems([]Desired{static("d", "f", "5", "-")}) != nil {
		t.Fatal("problems without any annotation")
	}
}
