package containerd_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/podlogs"
	"github.com/staticlet/staticlet/internal/testenv"
)

// TestLogRotation runs a container that writes 3 MiB of numbered lines under
// containerLogMaxSize 1Mi and containerLogMaxFiles 3: its logger rotates as
// the kubelet does, leaving the current file, the newest rotated one plain
// and the older one gzipped, with every line whole and the numbering
// continuous from file to file.
func TestLogRotation(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	opts.ContainerLogMaxSize, opts.ContainerLogMaxFiles = 1<<20, 3
	rt := newRuntime(t, opts)
	const lines = 30000 // 104 bytes each: 3 MiB, about 4.3 MiB of records
	p := pod("rotate-node1", "uid-rotate", corev1.RestartPolicyNever,
		corev1.Container{Name: "chatty", Image: e.image, Command: []string{"awk",
			fmt.Sprintf(`BEGIN { for (i = 1; i <= %d; i++) printf "line %%06d %s\n", i }`, lines, strings.Repeat("x", 92))}})
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if cs := waitContainer(t, rt, p.UID, "chatty", 30*time.Second, terminated); cs.State.Terminated.ExitCode != 0 {
		t.Fatalf("exit code %d", cs.State.Terminated.ExitCode)
	}
	current := podlogs.ContainerLogPath(opts.PodLogDir, p.Namespace, p.Name, string(p.UID), "chatty", 0)
	lastLine := fmt.Sprintf("line %06d ", lines)
	var names []string
	// The logger finishes writing and tidying after the container's exit.
	testenv.Eventually(t, 20*time.Second, func() error {
		names = logNames(t, filepath.Dir(current))
		if len(names) != 3 || !strings.HasSuffix(names[0], ".gz") || strings.HasSuffix(names[1], ".gz") {
			return fmt.Errorf("log files %v, want 0.log, one rotated plain and one .gz", names)
		}
		if text := readLog(t, opts, p, "chatty", 0); !strings.Contains(text, lastLine) {
			return fmt.Errorf("the current file lacks %q", lastLine)
		}
		return nil
	})
	want := podlogs.RotatedTimeFormat
	for _, name := range names[:2] {
		stamp := strings.TrimSuffix(strings.TrimPrefix(name, "0.log."), ".gz")
		if _, err := time.ParseInLocation(want, stamp, time.Local); err != nil {
			t.Errorf("%s: not <file>.<%s>[.gz]: %v", name, want, err)
		}
	}
	// Oldest to newest, each file's lines follow the previous file's.
	next := 0
	for _, name := range []string{names[0], names[1], "0.log"} {
		path := filepath.Join(filepath.Dir(current), name)
		if info, err := os.Stat(path); err != nil || info.Size() > 1<<20 {
			t.Errorf("%s: %v, or over the 1Mi limit", name, err)
		}
		r, err := podlogs.OpenLogFile(path)
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var out strings.Builder
		if _, err := podlogs.Copy(&out, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
			var n int
			if _, err := fmt.Sscanf(line, "line %d ", &n); err != nil || len(line) != 104 {
				t.Fatalf("%s line %d: %q is not a whole line", name, i+1, line)
			}
			if next != 0 && n != next+1 {
				t.Fatalf("%s line %d: line %d follows line %d", name, i+1, n, next)
			}
			next = n
		}
	}
	if next != lines {
		t.Errorf("the current file ends with line %d, want %d", next, lines)
	}
}

// logNames lists a container's log folder, rotated files first (oldest
// first), the current file last.
func logNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Slice(names, func(i, j int) bool {
		if (names[i] == "0.log") != (names[j] == "0.log") {
			return names[j] == "0.log"
		}
		return names[i] < names[j]
	})
	return names
}
