package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/statusapi"
)

func serveStatus(t *testing.T, st statusapi.Status) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "status.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- statusapi.Serve(ctx, path, func(context.Context) (statusapi.Status, error) { return st, nil })
	}()
	t.Cleanup(func() { cancel(); <-done })
	for range 200 {
		if _, err := statusapi.Fetch(t.Context(), path); err == nil {
			return path
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("status server did not come up")
	return ""
}

func TestStatusCommand(t *testing.T) {
	code := int32(2)
	socket := serveStatus(t, statusapi.Status{
		Synced: true,
		Pods: []statusapi.Pod{{Name: "web-node1", Namespace: "default", UID: "u1", File: "/m/web.yaml", Phase: "Running", Restarts: 3, AgentState: "Active",
			Containers: []statusapi.Container{{Name: "app", State: "waiting", RestartCount: 3, ExitCode: &code, Reason: "CrashLoopBackOff"}}}},
		Files: []statusapi.File{{File: "/m/web.yaml", Verdict: "accepted", Reasons: []string{}}},
	})
	exit, out, errOut := runCLI(t, "status", "--status-socket", socket, "-o", "json")
	if exit != 0 {
		t.Fatalf("exit %d: %s", exit, errOut)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	pod := doc["pods"].([]any)[0].(map[string]any)
	for _, k := range []string{"name", "namespace", "uid", "file", "phase", "ready", "restarts", "containers"} {
		if _, ok := pod[k]; !ok {
			t.Errorf("pod JSON lacks %q", k)
		}
	}
	exit, out, _ = runCLI(t, "status", "--status-socket", socket)
	if exit != 0 || !strings.Contains(out, "default/web-node1") || !strings.Contains(out, "app=waiting(CrashLoopBackOff, exit 2)") || !strings.Contains(out, "accepted") {
		t.Errorf("table output (exit %d):\n%s", exit, out)
	}
	if exit, _, errOut := runCLI(t, "status", "--status-socket", filepath.Join(t.TempDir(), "none.sock")); exit != exitRejected || !strings.Contains(errOut, "is `staticlet run` running?") {
		t.Errorf("status without an agent: exit %d, %s", exit, errOut)
	}
	if exit, _, _ := runCLI(t, "status", "-o", "yaml", "--status-socket", socket); exit != exitUsage {
		t.Errorf("status -o yaml: exit %d, want %d", exit, exitUsage)
	}
}

// TestStatusTableColumns: each column is as wide as its widest cell, a
// pod's error line widens none, and READY is ready/total containers.
func TestStatusTableColumns(t *testing.T) {
	var b strings.Builder
	err := printStatusTable(&b, statusapi.Status{Synced: true, Pods: []statusapi.Pod{
		{Name: "web-node1", Namespace: "default", Phase: "Running", AgentState: "Active", File: "/m/web.yaml",
			Containers: []statusapi.Container{{Name: "a", State: "running", Ready: true}, {Name: "b", State: "running"}}},
		{Name: "x-node1", Namespace: "default", Phase: "Pending", AgentState: "StartFailed", File: "/m/x.yaml",
			LastError: "start pod default/x-node1: a very long error message that is much wider than any pod name in this table"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if want := "POD                PHASE                READY  RESTARTS  CONTAINERS           FILE"; lines[0] != want {
		t.Errorf("header\n%q, want\n%q\n%s", lines[0], want, b.String())
	}
	if want := "default/web-node1  Running              1/2    0         a=running,b=running  /m/web.yaml"; lines[1] != want {
		t.Errorf("row\n%q, want\n%q", lines[1], want)
	}
	if want := "default/x-node1    Pending/StartFailed  0/0    0                              /m/x.yaml"; lines[2] != want {
		t.Errorf("row\n%q, want\n%q", lines[2], want)
	}
	if !strings.HasPrefix(lines[3], "  last error: start pod default/x-node1") {
		t.Errorf("error line %q", lines[3])
	}
	for _, l := range lines {
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing spaces: %q", l)
		}
	}
}

func TestStatusTableKubeletAPI(t *testing.T) {
	for _, tt := range []struct {
		api  statusapi.KubeletAPI
		want string
	}{
		{statusapi.KubeletAPI{Address: "0.0.0.0:10250", CertificateSource: "bootstrap", Waiting: "no serving certificate yet: waiting for approval"},
			"kubelet API on 0.0.0.0:10250: no serving certificate (bootstrap): no serving certificate yet: waiting for approval\n"},
		{statusapi.KubeletAPI{Address: "0.0.0.0:10250", CertificateSource: "self-signed", CertificateNotAfter: "2027-12-03T17:00:00Z"},
			"kubelet API on 0.0.0.0:10250: certificate (self-signed) valid until 2027-12-03T17:00:00Z\n"},
	} {
		var b strings.Builder
		api := tt.api
		if err := printStatusTable(&b, statusapi.Status{Synced: true, KubeletAPI: &api}); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(b.String(), "\n"+tt.want) {
			t.Errorf("status table:\n%s\nwant it to end with\n%s", b.String(), tt.want)
		}
	}
}
