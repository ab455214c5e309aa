package kubelete2e_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/staticlet/staticlet/internal/testenv"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
)

func TestMain(m *testing.M) { kubeapi.Main(m) }

// converge bounds every wait for the kubelet to act (its pod workers, status manager and mirror client).
const converge = 60 * time.Second

// freePort is a TCP port on 127.0.0.1 that nothing listens on now.
func freePort(t testing.TB) int { return testenv.FreePort(t) }

// staticletBinary returns the staticlet binary, built once per test binary.
func staticletBinary(t testing.TB) string { return testenv.StaticletBinary(t) }

// startFront runs `staticlet run` in mode kubeletFront on folder, serving on address, with the plugins'
// YAML (a plugins: list, or "") and the node's identity to read the kubelet's mirror pods.
func startFront(t testing.TB, c *kubeapi.Cluster, folder, address, plugins string) {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
nodeName: %s
mode: kubeletFront
front: {address: %q}
podManifestPath: %s
kubeconfig: %s
stateDir: %s
statusSocket: %s
metricsAddress: "off"
%s`, c.NodeName, address, folder, c.NodeKubeconfig, filepath.Join(dir, "state"), filepath.Join(dir, "status.sock"), plugins)
	path := filepath.Join(dir, "staticlet.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.RunStaticlet(t, path)
}

// writeFile writes elsewhere and renames into place, as tools should.
func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// manifest is a hostNetwork pod (no CNI here) whose container runs until SIGTERM, with env marking its
// version and privileged when asked (for the deny-privileged plugin).
func manifest(name, version string, privileged bool) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: staticlet.test/busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
    env: [{name: VERSION, value: %q}]
    securityContext: {privileged: %v}
`, name, version, privileged)
}

// slowReadyManifest is a hostNetwork pod that turns Ready (readiness probe, every second) only after
// readyAfter seconds, with the start-after annotation when after is not "".
func slowReadyManifest(name, after string, readyAfter int) string {
	annotations := ""
	if after != "" {
		annotations = fmt.Sprintf("  annotations: {staticlet.dev/start-after: %q}\n", after)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
%sspec:
  hostNetwork: true
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: staticlet.test/busybox:latest
    imagePullPolicy: Never
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep %d; touch /tmp/ready; while :; do sleep 0.2; done"]
    readinessProbe:
      exec: {command: ["test", "-f", "/tmp/ready"]}
      periodSeconds: 1
`, name, annotations, readyAfter)
}

// first is the first watch event for pod name, if any.
func (r *recorder) first(name string) (podEvent, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range r.events {
		if e.name == name {
			return e, true
		}
	}
	return podEvent{}, false
}

// clearNode deletes the pods an earlier test of this binary left bound to the node (the API server is
// shared per test binary, the node name too) and waits until none is left: this test's kubelet would
// otherwise delete their mirror pods as orphans, and the recorder would count those deletions as this
// test's.
func clearNode(t testing.TB, admin kubernetes.Interface, selector string) {
	t.Helper()
	zero := int64(0)
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := admin.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{FieldSelector: selector})
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pods left on the node by an earlier test would not go", len(list.Items))
		}
		for _, p := range list.Items {
			_ = admin.CoreV1().Pods(p.Namespace).Delete(context.Background(), p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// podEvent is one watch event on a pod bound to the node.
type podEvent struct {
	at       time.Time
	kind     watch.EventType
	name     string
	uid      string
	hash     string
	deleting bool
	running  bool
}

// recorder watches every pod bound to the node, as admin, from now until the test ends.
type recorder struct {
	mu     sync.Mutex
	events []podEvent
	signal chan struct{}
}

func record(t testing.TB, admin kubernetes.Interface, node string) *recorder {
	t.Helper()
	r := &recorder{signal: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	sel := fields.OneTermEqualSelector("spec.nodeName", node).String()
	clearNode(t, admin, sel)
	list, err := admin.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	rv := list.ResourceVersion
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			w, err := admin.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: rv, AllowWatchBookmarks: true})
			if err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				rv = p.ResourceVersion
				if ev.Type == watch.Bookmark {
					continue
				}
				r.mu.Lock()
				r.events = append(r.events, podEvent{at: time.Now(), kind: ev.Type, name: p.Name, uid: string(p.UID),
					hash: p.Annotations["kubernetes.io/config.mirror"], deleting: p.DeletionTimestamp != nil, running: runningReady(p)})
				r.mu.Unlock()
				select {
				case r.signal <- struct{}{}:
				default:
				}
			}
			w.Stop()
		}
	}()
	return r
}

// deletions counts the mirror pods deleted (or marked for deletion) from since on.
func (r *recorder) deletions(since time.Time) []podEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []podEvent
	seen := map[string]bool{}
	for _, e := range r.events {
		if e.at.Before(since) || seen[e.uid] {
			continue
		}
		if e.kind == watch.Deleted || e.deleting {
			seen[e.uid] = true
			out = append(out, e)
		}
	}
	return out
}

// waitRunning waits until a live pod name, other than one with a config.mirror hash in not, is running
// and ready, and returns the watch event that said so (its time is when the test saw it).
func (r *recorder) waitRunning(t testing.TB, name string, not ...string) podEvent {
	t.Helper()
	deadline := time.After(converge)
	for {
		r.mu.Lock()
		var found *podEvent
		for i := range r.events {
			e := r.events[i]
			if e.name == name && e.running && !e.deleting && e.kind != watch.Deleted && !contains(not, e.hash) {
				found = &e
				break
			}
		}
		r.mu.Unlock()
		if found != nil {
			return *found
		}
		select {
		case <-r.signal:
		case <-deadline:
			t.Fatalf("pod %s: not running and ready within %s (other than hashes %v)", name, converge, not)
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func runningReady(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// mirrors lists the live mirror pods on the node.
func mirrors(t testing.TB, admin kubernetes.Interface, node string) []corev1.Pod {
	t.Helper()
	list, err := admin.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", node).String()})
	if err != nil {
		t.Fatal(err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if _, ok := p.Annotations["kubernetes.io/config.mirror"]; ok && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

// waitGone waits until no pod name is bound to the node.
func waitGone(t testing.TB, admin kubernetes.Interface, node, name string) {
	t.Helper()
	deadline := time.Now().Add(converge)
	for {
		found := false
		for _, p := range mirrors(t, admin, node) {
			found = found || p.Name == name
		}
		if !found {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mirror pod %s still there after %s", name, converge)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// assertMirrors checks that the live mirror pods on the node are exactly want's names, each once, with
// the UID want gives (when not "").
func assertMirrors(t testing.TB, rec *recorder, admin kubernetes.Interface, node string, want map[string]string) {
	t.Helper()
	got := map[string][]string{}
	for _, p := range mirrors(t, admin, node) {
		got[p.Name] = append(got[p.Name], string(p.UID))
	}
	for name, uid := range want {
		if len(got[name]) != 1 || (uid != "" && got[name][0] != uid) {
			t.Errorf("mirror pod %s: uids %v, want exactly one (%q)", name, got[name], uid)
		}
	}
	for name, uids := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected mirror pod %s (uids %v)", name, uids)
		}
	}
}

// assertRunningVersion checks that the mirror pod name mirrors the static pod hash and is running.
func assertRunningVersion(t testing.TB, admin kubernetes.Interface, node, name, hash string) {
	t.Helper()
	for _, p := range mirrors(t, admin, node) {
		if p.Name == name {
			if p.Annotations["kubernetes.io/config.mirror"] != hash || !runningReady(&p) {
				t.Errorf("mirror pod %s: hash %s running %v, want the running version %s", name, p.Annotations["kubernetes.io/config.mirror"], runningReady(&p), hash)
			}
			return
		}
	}
	t.Errorf("mirror pod %s is gone, want the running version %s", name, hash)
}
