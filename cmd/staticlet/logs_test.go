package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/podlogs"
)

func writeLog(t *testing.T, root, ns, name, uid, container string, run int32, text string) {
	t.Helper()
	path := podlogs.ContainerLogPath(root, ns, name, uid, container, run)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := podlogs.NewWriter(f, func() time.Time { return time.Unix(0, 0) }).CopyStream(podlogs.Stdout, strings.NewReader(text)); err != nil {
		t.Fatal(err)
	}
}

func TestLogsCommand(t *testing.T) {
	root := t.TempDir()
	writeLog(t, root, "default", "web-worker-1", "u1", "app", 0, "first run\n")
	writeLog(t, root, "default", "web-worker-1", "u1", "app", 1, "second run\n")
	writeLog(t, root, "default", "two-worker-1", "u2", "a", 0, "a\n")
	writeLog(t, root, "default", "two-worker-1", "u2", "b", 0, "b\n")
	for _, pod := range []string{"web-worker-1", "web", "default/web"} {
		code, out, errOut := runCLI(t, "logs", "--pod-log-dir", root, pod)
		if code != 0 || out != "second run\n" {
			t.Errorf("logs %s: exit %d out %q err %s", pod, code, out, errOut)
		}
	}
	if code, _, errOut := runCLI(t, "logs", "--pod-log-dir", root, "two"); code != exitRejected || !strings.Contains(errOut, "choose one with -c") {
		t.Errorf("logs of a two-container pod without -c: exit %d %s", code, errOut)
	}
	if code, out, _ := runCLI(t, "logs", "--pod-log-dir", root, "two", "-c", "b"); code != 0 || out != "b\n" {
		t.Errorf("logs -c b: exit %d %q", code, out)
	}
	if code, _, errOut := runCLI(t, "logs", "--pod-log-dir", root, "nope"); code != exitRejected || !strings.Contains(errOut, "no pod of that name") {
		t.Errorf("logs of an unknown pod: exit %d %s", code, errOut)
	}
}
