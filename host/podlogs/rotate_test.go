package podlogs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/staticlet/staticlet/internal/testenv"
)

// rotClock is a clock for rotated names: each call is one second later, so
// every rotation gets its own name unless a test says otherwise.
type rotClock struct {
	mu   sync.Mutex
	t    time.Time
	step time.Duration
}

func newRotClock(step time.Duration) *rotClock {
	return &rotClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.Local), step: step}
}

func (c *rotClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.t
	c.t = c.t.Add(c.step)
	return t
}

func openRotating(t *testing.T, rot Rotation, now func() time.Time) (string, *RotatingFile) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	f, err := OpenRotatingFile(path, rot, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return path, f
}

func write(t *testing.T, w io.Writer, s string) {
	t.Helper()
	if _, err := w.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
}

// logFiles lists the folder of path: the rotated files oldest first, then
// the current one.
func logFiles(t *testing.T, path string) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if e.Name() != filepath.Base(path) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if _, err := os.Stat(path); err == nil {
		names = append(names, filepath.Base(path))
	}
	return names
}

// content reads a log file through OpenLogFile, gunzipping a .gz one.
func content(t *testing.T, path string) string {
	t.Helper()
	r, err := OpenLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return string(data)
}

func TestRotatingFileRotatesBeforeTheLimit(t *testing.T) {
	t.Parallel()
	clock := newRotClock(time.Second)
	path, f := openRotating(t, Rotation{MaxBytes: 100, MaxFiles: 5}, clock.now)
	rec30 := strings.Repeat("a", 29) + "\n"
	for range 3 {
		write(t, f, rec30)
	}
	if names := logFiles(t, path); len(names) != 1 {
		t.Fatalf("90 bytes under a 100 limit rotated: %v", names)
	}
	write(t, f, strings.Repeat("b", 9)+"\n") // exactly 100: still fits
	write(t, f, "c\n")                       // 102 would exceed
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"0.log.20260304-050607", "0.log"}
	if names := logFiles(t, path); !equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	if got := content(t, path+".20260304-050607"); got != strings.Repeat(rec30, 3)+strings.Repeat("b", 9)+"\n" {
		t.Errorf("rotated file holds %q", got)
	}
	if got := content(t, path); got != "c\n" {
		t.Errorf("current file holds %q", got)
	}
}

func TestRotatingFileCompressesAndPrunes(t *testing.T) {
	t.Parallel()
	clock := newRotClock(time.Minute)
	path, f := openRotating(t, Rotation{MaxBytes: 10, MaxFiles: 3}, clock.now)
	for i := range 6 {
		write(t, f, fmt.Sprintf("record-%d\n", i)) // 9 bytes: one per file
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Rotated at the 2nd..6th writes (minutes 06..10); the newest rotated
	// file stays plain, as the kubelet leaves it.
	want := []string{"0.log.20260304-050907.gz", "0.log.20260304-051007", "0.log"}
	if names := logFiles(t, path); !equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	dir := filepath.Dir(path)
	for i, name := range want {
		if got, wantRec := content(t, filepath.Join(dir, name)), fmt.Sprintf("record-%d\n", 3+i); got != wantRec {
			t.Errorf("%s holds %q, want %q", name, got, wantRec)
		}
	}
}

func TestRotatingFileNamesWithinOneSecond(t *testing.T) {
	t.Parallel()
	clock := newRotClock(0) // the clock stands still
	path, f := openRotating(t, Rotation{MaxBytes: 4, MaxFiles: 10}, clock.now)
	for _, s := range []string{"one\n", "two\n", "six\n"} {
		write(t, f, s)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	// Two rotations in one second: the second takes the next second's name
	// rather than overwrite the first, and the order stays the names' order.
	want := []string{"0.log.20260304-050607.gz", "0.log.20260304-050608", "0.log"}
	if names := logFiles(t, path); !equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	if got := content(t, filepath.Join(filepath.Dir(path), want[0])); got != "one\n" {
		t.Errorf("oldest holds %q", got)
	}
}

func TestRotatingFileBigRecordGoesWhole(t *testing.T) {
	t.Parallel()
	path, f := openRotating(t, Rotation{MaxBytes: 50, MaxFiles: 5}, newRotClock(time.Second).now)
	big := strings.Repeat("x", 200) + "\n"
	write(t, f, big) // into the empty file: no rotation could make it fit
	write(t, f, "small\n")
	write(t, f, "tiny\n")
	write(t, f, big) // rotates first, then goes whole into the new file
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"0.log.20260304-050607.gz", "0.log.20260304-050608", "0.log"}
	if names := logFiles(t, path); !equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	dir := filepath.Dir(path)
	for i, wantText := range []string{big, "small\ntiny\n", big} {
		if got := content(t, filepath.Join(dir, want[i])); got != wantText {
			t.Errorf("%s holds %d bytes, want %d", want[i], len(got), len(wantText))
		}
	}
}

func TestRotatingFileOpenTidiesLeftovers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	for name, text := range map[string]string{
		"0.log":                              "current\n",
		"0.log.20260101-000001.gz":           "oldest",
		"0.log.20260101-000002.gz":           "old",
		"0.log.20260101-000003":              "compressed but not removed",
		"0.log.20260101-000003.gz":           "compressed",
		"0.log.20260101-000004.gz.tmp":       "interrupted compression",
		"0.log.20260101-000004":              "to compress\n",
		"0.log.20260101-000005":              "newest\n",
		"0.log.notmine":                      "left alone",
		"1.log.20260101-000001.gz":           "another run's",
		"0.log.20260101-000006.gz.tmp.other": "left alone",
	} {
		appendLog(t, filepath.Join(dir, name), text)
	}
	f, err := OpenRotatingFile(path, Rotation{MaxBytes: 100, MaxFiles: 4}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"0.log.20260101-000003.gz", "0.log.20260101-000004.gz", "0.log.20260101-000005",
		"0.log.20260101-000006.gz.tmp.other", "0.log.notmine", "1.log.20260101-000001.gz", "0.log"}
	if names := logFiles(t, path); !equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
	if got := content(t, filepath.Join(dir, "0.log.20260101-000004.gz")); got != "to compress\n" {
		t.Errorf("compressed %q", got)
	}
}

func TestRotatingFileRotatesAfterANewestExisting(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "0.log")
	appendLog(t, path, "123456789\n")
	// A file an earlier logger rotated "in the future" (a clock set back).
	appendLog(t, path+".20260304-050610", "earlier\n")
	f, err := OpenRotatingFile(path, Rotation{MaxBytes: 10, MaxFiles: 5}, newRotClock(time.Second).now)
	if err != nil {
		t.Fatal(err)
	}
	write(t, f, "x\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	want := []string{"0.log.20260304-050610.gz", "0.log.20260304-050611", "0.log"}
	if names := logFiles(t, path); !equal(names, want) {
		t.Fatalf("files %v, want %v", names, want)
	}
}

func TestRotatingFileWithoutRotation(t *testing.T) {
	t.Parallel()
	path, f := openRotating(t, Rotation{}, nil)
	for range 100 {
		write(t, f, "0123456789\n")
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("late\n")); !errors.Is(err, os.ErrClosed) {
		t.Errorf("write after close: %v", err)
	}
	if names := logFiles(t, path); len(names) != 1 {
		t.Fatalf("files %v", names)
	}
}

// TestRotatingFileConcurrentStreams writes two streams at once through a
// Writer (run with -race): every record lands whole in exactly one file,
// no file passes the limit, and each stream's records keep their order.
func TestRotatingFileConcurrentStreams(t *testing.T) {
	t.Parallel()
	const lines = 3000
	path, f := openRotating(t, Rotation{MaxBytes: 4096, MaxFiles: 1000}, newRotClock(time.Second).now)
	w := NewWriter(f, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for _, stream := range []string{Stdout, Stderr} {
		wg.Go(func() {
			var text strings.Builder
			for i := range lines {
				fmt.Fprintf(&text, "%s-%05d\n", stream, i)
			}
			errs <- w.CopyStream(stream, strings.NewReader(text.String()))
		})
	}
	wg.Wait()
	if err := errors.Join(<-errs, <-errs); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	names := logFiles(t, path)
	if len(names) < 20 {
		t.Fatalf("only %d files", len(names))
	}
	for _, name := range names {
		text := content(t, filepath.Join(filepath.Dir(path), name))
		if len(text) > 4096 {
			t.Errorf("%s: %d bytes", name, len(text))
		}
		for _, line := range strings.SplitAfter(text, "\n") {
			if line == "" {
				continue
			}
			r, err := ParseRecord([]byte(strings.TrimSuffix(line, "\n")))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if want := fmt.Sprintf("%s-%05d", r.Stream, next[r.Stream]); string(r.Content) != want {
				t.Fatalf("%s: %q, want %q", name, r.Content, want)
			}
			next[r.Stream]++
		}
	}
	if next[Stdout] != lines || next[Stderr] != lines {
		t.Errorf("read %v records, want %d each", next, lines)
	}
}

// rotatingWriter writes one record per line to a small rotating log, for
// the followers' tests.
func rotatingWriter(t *testing.T, path string) (*Writer, *RotatingFile) {
	t.Helper()
	f, err := OpenRotatingFile(path, Rotation{MaxBytes: 300, MaxFiles: 2}, newRotClock(time.Second).now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return NewWriter(f, fixedNow), f
}

func numbered(from, to int) string {
	var b strings.Builder
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "line %04d\n", i)
	}
	return b.String()
}

// writeInSteps writes lines 5 to 400 five at a time (235 bytes: at most one
// rotation each, often mid-way) and waits for the follower to print them
// before the next step. A follower that falls a whole file behind loses it,
// as the kubelet's does, since it follows the log's path.
func writeInSteps(t *testing.T, w *Writer, out *testenv.SyncBuffer) {
	t.Helper()
	for i := 5; i < 400; i += 5 {
		if err := w.CopyStream(Stdout, strings.NewReader(numbered(i, i+5))); err != nil {
			t.Fatal(err)
		}
		waitFor(t, out, numbered(0, i+5))
	}
}

// TestReadLogFollowsAcrossRotations follows a log while it is rotated many
// times (with 2 files kept, each rotated file is deleted at the next
// rotation): the follower prints every line once, in order.
func TestReadLogFollowsAcrossRotations(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "0.log")
	w, f := rotatingWriter(t, path)
	if err := w.CopyStream(Stdout, strings.NewReader(numbered(0, 5))); err != nil {
		t.Fatal(err)
	}
	fl := startFollow(t, path, LogOptions{})
	waitFor(t, &fl.out, numbered(0, 5))
	writeInSteps(t, w, &fl.out)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	fl.writing.Store(false)
	fl.finished(t)
	if got := fl.out.String(); got != numbered(0, 400) {
		t.Errorf("followed %d bytes, want %d", len(got), len(numbered(0, 400)))
	}
}

// TestFollowAcrossRotations is `staticlet logs -f` through rotations.
func TestFollowAcrossRotations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w, _ := rotatingWriter(t, filepath.Join(dir, "0.log"))
	if err := w.CopyStream(Stdout, strings.NewReader(numbered(0, 5))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	out := &testenv.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, out, dir, 2*time.Millisecond) }()
	waitFor(t, out, numbered(0, 5))
	writeInSteps(t, w, out)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestShimLoggerArg(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		path string
		rot  Rotation
		arg  string
	}{
		{"/var/log/pods/ns_a_u/c/0.log", Rotation{}, "/var/log/pods/ns_a_u/c/0.log"},
		{"/var/log/pods/ns_a_u/c/3.log", Rotation{MaxBytes: 10 << 20, MaxFiles: 5}, "/var/log/pods/ns_a_u/c/3.log?max-size=10485760&max-files=5"},
		{"/odd?dir/ns_a_u/c/0.log", Rotation{}, "/odd?dir/ns_a_u/c/0.log"},
		{"/odd?dir/ns_a_u/c/0.log", Rotation{MaxBytes: 1, MaxFiles: 2}, "/odd?dir/ns_a_u/c/0.log?max-size=1&max-files=2"},
	} {
		arg := ShimLoggerArg(tc.path, tc.rot)
		if arg != tc.arg {
			t.Errorf("ShimLoggerArg(%q, %+v) = %q, want %q", tc.path, tc.rot, arg, tc.arg)
		}
		path, rot, err := ParseShimLoggerArg(arg)
		if err != nil || path != tc.path || rot != tc.rot {
			t.Errorf("ParseShimLoggerArg(%q) = %q %+v %v", arg, path, rot, err)
		}
	}
	for _, bad := range []string{
		"/p/0.log?max-size=10&max-files=1",
		"/p/0.log?max-size=-1&max-files=5",
		"/p/0.log?max-size=ten&max-files=5",
		"/p/0.log?max-size=10&max-files=5&colour=red",
		"/p/0.log?max-size=10",
	} {
		if _, _, err := ParseShimLoggerArg(bad); !errors.Is(err, ErrBadRotation) {
			t.Errorf("ParseShimLoggerArg(%q) = %v, want ErrBadRotation", bad, err)
		}
	}
}

func equal(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }
