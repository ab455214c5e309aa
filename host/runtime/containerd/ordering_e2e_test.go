package containerd_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/statusapi"
)

// TestAgentStartAfter runs the start-after annotation end to end on
// containerd: pod b names pod a, whose exec readiness probe passes only once
// a file exists in a hostPath folder the test controls. b waits, with no
// container created, while a runs unready; it starts once a is Ready, woken
// by the runtime's status signal.
func TestAgentStartAfter(t *testing.T) {
	e, rig := e2eSetup(t)
	shared := t.TempDir()
	a := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: a
spec:
  terminationGracePeriodSeconds: 1
  volumes:
  - name: shared
    hostPath: {path: %q, type: Directory}
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    command: [sh, -c, %q]
    volumeMounts:
    - {name: shared, mountPath: /shared}
    readinessProbe:
      exec: {command: [test, -f, /shared/ready]}
      periodSeconds: 1
`, shared, e.image, longRunning)
	b := fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: b
  annotations:
    staticlet.dev/start-after: a
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    command: [sh, -c, %q]
`, e.image, longRunning)
	writeManifest(t, rig.dir, "b.yaml", []byte(b))
	writeManifest(t, rig.dir, "a.yaml", []byte(a))

	waitPodRunning(t, rig, "a-node1")
	// a runs, unready, for a few probe periods: b waits and has nothing in
	// containerd.
	time.Sleep(2500 * time.Millisecond)
	st := rig.status()
	pa, _ := findPod(st, "a-node1")
	pb, n := findPod(st, "b-node1")
	if pa.Ready || n != 1 || pb.AgentState != agent.PhaseWaiting || pb.Phase != "Pending" || pb.Reason != "WaitingForDependencies" ||
		len(pb.WaitingFor) != 1 || pb.WaitingFor[0] != "default/a-node1" || len(pb.Containers) != 1 || pb.Containers[0].Reason != "WaitingForDependencies" {
		t.Fatalf("before a is Ready: a %+v; b %+v", pa, pb)
	}
	if got := containersOf(t, rig.opts, "b-node1"); got != 0 {
		t.Fatalf("%d containers for b while it waits, want 0", got)
	}

	madeReady := time.Now()
	if err := os.WriteFile(filepath.Join(shared, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, 30*time.Second, rig.status, func(st statusapi.Status) bool {
		pa, _ := findPod(st, "a-node1")
		pb, _ := findPod(st, "b-node1")
		return pa.Ready && podRunning(pb)
	})

	// b was dispatched after a turned Ready, not before the file existed.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	full, err := rig.a.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range full.Pods {
		if p.Key == "default/b-node1" {
			if p.Since.Before(madeReady) {
				t.Fatalf("b started at %s, before a could be Ready (%s)", p.Since, madeReady)
			}
			// The readiness probe runs every second; the rest is the
			// runtime's signal and one reconcile.
			t.Logf("b started %s after the ready file was written", p.Since.Sub(madeReady))
		}
	}
}
