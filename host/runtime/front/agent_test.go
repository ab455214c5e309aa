package front_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/runtime/front"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
)

// kubeletRead reads url as the kubelet's URL source does (pkg/kubelet/config/http.go, v1.37.2): a GET
// with a 10 s timeout, at most 10 MB, 200 required, then decoded by kind, names suffixed with the node.
func kubeletRead(t *testing.T, url, node string) ([]byte, map[string]corev1.Pod) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 10<<20))
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, nil
	}
	pods := map[string]corev1.Pod{}
	for _, p := range decodePodList(t, body).Items {
		if p.Name == "" {
			t.Fatalf("a served pod has no name: %s", body)
		}
		pods[p.Name+"-"+node] = p
	}
	return body, pods
}

// TestAgentThroughTheFront: the real folder watcher, admission and agent loop with the front runtime,
// read over HTTP as the kubelet reads it. A manifest is served under its own name with the agent's UID;
// a broken edit keeps the served bytes; a valid edit serves the new version only; removing the file
// withdraws it. A restarted agent serves the same bytes at once.
func TestAgentThroughTheFront(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(t.TempDir(), "front", "pods.json")
	url, stop := runAgent(t, dir, state)

	if code := getCode(t, url); code != http.StatusOK {
		t.Fatalf("after sync with an empty folder: %d, want 200 (an empty list is then the truth)", code)
	}
	write(t, dir, "web.yaml", webManifest("v1"))
	v1 := waitServed(t, url, func(pods map[string]corev1.Pod) bool { _, ok := pods["web-node1"]; return ok })["web-node1"]
	if v1.UID == "" || v1.Annotations["kubernetes.io/config.hash"] != "" {
		t.Fatalf("served %+v: want the agent's UID and no config annotations", v1.ObjectMeta)
	}
	before, _ := kubeletRead(t, url, "node1")

	write(t, dir, "web.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: web\n")
	time.Sleep(500 * time.Millisecond) // debounce, admission, the agent's loop: many times over
	if after, _ := kubeletRead(t, url, "node1"); !bytes.Equal(before, after) {
		t.Fatalf("a broken edit changed what is served:\n%s\n%s", before, after)
	}

	write(t, dir, "web.yaml", webManifest("v2"))
	v2 := waitServed(t, url, func(pods map[string]corev1.Pod) bool {
		p, ok := pods["web-node1"]
		return ok && p.UID != v1.UID && len(pods) == 1
	})["web-node1"]
	if v2.Spec.Containers[0].Env[0].Value != "v2" {
		t.Fatalf("served %+v, want version v2", v2.Spec.Containers[0].Env)
	}

	// A restart: the published set is served before the agent has read anything.
	stop()
	rt, err := front.New(front.Options{NodeName: "node1", StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptestServe(t, rt)
	if _, pods := kubeletRead(t, rec, "node1"); pods["web-node1"].UID != v2.UID {
		t.Fatalf("a restarted front serves %v, want web-node1 with %s at once", pods, v2.UID)
	}

	url, _ = runAgent(t, dir, state)
	if err := os.Remove(filepath.Join(dir, "web.yaml")); err != nil {
		t.Fatal(err)
	}
	waitServed(t, url, func(pods map[string]corev1.Pod) bool { return len(pods) == 0 })
}

func webManifest(version string) string {
	return fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  containers:\n  - name: main\n    image: busybox\n    env: [{name: VERSION, value: %q}]\n", version)
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	tmp := filepath.Join(dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// runAgent runs the folder watcher and the agent with the front runtime on state, serving on a free
// port; it returns the pod list's URL once the agent has synced, and a function that stops it all.
func runAgent(t *testing.T, dir, state string) (string, func()) {
	t.Helper()
	rt, err := front.New(front.Options{NodeName: "node1", StateFile: state})
	if err != nil {
		t.Fatal(err)
	}
	files := source.NewMailbox()
	a := agent.New(agent.Config{
		Runtime:  rt,
		Pipeline: admission.New(admission.Options{NodeName: "node1"}),
		Builder:  desired.NewBuilder(100 * time.Millisecond),
		Sources:  map[string]*source.Mailbox{source.NameFile: files},
		Logger:   hclog.NewNullLogger(),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	watcher := &file.Watcher{Root: dir, Resync: time.Hour, Debounce: 10 * time.Millisecond}
	go func() { _ = watcher.Run(ctx, files); done <- struct{}{} }()
	go func() { _ = a.Run(ctx); done <- struct{}{} }()
	go func() { _ = rt.ServeListener(ctx, ln); done <- struct{}{} }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			<-done
			<-done
			<-done
		}
	}
	t.Cleanup(stop)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if st, err := a.Status(ctx); err == nil && st.Synced {
			rt.MarkSynced()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the agent did not sync within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "http://" + ln.Addr().String() + front.PodsPath, stop
}

func httptestServe(t *testing.T, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String() + front.PodsPath
}

func getCode(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitServed(t *testing.T, url string, cond func(map[string]corev1.Pod) bool) map[string]corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, pods := kubeletRead(t, url, "node1"); pods != nil && cond(pods) {
			return pods
		}
		if time.Now().After(deadline) {
			_, pods := kubeletRead(t, url, "node1")
			t.Fatalf("served list never matched within 10s; last: %v", pods)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
