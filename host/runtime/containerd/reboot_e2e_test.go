package containerd_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"golang.org/x/sys/unix"

	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/statusapi"
)

// countingManifest is a long-running pod that appends a line to
// <runs>/<name> each time its container starts.
func countingManifest(t *testing.T, name, image, runs string) []byte {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(manifest(name, image, "echo started >> /runs/"+name+"; "+longRunning, "Always", 1), &doc); err != nil {
		t.Fatal(err)
	}
	spec := doc["spec"].(map[string]any)
	spec["volumes"] = []any{map[string]any{"name": "runs", "hostPath": map[string]any{"path": runs, "type": "Directory"}}}
	spec["containers"].([]any)[0].(map[string]any)["volumeMounts"] = []any{map[string]any{"name": "runs", "mountPath": "/runs"}}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// simulateReboot leaves what a node restart leaves: every task of the pods
// in opts.StateDir killed and deleted, their namespace mounts gone;
// containerd's container records and the pod folders stay.
func simulateReboot(t *testing.T, opts containerd.Options) {
	t.Helper()
	c, err := client.New(opts.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(t.Context(), opts.Namespace)
	var ctrs []client.Container
	folders, _ := filepath.Glob(filepath.Join(opts.StateDir, "pods", "*"))
	for _, folder := range folders {
		of, err := c.Containers(ctx, fmt.Sprintf(`labels.%q==%q`, containerd.LabelPodUID, filepath.Base(folder)))
		if err != nil {
			t.Fatal(err)
		}
		ctrs = append(ctrs, of...)
	}
	for _, ctr := range ctrs {
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			continue
		}
		exited, err := task.Wait(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Kill(ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-exited
		if _, err := task.Delete(ctx); err != nil {
			t.Fatal(err)
		}
	}
	mounts, _ := filepath.Glob(filepath.Join(opts.StateDir, "pods", "*", "ns", "*"))
	for _, m := range mounts {
		if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			t.Fatalf("unmount %s: %v", m, err)
		}
	}
}

// TestAgentAfterRebootStartsOnlyListedPods: after a node restart (agent
// stopped, every task gone, records kept) with one manifest removed
// meanwhile and the URL source down, the next agent starts the listed pod
// again (same UID) and never starts the removed one: it stays dormant while
// a source has not listed completely, and is cleaned up once all have.
func TestAgentAfterRebootStartsOnlyListedPods(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	dir := t.TempDir()
	runs := t.TempDir()
	urls := source.NewMailbox()
	urls.Put(source.Listing{Source: source.NameHTTP, Complete: true})
	rig := startAgentWith(t, opts, dir, map[string]*source.Mailbox{source.NameHTTP: urls})
	t.Cleanup(func() {
		rig.stop()
		if rt, err := containerd.New(opts); err == nil {
			stopAll(t, rt)
		}
	})
	writeManifest(t, dir, "keep.yaml", countingManifest(t, "keep", e.image, runs))
	writeManifest(t, dir, "gone.yaml", countingManifest(t, "gone", e.image, runs))
	keep := waitPodRunning(t, rig, "keep-node1")
	gone := waitPodRunning(t, rig, "gone-node1")
	started := func(name string) int {
		data, _ := os.ReadFile(filepath.Join(runs, name))
		return strings.Count(string(data), "started\n")
	}
	waitStatus(t, 10*time.Second, rig.status, func(statusapi.Status) bool { return started("keep") == 1 && started("gone") == 1 })

	rig.stop()
	simulateReboot(t, opts)
	if err := os.Remove(filepath.Join(dir, "gone.yaml")); err != nil {
		t.Fatal(err)
	}
	// The URL source is down after the reboot: its listing is incomplete,
	// so the agent may not stop what no manifest lists yet.
	urls.Put(source.Listing{Source: source.NameHTTP, Complete: false, Note: "connection refused"})
	rig = startAgentWith(t, opts, dir, map[string]*source.Mailbox{source.NameHTTP: urls})

	st := waitStatus(t, 30*time.Second, rig.status, func(st statusapi.Status) bool {
		k, n := findPod(st, "keep-node1")
		_, g := findPod(st, "gone-node1")
		return n == 1 && podRunning(k) && g == 1
	})
	if p, _ := findPod(st, "keep-node1"); p.UID != keep.UID {
		t.Errorf("keep runs as %s, was %s", p.UID, keep.UID)
	}
	if p, _ := findPod(st, "gone-node1"); p.AgentState != "Dormant" || p.UID != gone.UID {
		t.Errorf("the removed pod while a source is down: %+v, want it held dormant", p)
	}
	if n := started("keep"); n != 2 {
		t.Errorf("keep started %d times, want 2 (before and after the reboot)", n)
	}

	// The URL source answers: every source listed, the removed pod goes.
	urls.Put(source.Listing{Source: source.NameHTTP, Complete: true})
	waitStatus(t, 30*time.Second, rig.status, func(st statusapi.Status) bool {
		_, g := findPod(st, "gone-node1")
		return g == 0
	})
	if n := started("gone"); n != 1 {
		t.Errorf("the removed pod's container started %d times, want 1: it ran again after the reboot", n)
	}
	if n := containersOf(t, opts, "gone-node1"); n != 0 {
		t.Errorf("%d containers left of the removed pod", n)
	}
	if _, err := os.Stat(filepath.Join(opts.StateDir, "pods", gone.UID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the removed pod's folder is still there: %v", err)
	}
	if p, _ := findPod(rig.status(), "keep-node1"); !podRunning(p) || started("keep") != 2 {
		t.Errorf("keep after the cleanup: %+v, started %d times", p, started("keep"))
	}
}
