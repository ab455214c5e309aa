package podlogs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNoLogs is wrapped when a pod, container or log file is not found.
var ErrNoLogs = errors.New("no logs")

// ErrBadRecord is wrapped by ParseRecord for a line not in the CRI format.
var ErrBadRecord = errors.New("not a CRI log record")

// PodDirName is the folder of one pod's logs: <namespace>_<name>_<uid>.
func PodDirName(namespace, name, uid string) string {
	return namespace + "_" + name + "_" + uid
}

// ContainerLogPath is the log file of one run of a container.
func ContainerLogPath(root, namespace, name, uid, container string, restartCount int32) string {
	return filepath.Join(root, PodDirName(namespace, name, uid), container, strconv.Itoa(int(restartCount))+".log")
}

// Pod is one pod folder found under the log root.
type Pod struct {
	Namespace, Name, UID string
	Dir                  string
	ModTime              time.Time
}

// ListPods returns the pod folders under root, newest first. A missing root
// holds no pods.
func ListPods(root string) ([]Pod, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list pod logs: %w", err)
	}
	var pods []Pod
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		// Namespaces and UIDs hold no underscore; names are DNS subdomains.
		parts := strings.Split(e.Name(), "_")
		if len(parts) != 3 {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		pods = append(pods, Pod{Namespace: parts[0], Name: parts[1], UID: parts[2], Dir: filepath.Join(root, e.Name()), ModTime: info.ModTime()})
	}
	sort.SliceStable(pods, func(i, j int) bool { return pods[i].ModTime.After(pods[j].ModTime) })
	return pods, nil
}

// Containers returns the container names that have logs in a pod folder.
func Containers(podDir string) ([]string, error) {
	entries, err := os.ReadDir(podDir)
	if err != nil {
		return nil, fmt.Errorf("list containers of %s: %w", podDir, err)
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// LatestLog returns the log file of the container's latest run (highest
// restart count) in containerDir.
func LatestLog(containerDir string) (string, int, error) {
	entries, err := os.ReadDir(containerDir)
	if err != nil {
		return "", 0, fmt.Errorf("latest log in %s: %w: %w", containerDir, ErrNoLogs, err)
	}
	best := -1
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".log"))
		if err != nil || !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		best = max(best, n)
	}
	if best < 0 {
		return "", 0, fmt.Errorf("latest log in %s: %w", containerDir, ErrNoLogs)
	}
	return filepath.Join(containerDir, strconv.Itoa(best)+".log"), best, nil
}

// Record is one parsed line of a log file.
type Record struct {
	Time    time.Time
	Stream  string
	Partial bool
	Content []byte
}

// ParseRecord parses one line (without its newline).
func ParseRecord(line []byte) (Record, error) {
	fields := bytes.SplitN(line, []byte{' '}, 4)
	if len(fields) < 3 {
		return Record{}, fmt.Errorf("parse %q: %w", line, ErrBadRecord)
	}
	t, err := time.Parse(time.RFC3339Nano, string(fields[0]))
	if err != nil {
		return Record{}, fmt.Errorf("parse %q: time: %w: %w", line, ErrBadRecord, err)
	}
	r := Record{Time: t, Stream: string(fields[1])}
	if r.Stream != Stdout && r.Stream != Stderr {
		return Record{}, fmt.Errorf("parse %q: stream %q: %w", line, r.Stream, ErrBadRecord)
	}
	switch string(fields[2]) {
	case TagFull:
	case TagPartial:
		r.Partial = true
	default:
		return Record{}, fmt.Errorf("parse %q: tag %q: %w", line, fields[2], ErrBadRecord)
	}
	if len(fields) == 4 {
		r.Content = fields[3]
	}
	return r, nil
}

// Copy writes the content of the records read from r to w, joining partial
// records, and returns at EOF. A final line without a newline (a record
// being written) is left unread and its length is not counted in consumed,
// so a follower can resume at consumed.
func Copy(w io.Writer, r io.Reader) (consumed int64, err error) {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return consumed, nil
		}
		if err != nil {
			return consumed, fmt.Errorf("read log: %w", err)
		}
		consumed += int64(len(line))
		rec, perr := ParseRecord(line[:len(line)-1])
		if perr != nil {
			continue // a corrupt line must not hide the rest
		}
		out := rec.Content
		if !rec.Partial {
			out = append(out, '\n')
		}
		if _, err := w.Write(out); err != nil {
			return consumed, fmt.Errorf("write logs: %w", err)
		}
	}
}

// Follow prints containerDir's latest log and keeps printing what is
// appended, moving on to the new file when the log is rotated and to a newer
// run's file when the container restarts, until ctx ends. poll is how often
// it looks for more.
func Follow(ctx context.Context, w io.Writer, containerDir string, poll time.Duration) error {
	path, run, err := LatestLog(containerDir)
	if err != nil {
		return err
	}
	var f *os.File // nil until path exists (it may be between a rotation's rename and open)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	var offset int64
	for {
		if f == nil {
			if f, err = openLog(path); err != nil {
				return err
			}
			offset = 0
		}
		if f != nil {
			n, err := copyAt(w, f, offset)
			offset += n
			if err != nil {
				return err
			}
			if n > 0 {
				continue
			}
		}
		next, nextRun, err := LatestLog(containerDir)
		newRun := err == nil && nextRun > run
		if f != nil && (newRun || replaced(path, f)) {
			// Finish the old file first: its last records may be new.
			if _, err := copyAt(w, f, offset); err != nil {
				return err
			}
			f.Close()
			f = nil
			if newRun {
				path, run = next, nextRun
			}
			continue
		}
		if f == nil && newRun {
			path, run = next, nextRun
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}

// openLog opens a followed log file; nil without error when it is not there
// (yet).
func openLog(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("follow log: %w", err)
	}
	return f, nil
}

// replaced reports whether path now names another file than the open f (the
// log was rotated), or none.
func replaced(path string, f *os.File) bool {
	now, err := os.Stat(path)
	if err != nil {
		return errors.Is(err, os.ErrNotExist)
	}
	open, err := f.Stat()
	return err == nil && !os.SameFile(now, open)
}

func copyAt(w io.Writer, f *os.File, offset int64) (int64, error) {
	return Copy(w, io.NewSectionReader(f, offset, math.MaxInt64-offset))
}
