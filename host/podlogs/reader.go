package podlogs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
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
// so a follower can resume at consumed. It is ReadLog's reader with no
// options, both streams to w.
func Copy(w io.Writer, r io.Reader) (consumed int64, err error) {
	consumed, _, err = newLogReader(LogOptions{}, w, w).copyLines(r)
	if err != nil {
		return consumed, fmt.Errorf("read log: %w", err)
	}
	return consumed, nil
}

// Follow prints containerDir's latest log and keeps printing what is
// appended, until ctx ends: each run's file is read by ReadLog, which follows
// it across rotations, until a newer run's file appears (the container
// restarted), then that one. poll is how long it waits for a run's file that
// is not there yet (between a rotation's rename and open).
func Follow(ctx context.Context, w io.Writer, containerDir string, poll time.Duration) error {
	path, run, err := LatestLog(containerDir)
	if err != nil {
		return err
	}
	for {
		noNewerRun := func() bool {
			_, latest, err := LatestLog(containerDir)
			return err != nil || latest <= run
		}
		err := ReadLog(ctx, path, LogOptions{Follow: true}, w, w, noNewerRun)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		if next, latest, lerr := LatestLog(containerDir); lerr == nil && latest > run {
			path, run = next, latest
			continue
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(poll):
		}
	}
}
