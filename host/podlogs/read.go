package podlogs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
)

// LogOptions are the kubelet's log options (k8s.io/api/core/v1.PodLogOptions
// as the kubelet applies them to one log file).
type LogOptions struct {
	Follow     bool
	TailLines  *int64     // nil: all; 0: none (only what follows, with Follow)
	LimitBytes *int64     // stop after this many bytes of output
	SinceTime  *time.Time // only records at or after this time (the caller converts sinceSeconds)
	Timestamps bool       // prefix each line with its record's RFC3339Nano time and a space
}

// timestampFormat is the kubelet's fixed-width RFC3339Nano (always nine
// fractional digits), so that `kubectl logs --timestamps` output lines up and
// sorts as text.
const timestampFormat = "2006-01-02T15:04:05.000000000Z07:00"

// followRecheck bounds how long a follower waits without a file event, so a
// missed event or an exited container is noticed within it (the kubelet's
// logForceCheckPeriod).
const followRecheck = time.Second

// followPoll is the wait between looks when no fsnotify watch can be set up
// (inotify limits reached): a log request should not fail for that.
const followPoll = 250 * time.Millisecond

// lineBufferBytes bounds the line held in memory. A record carries at most
// MaxLineBytes of content, so a longer line is corrupt and is skipped without
// buffering it all.
const lineBufferBytes = 4 * MaxLineBytes

// ReadLog writes the log file at path to stdout/stderr (records of each
// stream to its writer; they may be the same writer) as the kubelet does
// (k8s.io/cri-client/pkg/logs.ReadLogs, which pkg/kubelet/kuberuntime calls).
// It serves the kubelet API's /containerLogs and attach.
//
//   - TailLines counts raw lines of the file from its end (a P record is a
//     line), as the kubelet's tail does; a final line without its newline is
//     not counted.
//   - Partial (P) records are joined into one output line; with Timestamps the
//     prefix (RFC3339Nano with nine fractional digits) goes only at the start
//     of a logical line.
//   - Records before SinceTime are left out; LimitBytes caps the bytes written,
//     cutting a line if it must. A nil writer drops its stream's records
//     without counting them, as the kubelet does for a stream not asked for.
//   - Corrupt lines are skipped. A final line without its newline is a record
//     still being written and is never written half: without Follow it is
//     left out (the kubelet would print it), with Follow it waits for its
//     newline.
//   - Without Follow it reads the file as it is when opened. With Follow it
//     keeps reading what is appended (and moves to a new file created at path,
//     as after a rotation) until stillWriting reports false and the file has
//     been read to its end, or ctx ends; both return nil. A nil stillWriting
//     means always writing. stillWriting is asked at least every second while
//     waiting.
//
// A missing file returns an error wrapping os.ErrNotExist; a failing writer
// ends the read with its error.
func ReadLog(ctx context.Context, path string, opts LogOptions, stdout, stderr io.Writer, stillWriting func() bool) error {
	f, err := os.Open(path)
	if err != nil {
		return readErr(path, err)
	}
	defer func() { f.Close() }() // f moves on to a re-created file while following
	if opts.LimitBytes != nil && *opts.LimitBytes <= 0 {
		return nil // no output allowed; the kubelet would wait for a first record to cut to nothing
	}
	info, err := f.Stat()
	if err != nil {
		return readErr(path, err)
	}
	size := info.Size()
	var start int64
	if opts.TailLines != nil {
		if start, err = tailStart(f, size, *opts.TailLines); err != nil {
			return readErr(path, fmt.Errorf("tail %d lines: %w", *opts.TailLines, err))
		}
	}
	lr := newLogReader(opts, stdout, stderr)
	if !opts.Follow {
		if _, _, err := lr.copyLines(io.NewSectionReader(f, start, size-start)); err != nil {
			return readErr(path, err)
		}
		return nil
	}

	waiter := newFileWaiter(path)
	defer waiter.close()
	offset := start
	for {
		// Asked before reading: whatever was written before the answer is then
		// read before returning.
		writing := stillWriting == nil || stillWriting()
		n, done, err := lr.copyLines(io.NewSectionReader(f, offset, math.MaxInt64-offset))
		offset += n
		if err != nil {
			return readErr(path, err)
		}
		if done {
			return nil
		}
		if next := replacement(path, f); next != nil {
			// Records written to the old file after the read above came
			// before the new file: read them first.
			_, done, err := lr.copyLines(io.NewSectionReader(f, offset, math.MaxInt64-offset))
			if err != nil || done {
				next.Close()
				if err != nil {
					return readErr(path, err)
				}
				return nil
			}
			f.Close()
			f, offset = next, 0
			continue
		}
		if !writing || !waiter.wait(ctx) {
			return nil
		}
	}
}

// readErr wraps err as `read log: <path>: ...`, without the repeat of the
// path that an *fs.PathError would add.
func readErr(path string, err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) && pathErr.Path == path {
		return fmt.Errorf("read log: %s: %s: %w", path, pathErr.Op, pathErr.Err)
	}
	return fmt.Errorf("read log: %s: %w", path, err)
}

// tailStart returns the offset of the first of the last n complete lines of
// the first size bytes of f, or 0 when there are no more than n.
func tailStart(f io.ReaderAt, size, n int64) (int64, error) {
	if n < 0 {
		return 0, nil
	}
	buf := make([]byte, 32*1024)
	var newlines int64
	for end := size; end > 0; {
		from := max(0, end-int64(len(buf)))
		block := buf[:end-from]
		if _, err := f.ReadAt(block, from); err != nil {
			return 0, err
		}
		for i := len(block) - 1; i >= 0; i-- {
			if block[i] != '\n' {
				continue
			}
			// The (n+1)th newline from the end ends the line before the last n
			// complete lines (a final incomplete line has no newline to count).
			if newlines++; newlines == n+1 {
				return from + int64(i) + 1, nil
			}
		}
		end = from
	}
	return 0, nil
}

// logReader writes the records of complete lines as LogOptions ask, and
// resumes where it stopped when more of the file is read.
type logReader struct {
	opts           LogOptions
	stdout, stderr io.Writer
	lines          *bufio.Reader
	out            []byte
	remain         int64 // bytes of output left under LimitBytes
	lineEnded      bool  // the last record ended its line: the next starts a new one
	skipping       bool  // inside a line too long to be a record
}

func newLogReader(opts LogOptions, stdout, stderr io.Writer) *logReader {
	lr := &logReader{
		opts: opts, stdout: stdout, stderr: stderr,
		lines:     bufio.NewReaderSize(nil, lineBufferBytes),
		remain:    math.MaxInt64,
		lineEnded: true,
	}
	if opts.LimitBytes != nil {
		lr.remain = *opts.LimitBytes
	}
	return lr
}

// copyLines writes the records of the complete lines of r and returns how
// many bytes of r it consumed; a final line without its newline is left for
// the next call. done reports that LimitBytes has been reached.
func (lr *logReader) copyLines(r io.Reader) (consumed int64, done bool, err error) {
	lr.lines.Reset(r)
	for {
		line, err := lr.lines.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			consumed += int64(len(line))
			lr.skipping = true
			continue
		case errors.Is(err, io.EOF):
			return consumed, false, nil
		case err != nil:
			return consumed, false, err
		}
		consumed += int64(len(line))
		if lr.skipping {
			lr.skipping = false
			continue
		}
		rec, err := ParseRecord(line[:len(line)-1])
		if err != nil {
			continue // a corrupt line must not hide the rest, as in the kubelet
		}
		if done, err := lr.write(rec); done || err != nil {
			return consumed, done, err
		}
	}
}

// write writes one record's content; done reports that LimitBytes has been
// reached.
func (lr *logReader) write(rec Record) (done bool, err error) {
	startsLine := lr.lineEnded
	// Records left out still end or continue a line, as in the kubelet.
	lr.lineEnded = !rec.Partial
	if lr.opts.SinceTime != nil && rec.Time.Before(*lr.opts.SinceTime) {
		return false, nil
	}
	w := lr.stdout
	if rec.Stream == Stderr {
		w = lr.stderr
	}
	if w == nil {
		return false, nil
	}
	out := lr.out[:0]
	if lr.opts.Timestamps && startsLine {
		out = rec.Time.AppendFormat(out, timestampFormat)
		out = append(out, ' ')
	}
	out = append(out, rec.Content...)
	if !rec.Partial {
		out = append(out, '\n')
	}
	lr.out = out
	if int64(len(out)) > lr.remain {
		out = out[:lr.remain]
	}
	n, err := w.Write(out)
	lr.remain -= int64(n)
	if err != nil {
		return false, fmt.Errorf("write %s: %w", rec.Stream, err)
	}
	if n < len(out) {
		return false, fmt.Errorf("write %s: %w", rec.Stream, io.ErrShortWrite)
	}
	return lr.remain <= 0, nil
}

// replacement returns the file now at path if it is no longer the open f (the
// log was rotated by creating a new file), so a follower moves on to it as the
// kubelet does. A removed file is kept: its open handle still reads.
func replacement(path string, f *os.File) *os.File {
	now, err := os.Stat(path)
	if err != nil {
		return nil
	}
	if open, err := f.Stat(); err != nil || os.SameFile(now, open) {
		return nil
	}
	next, err := os.Open(path)
	if err != nil {
		return nil
	}
	return next
}

// fileWaiter waits for a change to one file, through an fsnotify watch on its
// folder (a watch on the file would miss a new file created at its path), or
// by polling.
type fileWaiter struct {
	watcher *fsnotify.Watcher // nil: poll
	name    string
}

func newFileWaiter(path string) *fileWaiter {
	// The folder that really holds the file, in case path is a symlink.
	if resolved, err := filepath.EvalSymlinks(path); err == nil {
		path = resolved
	}
	w := &fileWaiter{name: filepath.Base(path)}
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return w
	}
	if err := watcher.Add(filepath.Dir(path)); err != nil {
		watcher.Close()
		return w
	}
	w.watcher = watcher
	return w
}

// wait returns true when the file may have changed, at the latest after
// followRecheck (followPoll without a watch), and false once ctx ends.
func (w *fileWaiter) wait(ctx context.Context) bool {
	if ctx.Err() != nil {
		return false
	}
	period := followPoll
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w.watcher != nil {
		period, events, errs = followRecheck, w.watcher.Events, w.watcher.Errors
	}
	timer := time.NewTimer(period)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return true
		case e, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if filepath.Base(e.Name) == w.name {
				return true
			}
		case _, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			return true // events may have been lost (queue overflow): look now
		}
	}
}

func (w *fileWaiter) close() {
	if w.watcher != nil {
		w.watcher.Close()
	}
}
