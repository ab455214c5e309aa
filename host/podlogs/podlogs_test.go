package podlogs

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/internal/testenv"
)

func fixedNow() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC) }

func TestWriterRecords(t *testing.T) {
	var out bytes.Buffer
	w := NewWriter(&out, fixedNow)
	long := strings.Repeat("x", MaxLineBytes+10)
	if err := w.CopyStream(Stdout, strings.NewReader("hello\n\nworld\n"+long+"\ntail")); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		"2026-01-02T03:04:05.123456789Z stdout F hello",
		"2026-01-02T03:04:05.123456789Z stdout F ",
		"2026-01-02T03:04:05.123456789Z stdout F world",
		"2026-01-02T03:04:05.123456789Z stdout P " + long[:MaxLineBytes],
		"2026-01-02T03:04:05.123456789Z stdout F " + long[MaxLineBytes:],
		"2026-01-02T03:04:05.123456789Z stdout F tail",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d records, want %d:\n%s", len(lines), len(want), out.String()[:200])
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("record %d = %.80q, want %.80q", i, lines[i], want[i])
		}
	}
	var text bytes.Buffer
	if _, err := Copy(&text, &out); err != nil {
		t.Fatal(err)
	}
	if want := "hello\n\nworld\n" + long + "\ntail\n"; text.String() != want {
		t.Errorf("Copy gave %d bytes, want %d", text.Len(), len(want))
	}
}

func TestParseRecordErrors(t *testing.T) {
	for _, line := range []string{"", "nonsense", "2026-01-02T03:04:05Z stdin F x", "2026-01-02T03:04:05Z stdout X x", "yesterday stdout F x"} {
		if _, err := ParseRecord([]byte(line)); !errors.Is(err, ErrBadRecord) {
			t.Errorf("ParseRecord(%q) = %v, want ErrBadRecord", line, err)
		}
	}
	r, err := ParseRecord([]byte("2026-01-02T03:04:05Z stderr P a b"))
	if err != nil || r.Stream != Stderr || !r.Partial || string(r.Content) != "a b" {
		t.Errorf("ParseRecord = %+v, %v", r, err)
	}
}

func TestLayoutAndLatest(t *testing.T) {
	root := t.TempDir()
	p0 := ContainerLogPath(root, "default", "web-node1", "u1", "main", 0)
	p2 := ContainerLogPath(root, "default", "web-node1", "u1", "main", 2)
	if want := filepath.Join(root, "default_web-node1_u1", "main", "0.log"); p0 != want {
		t.Fatalf("path %s, want %s", p0, want)
	}
	for _, p := range []string{p0, p2} {
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, nil, 0o644)
	}
	pods, err := ListPods(root)
	if err != nil || len(pods) != 1 || pods[0].Name != "web-node1" || pods[0].UID != "u1" || pods[0].Namespace != "default" {
		t.Fatalf("ListPods = %+v, %v", pods, err)
	}
	path, run, err := LatestLog(filepath.Dir(p0))
	if err != nil || path != p2 || run != 2 {
		t.Fatalf("LatestLog = %s %d %v, want %s 2", path, run, err, p2)
	}
	if _, _, err := LatestLog(filepath.Join(root, "nope")); !errors.Is(err, ErrNoLogs) {
		t.Fatalf("LatestLog(missing) = %v, want ErrNoLogs", err)
	}
}

// TestFollowAcrossRestart appends to a log, then starts a new run's file:
// Follow prints both in order.
func TestFollowAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		NewWriter(f, fixedNow).CopyStream(Stdout, strings.NewReader(text))
		f.Close()
	}
	write("0.log", "one\n")
	ctx, cancel := context.WithCancel(t.Context())
	out := &testenv.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, out, dir, 5*time.Millisecond) }()
	waitFor(t, out, "one\n")
	write("0.log", "two\n")
	waitFor(t, out, "one\ntwo\n")
	write("1.log", "three\n")
	waitFor(t, out, "one\ntwo\nthree\n")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, b *testenv.SyncBuffer, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if b.String() == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	got := b.String()
	t.Fatalf("followed output never became the %d bytes ending %q; it is %d bytes ending %q", len(want), tail(want), len(got), tail(got))
}

func tail(s string) string { return s[max(0, len(s)-120):] }
