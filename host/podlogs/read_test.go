package podlogs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staticlet/staticlet/internal/testenv"
)

// rec is one record line stamped at second sec of a fixed minute.
func rec(sec int, stream, tag, content string) string {
	return fmt.Sprintf("%s %s %s %s\n", recTime(sec).Format(time.RFC3339Nano), stream, tag, content)
}

func recTime(sec int) time.Time { return time.Date(2026, 1, 2, 3, 4, sec, 500_000_000, time.UTC) }

// stamp is the prefix Timestamps gives a line of the record at second sec.
func stamp(sec int) string { return fmt.Sprintf("2026-01-02T03:04:%02d.500000000Z ", sec) }

func appendLog(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

func TestReadLog(t *testing.T) {
	var (
		one   = rec(1, Stdout, TagFull, "one")
		two   = rec(2, Stderr, TagFull, "two")
		thr   = rec(3, Stdout, TagPartial, "thr")
		ee    = rec(4, Stdout, TagFull, "ee")
		junk  = "garbage\n"
		long  = strings.Repeat("x", 2*lineBufferBytes) + "\n"
		four  = rec(5, Stdout, TagFull, "four")
		all   = one + two + thr + ee + junk + long + four
		cut   = strings.TrimSuffix(rec(6, Stderr, TagFull, "being written"), "\n")
		since = recTime(4)
	)
	for _, tc := range []struct {
		name             string
		file             string
		opts             LogOptions
		noStderr         bool
		wantOut, wantErr string
	}{
		{name: "all, joining partials, skipping corrupt lines", file: all, wantOut: "one\nthree\nfour\n", wantErr: "two\n"},
		{name: "empty file", file: ""},
		{name: "tail counts raw lines", file: all, opts: LogOptions{TailLines: ptr[int64](2)}, wantOut: "four\n"},
		{name: "tail counts a partial record as a line", file: all, opts: LogOptions{TailLines: ptr[int64](4)}, wantOut: "ee\nfour\n"},
		{name: "tail larger than the file", file: all, opts: LogOptions{TailLines: ptr[int64](100)}, wantOut: "one\nthree\nfour\n", wantErr: "two\n"},
		{name: "tail 0", file: all, opts: LogOptions{TailLines: ptr[int64](0)}},
		{name: "a record being written is left out", file: one + cut, wantOut: "one\n"},
		{name: "tail does not count a record being written", file: one + two + cut, opts: LogOptions{TailLines: ptr[int64](1)}, wantErr: "two\n"},
		{name: "limitBytes cuts a line", file: one + four, opts: LogOptions{LimitBytes: ptr[int64](6)}, wantOut: "one\nfo"},
		{name: "limitBytes counts both streams", file: one + two + four, opts: LogOptions{LimitBytes: ptr[int64](5)}, wantOut: "one\n", wantErr: "t"},
		{name: "limitBytes counts the timestamp", file: one, opts: LogOptions{LimitBytes: ptr[int64](10), Timestamps: true}, wantOut: "2026-01-02"},
		{name: "limitBytes 0", file: one, opts: LogOptions{LimitBytes: ptr[int64](0)}},
		{name: "a stream not asked for is not counted", file: two + one, opts: LogOptions{LimitBytes: ptr[int64](4)}, noStderr: true, wantOut: "one\n"},
		{name: "since keeps records at or after it", file: one + two + ee + four, opts: LogOptions{SinceTime: &since}, wantOut: "ee\nfour\n"},
		{name: "timestamps only start logical lines", file: all, opts: LogOptions{Timestamps: true},
			wantOut: stamp(1) + "one\n" + stamp(3) + "three\n" + stamp(5) + "four\n", wantErr: stamp(2) + "two\n"},
		{name: "since inside a joined line keeps its end, unstamped as in the kubelet", file: thr + ee + four, opts: LogOptions{SinceTime: &since, Timestamps: true},
			wantOut: "ee\n" + stamp(5) + "four\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "0.log")
			appendLog(t, path, tc.file)
			var stdout, stderr bytes.Buffer
			var errW io.Writer = &stderr
			if tc.noStderr {
				errW = nil
			}
			if err := ReadLog(t.Context(), path, tc.opts, &stdout, errW, nil); err != nil {
				t.Fatal(err)
			}
			if stdout.String() != tc.wantOut || stderr.String() != tc.wantErr {
				t.Errorf("stdout %q stderr %q, want %q and %q", stdout.String(), stderr.String(), tc.wantOut, tc.wantErr)
			}
		})
	}
}

func TestReadLogOneWriterKeepsOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "0.log")
	appendLog(t, path, rec(1, Stdout, TagFull, "a")+rec(2, Stderr, TagFull, "b")+rec(3, Stdout, TagFull, "c"))
	var out bytes.Buffer
	if err := ReadLog(t.Context(), path, LogOptions{}, &out, &out, nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "a\nb\nc\n" {
		t.Errorf("got %q", out.String())
	}
}

var errBroken = errors.New("broken pipe")

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errBroken }

func TestReadLogErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "9.log")
	err := ReadLog(t.Context(), missing, LogOptions{}, io.Discard, io.Discard, nil)
	if !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read log: "+missing+": ") || strings.Count(err.Error(), missing) != 1 {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join(dir, "0.log")
	appendLog(t, path, rec(1, Stdout, TagFull, "a"))
	for _, follow := range []bool{false, true} {
		err := ReadLog(t.Context(), path, LogOptions{Follow: follow}, brokenWriter{}, io.Discard, nil)
		if !errors.Is(err, errBroken) || !strings.HasPrefix(err.Error(), "read log: "+path+": ") {
			t.Errorf("follow %v, broken writer: %v", follow, err)
		}
	}
}

// follower runs ReadLog with Follow on path in the background; stillWriting
// is true until the test stores false, and calls counts its calls.
type follower struct {
	out, errOut testenv.SyncBuffer
	writing     atomic.Bool
	calls       atomic.Int64
	cancel      context.CancelFunc
	done        chan error
}

// followNew writes initial to a new log file and follows it.
func followNew(t *testing.T, initial string, opts LogOptions) (string, *follower) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "0.log")
	appendLog(t, path, initial)
	return path, startFollow(t, path, opts)
}

func startFollow(t *testing.T, path string, opts LogOptions) *follower {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	fl := &follower{cancel: cancel, done: make(chan error, 1)}
	t.Cleanup(cancel)
	fl.writing.Store(true)
	opts.Follow = true
	stillWriting := func() bool { fl.calls.Add(1); return fl.writing.Load() }
	go func() { fl.done <- ReadLog(ctx, path, opts, &fl.out, &fl.errOut, stillWriting) }()
	return fl
}

// finished waits for ReadLog to return, which must be with nil.
func (fl *follower) finished(t *testing.T) {
	t.Helper()
	select {
	case err := <-fl.done:
		if err != nil {
			t.Fatalf("ReadLog: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadLog did not return")
	}
}

// stop cancels the follow, which must make ReadLog return nil.
func (fl *follower) stop(t *testing.T) {
	t.Helper()
	fl.cancel()
	fl.finished(t)
}

// rounds waits until the follower has read the file twice more (the second
// time is certain once stillWriting is asked twice more), so what it has
// not written by then it will not write from what the file holds now.
func (fl *follower) rounds(t *testing.T) {
	t.Helper()
	fl.asked(t, fl.calls.Load()+2)
}

// asked waits until stillWriting has been asked want times.
func (fl *follower) asked(t *testing.T, want int64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); fl.calls.Load() < want; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("follower stopped reading")
		}
	}
}

func TestReadLogFollowUntilExit(t *testing.T) {
	t.Parallel()
	path, fl := followNew(t, rec(1, Stdout, TagFull, "one"), LogOptions{})
	waitFor(t, &fl.out, "one\n")
	appendLog(t, path, rec(2, Stderr, TagFull, "two"))
	waitFor(t, &fl.errOut, "two\n")
	// The container's last words land before it is seen exited.
	appendLog(t, path, rec(3, Stdout, TagFull, "three"))
	fl.writing.Store(false)
	fl.finished(t)
	if fl.out.String() != "one\nthree\n" {
		t.Errorf("stdout %q", fl.out.String())
	}
}

func TestReadLogFollowWaitsForWholeLine(t *testing.T) {
	t.Parallel()
	line := rec(2, Stdout, TagFull, "written in two halves")
	path, fl := followNew(t, rec(1, Stdout, TagFull, "one"), LogOptions{Timestamps: true})
	waitFor(t, &fl.out, stamp(1)+"one\n")
	appendLog(t, path, line[:20])
	fl.rounds(t)
	if got := fl.out.String(); got != stamp(1)+"one\n" {
		t.Fatalf("half a record came out: %q", got)
	}
	appendLog(t, path, line[20:])
	waitFor(t, &fl.out, stamp(1)+"one\n"+stamp(2)+"written in two halves\n")
	fl.stop(t)
}

func TestReadLogFollowExitedLeavesHalfRecord(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "0.log")
	appendLog(t, path, rec(1, Stdout, TagFull, "one")+rec(2, Stdout, TagFull, "cut short")[:20])
	var out bytes.Buffer
	exited := func() bool { return false }
	if err := ReadLog(t.Context(), path, LogOptions{Follow: true}, &out, &out, exited); err != nil {
		t.Fatal(err)
	}
	if out.String() != "one\n" {
		t.Errorf("got %q", out.String())
	}
}

func TestReadLogFollowTailZero(t *testing.T) {
	t.Parallel()
	path, fl := followNew(t, rec(1, Stdout, TagFull, "old")+rec(2, Stderr, TagFull, "old"), LogOptions{TailLines: ptr[int64](0)})
	fl.asked(t, 1) // the tail is found before stillWriting is first asked
	appendLog(t, path, rec(3, Stdout, TagFull, "new"))
	waitFor(t, &fl.out, "new\n")
	fl.stop(t)
	if fl.errOut.String() != "" {
		t.Errorf("stderr %q", fl.errOut.String())
	}
}

func TestReadLogFollowLimitBytes(t *testing.T) {
	t.Parallel()
	path, fl := followNew(t, rec(1, Stdout, TagFull, "one"), LogOptions{LimitBytes: ptr[int64](6)})
	waitFor(t, &fl.out, "one\n")
	appendLog(t, path, rec(2, Stdout, TagFull, "four"))
	fl.finished(t)
	if fl.out.String() != "one\nfo" {
		t.Errorf("stdout %q", fl.out.String())
	}
}

// TestReadLogFollowRecreated: a log rotated by creating a new file at its
// path is followed into the new file.
func TestReadLogFollowRecreated(t *testing.T) {
	t.Parallel()
	path, fl := followNew(t, rec(1, Stdout, TagFull, "one"), LogOptions{})
	waitFor(t, &fl.out, "one\n")
	if err := os.Rename(path, path+".20260102-030405"); err != nil {
		t.Fatal(err)
	}
	appendLog(t, path, rec(2, Stdout, TagFull, "two"))
	waitFor(t, &fl.out, "one\ntwo\n")
	fl.stop(t)
}

func TestTailStart(t *testing.T) {
	text := strings.Repeat("0123456789abcdef\n", 5000) + "incomplete"
	lines := int64(5000)
	for _, n := range []int64{0, 1, 2, 1999, lines - 1, lines, lines + 1} {
		start, err := tailStart(strings.NewReader(text), int64(len(text)), n)
		if err != nil {
			t.Fatal(err)
		}
		want := int64(17 * max(0, lines-n))
		if start != want {
			t.Errorf("tail %d: start %d, want %d", n, start, want)
		}
	}
}
