package statusapi

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
)

func sampleAgentStatus() agent.Status {
	return agent.Status{
		Synced: true,
		Files: []desired.FileStatus{
			{File: "/m/web.yaml", Verdict: admission.Accepted},
			{File: "/m/bad.yaml", Verdict: admission.Rejected, Reasons: []admission.Reason{{Field: "spec", Message: "broken"}}},
		},
		Pods: []agent.PodStatus{{
			Key: "default/web-node1", UID: "u1", File: "/m/web.yaml", Phase: "Active",
			Runtime: &corev1.PodStatus{
				Phase:      corev1.PodRunning,
				Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "app", RestartCount: 3, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
						LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 2, Reason: "Error"}}},
					{Name: "side", RestartCount: 1, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}},
				},
			},
		}},
	}
}

// TestShape pins the JSON keys scripts rely on.
func TestShape(t *testing.T) {
	data, err := json.Marshal(FromAgent(sampleAgentStatus()))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Pods []struct {
			Name, Namespace, UID, File, Phase string
			Ready                             bool
			Restarts                          int
			Containers                        []map[string]any
		}
		Files []struct {
			File, Verdict string
			Reasons       []string
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	p := doc.Pods[0]
	if p.Name != "web-node1" || p.Namespace != "default" || p.UID != "u1" || p.File != "/m/web.yaml" || p.Phase != "Running" || p.Ready || p.Restarts != 4 {
		t.Errorf("pod = %+v", p)
	}
	app := p.Containers[0]
	for _, k := range []string{"name", "state", "ready", "restartCount", "exitCode", "reason"} {
		if _, ok := app[k]; !ok {
			t.Errorf("container JSON lacks %q: %s", k, data)
		}
	}
	if app["state"] != "waiting" || app["reason"] != "CrashLoopBackOff" || app["exitCode"] != 2.0 || app["ready"] != false {
		t.Errorf("crash-looping container = %v", app)
	}
	if side := p.Containers[1]; side["ready"] != true {
		t.Errorf("ready container = %v", side)
	}
	if ready, total := FromAgent(sampleAgentStatus()).Pods[0].ReadyContainers(); ready != 1 || total != 2 {
		t.Errorf("ReadyContainers = %d/%d, want 1/2", ready, total)
	}
	if len(doc.Files) != 2 || doc.Files[0].File != "/m/bad.yaml" || doc.Files[0].Verdict != "rejected" || len(doc.Files[0].Reasons) != 1 {
		t.Errorf("files = %+v", doc.Files)
	}
}

func TestServeAndFetch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "status.sock")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, path, func(context.Context) (Status, error) { return FromAgent(sampleAgentStatus()), nil })
	}()
	var st Status
	var err error
	for range 100 {
		if st, err = Fetch(t.Context(), path); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Pods) != 1 || st.Pods[0].Containers[1].State != "running" {
		t.Errorf("fetched %+v", st)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, %v; want 0600", info.Mode().Perm(), err)
	}
	if dir, _ := os.Stat(filepath.Dir(path)); dir.Mode().Perm() != 0o700 {
		t.Errorf("socket folder mode %v, want 0700", dir.Mode().Perm())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket left after shutdown: %v", err)
	}
	if _, err := Fetch(t.Context(), path); err == nil {
		t.Error("Fetch with no agent succeeded")
	}
}
