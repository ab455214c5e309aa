package front_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/pod"
	"github.com/staticlet/staticlet/host/runtime/conformance"
	"github.com/staticlet/staticlet/host/runtime/front"
)

// TestConformance runs the runtime suite with a stand-in for the kubelet:
// it reads the served list over HTTP as the kubelet does and reports every
// served pod Running and Ready, as the mirror pods of a kubelet that started
// them do. The real kubelet is test/kubeletfront's.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) agent.Runtime {
			rt := mustNew(t, front.Options{NodeName: "node1", StateFile: filepath.Join(t.TempDir(), "front", "pods.json"), AwaitStatus: 5 * time.Second})
			rt.MarkSynced()
			standInKubelet(t, rt)
			return rt
		},
		Pod: func(t *testing.T, ns, name string, uid types.UID) *corev1.Pod {
			return conformance.BasicPod(ns, name, uid, "busybox")
		},
		// A restarted staticlet reads the published set back and serves it.
		Reopen: func(t *testing.T, rt agent.Runtime) agent.Runtime {
			again := mustNew(t, rt.(*front.Runtime).Options())
			standInKubelet(t, again)
			return again
		},
	})
}

// standInKubelet polls rt's pod list over HTTP until the test ends and
// reports each served pod running and ready, with container IDs derived
// from its UID (so an adopted pod keeps them).
func standInKubelet(t *testing.T, rt *front.Runtime) {
	srv := httptest.NewServer(rt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if resp, err := srv.Client().Get(srv.URL + front.PodsPath); err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					for _, p := range decodePodList(t, body).Items {
						st := corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
						for _, c := range p.Spec.Containers {
							st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Ready: true,
								ContainerID: "stand-in://" + string(p.UID) + "/" + c.Name, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}})
						}
						rt.Observe(p.UID, st)
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
}

func mustNew(t *testing.T, opts front.Options) *front.Runtime {
	t.Helper()
	rt, err := front.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// staticPod is a pod as the agent hands it to the runtime: named
// <manifest>-<node>, with the kubelet's config annotations.
func staticPod(name, node string, uid types.UID, image string) *corev1.Pod {
	p := conformance.BasicPod("kube-system", name+"-"+node, uid, image)
	p.Spec.NodeName = node
	p.Annotations = map[string]string{
		pod.AnnotationConfigHash: string(uid), pod.AnnotationConfigSource: pod.SourceFile,
		pod.AnnotationConfigSeen: "2026-12-03T10:00:00Z", "team": "infra",
	}
	p.Status.Phase = corev1.PodRunning
	return p
}

func TestServed(t *testing.T) {
	for _, tc := range []struct {
		name, node, want string
	}{
		{"etcd-node1", "node1", "etcd"},
		{"etcd-node1", "Node1", "etcd"},
		{"etcd", "node1", "etcd"},               // a naming plugin's name without the suffix is served whole
		{"-node1", "node1", "-node1"},           // never an empty name
		{"etcd-node10", "node1", "etcd-node10"}, // only the exact suffix
	} {
		p := staticPod("x", "node1", "u1", "busybox")
		p.Name = tc.name
		s := front.Served(p, tc.node)
		if s.Name != tc.want {
			t.Errorf("Served(%q, node %q).Name = %q, want %q", tc.name, tc.node, s.Name, tc.want)
		}
	}
	p := staticPod("etcd", "node1", "u1", "busybox")
	s := front.Served(p, "node1")
	if s.UID != "u1" {
		t.Errorf("UID = %q, want the agent's u1 (the kubelet keeps a served UID)", s.UID)
	}
	if len(s.Annotations) != 1 || s.Annotations["team"] != "infra" {
		t.Errorf("annotations = %v, want only the manifest's own (team)", s.Annotations)
	}
	if s.Spec.NodeName != "" || s.Status.Phase != "" {
		t.Errorf("nodeName %q, phase %q: want both empty, the kubelet sets them", s.Spec.NodeName, s.Status.Phase)
	}
	if p.Name != "etcd-node1" || p.Annotations[pod.AnnotationConfigHash] != "u1" {
		t.Error("Served changed its argument")
	}
}

func TestPodListJSONIsStableAndDecodes(t *testing.T) {
	a := front.Served(staticPod("a", "node1", "ua", "busybox"), "node1")
	b := front.Served(staticPod("b", "node1", "ub", "busybox"), "node1")
	one, err := front.PodListJSON([]*corev1.Pod{a, b})
	if err != nil {
		t.Fatal(err)
	}
	two, err := front.PodListJSON([]*corev1.Pod{b, a})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one, two) {
		t.Fatalf("the same set in another order gives other bytes:\n%s\n%s", one, two)
	}
	list := decodePodList(t, one)
	if len(list.Items) != 2 || list.Items[0].Name != "a" || list.Items[1].Name != "b" {
		t.Fatalf("decoded %+v, want pods a and b in order", list.Items)
	}
}

// decodePodList decodes a body as the kubelet's URL source does after its
// single-pod attempt: through the scheme's universal decoder, by kind.
func decodePodList(t *testing.T, body []byte) *corev1.PodList {
	t.Helper()
	obj, err := runtime.Decode(scheme.Codecs.UniversalDecoder(corev1.SchemeGroupVersion), body)
	if err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	list, ok := obj.(*corev1.PodList)
	if !ok {
		t.Fatalf("decoded a %T, want *v1.PodList", obj)
	}
	return list
}

func get(t *testing.T, h http.Handler, path string) (int, []byte) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Result().Body)
	return rec.Code, body
}

func TestNothingServedUntilSynced(t *testing.T) {
	rt := mustNew(t, front.Options{NodeName: "node1", StateFile: filepath.Join(t.TempDir(), "pods.json")})
	// An empty list now would make the kubelet stop what it runs for us.
	if code, _ := get(t, rt, front.PodsPath); code != http.StatusServiceUnavailable {
		t.Fatalf("before sync: %d, want 503", code)
	}
	rt.MarkSynced()
	code, body := get(t, rt, front.PodsPath)
	if code != http.StatusOK || len(decodePodList(t, body).Items) != 0 {
		t.Fatalf("after sync: %d %s, want 200 and an empty PodList", code, body)
	}
	if code, _ := get(t, rt, "/other"); code != http.StatusNotFound {
		t.Errorf("/other: %d, want 404", code)
	}
}

func TestRestartServesThePublishedSetAtOnce(t *testing.T) {
	ctx := context.Background()
	opts := front.Options{NodeName: "node1", StateFile: filepath.Join(t.TempDir(), "pods.json")}
	rt := mustNew(t, opts)
	rt.MarkSynced()
	if err := rt.StartPod(ctx, staticPod("etcd", "node1", "u-etcd", "busybox")); err != nil {
		t.Fatal(err)
	}
	_, before := get(t, rt, front.PodsPath)

	again := mustNew(t, opts) // not synced: the state file stands in
	code, after := get(t, again, front.PodsPath)
	if code != http.StatusOK || !bytes.Equal(before, after) {
		t.Fatalf("after a restart: %d %s, want 200 and the same bytes as before:\n%s", code, after, before)
	}
	pods, _ := again.ListPods(ctx)
	if len(pods) != 1 || pods[0].UID != "u-etcd" || pods[0].Key != "kube-system/etcd-node1" {
		t.Fatalf("ListPods after a restart = %+v, want the published pod under the agent's key", pods)
	}
}

func TestStartAndStopChangeTheBodyOnlyWhenTheSetChanges(t *testing.T) {
	ctx := context.Background()
	rt := mustNew(t, front.Options{NodeName: "node1"})
	rt.MarkSynced()
	p := staticPod("etcd", "node1", "u1", "busybox")
	if err := rt.StartPod(ctx, p); err != nil {
		t.Fatal(err)
	}
	_, first := get(t, rt, front.PodsPath)
	changed := p.DeepCopy()
	changed.Annotations[pod.AnnotationConfigSeen] = "2026-12-03T11:00:00Z"
	if err := rt.StartPod(ctx, changed); err != nil { // the same UID: a no-op
		t.Fatal(err)
	}
	if _, again := get(t, rt, front.PodsPath); !bytes.Equal(first, again) {
		t.Fatalf("starting a running UID again changed the served bytes:\n%s\n%s", first, again)
	}
	list := decodePodList(t, first)
	if len(list.Items) != 1 || list.Items[0].Name != "etcd" || list.Items[0].UID != "u1" {
		t.Fatalf("served %+v, want etcd with uid u1", list.Items)
	}
	if err := rt.StopPod(ctx, "u1", time.Second); err != nil {
		t.Fatal(err)
	}
	if _, after := get(t, rt, front.PodsPath); len(decodePodList(t, after).Items) != 0 {
		t.Fatalf("after stop: %s, want an empty list", after)
	}
}

func TestObservedStatus(t *testing.T) {
	ctx := context.Background()
	rt := mustNew(t, front.Options{NodeName: "node1"})
	p := staticPod("etcd", "node1", "u1", "busybox")
	if err := rt.StartPod(ctx, p); err != nil {
		t.Fatal(err)
	}
	st, ok := rt.PodStatus("u1")
	if !ok || st.Phase != corev1.PodPending || st.ContainerStatuses[0].State.Waiting == nil ||
		st.ContainerStatuses[0].State.Waiting.Reason != front.ReasonServedToKubelet {
		t.Fatalf("status before the kubelet reports = %+v, want Pending, waiting %s", st, front.ReasonServedToKubelet)
	}
	for len(rt.StatusChanged()) > 0 {
		<-rt.StatusChanged()
	}
	// The mirror pod the kubelet creates first has no container statuses: not a report yet.
	rt.Observe("u1", corev1.PodStatus{Phase: corev1.PodPending})
	if st, _ := rt.PodStatus("u1"); len(st.ContainerStatuses) != 1 || st.ContainerStatuses[0].State.Waiting == nil {
		t.Fatalf("status after a report without containers = %+v, want the waiting containers", st)
	}
	ready := corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		StartTime: &metav1.Time{Time: time.Unix(1, 0)}, ContainerStatuses: []corev1.ContainerStatus{{Name: "main", Ready: true}}}
	rt.Observe("u1", ready)
	rt.Observe("unknown", ready) // not published: remembered, not reported
	if st, _ := rt.PodStatus("u1"); !agent.PodReady(st) {
		t.Fatalf("status after the kubelet reported Ready = %+v", st)
	}
	if _, ok := rt.PodStatus("unknown"); ok {
		t.Fatal("an unpublished UID has a status")
	}
	select {
	case <-rt.StatusChanged():
	default:
		t.Fatal("no status signal after the pod turned Ready")
	}
	rt.Observe("u1", ready) // no change: no signal
	if len(rt.StatusChanged()) != 0 {
		t.Fatal("a signal for an unchanged status")
	}
}

func TestStartPodWaitsForTheKubeletsReportAtMostAwaitStatus(t *testing.T) {
	ctx := context.Background()
	rt := mustNew(t, front.Options{NodeName: "node1", AwaitStatus: 300 * time.Millisecond})
	begin := time.Now()
	if err := rt.StartPod(ctx, staticPod("lonely", "node1", "u-lonely", "busybox")); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < 300*time.Millisecond {
		t.Errorf("StartPod without a report returned after %s, want the 300ms AwaitStatus", took)
	}
	if pods, _ := rt.ListPods(ctx); len(pods) != 1 {
		t.Fatalf("a pod not reported in time must stay published: %+v", pods)
	}

	rt = mustNew(t, front.Options{NodeName: "node1", AwaitStatus: time.Minute})
	go func() {
		time.Sleep(50 * time.Millisecond)
		// Created but not yet: no report. Then with its container ID: the report StartPod waits for.
		rt.Observe("u-web", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "main",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}})
		time.Sleep(300 * time.Millisecond)
		rt.Observe("u-web", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "main", ContainerID: "containerd://c1"}}})
	}()
	begin = time.Now()
	if err := rt.StartPod(ctx, staticPod("web", "node1", "u-web", "busybox")); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took < 300*time.Millisecond || took > 10*time.Second {
		t.Errorf("StartPod returned %s after start, want right after the report of a created container (after 300ms)", took)
	}
}

func TestStatusObservedBeforePublishing(t *testing.T) {
	// A restarted staticlet's mirror watch may list a running pod before the agent publishes it again.
	rt := mustNew(t, front.Options{NodeName: "node1", AwaitStatus: time.Minute})
	rt.Observe("u1", corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
		ContainerStatuses: []corev1.ContainerStatus{{Name: "main", Ready: true, ContainerID: "containerd://c1"}}})
	begin := time.Now()
	if err := rt.StartPod(context.Background(), staticPod("etcd", "node1", "u1", "busybox")); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("StartPod of a pod already reported waited %s", took)
	}
	if st, _ := rt.PodStatus("u1"); !agent.PodReady(st) {
		t.Errorf("status %+v, want the one observed before publishing", st)
	}
	rt.Forget("u1") // published: kept
	if st, _ := rt.PodStatus("u1"); !agent.PodReady(st) {
		t.Errorf("Forget dropped a published pod's status: %+v", st)
	}
}
