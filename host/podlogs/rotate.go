package podlogs

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rotation is the kubelet's container log rotation policy
// (KubeletConfiguration containerLogMaxSize and containerLogMaxFiles). The
// zero value never rotates.
type Rotation struct {
	// MaxBytes is the size a log file is rotated before it would exceed; 0
	// never rotates.
	MaxBytes int64
	// MaxFiles is how many files of one log are kept, the current one
	// included; at least 2 when MaxBytes is set.
	MaxFiles int
}

// The kubelet's defaults.
const (
	DefaultRotationMaxBytes = 10 * 1024 * 1024
	DefaultRotationMaxFiles = 5
)

// ErrBadRotation is wrapped by the errors of an invalid Rotation.
var ErrBadRotation = errors.New("invalid log rotation")

// Validate reports a negative size, or fewer than 2 files with a size set.
func (r Rotation) Validate() error {
	if r.MaxBytes < 0 {
		return fmt.Errorf("%w: max size %d must not be negative", ErrBadRotation, r.MaxBytes)
	}
	if r.MaxBytes > 0 && r.MaxFiles < 2 {
		return fmt.Errorf("%w: max files %d must be at least 2", ErrBadRotation, r.MaxFiles)
	}
	return nil
}

// RotatedTimeFormat is the kubelet's suffix of a rotated file,
// <log>.<local time in this format>, with ".gz" once compressed.
const RotatedTimeFormat = "20060102-150405"

const (
	compressedSuffix = ".gz"
	tmpSuffix        = ".tmp"
)

// RotatingFile appends to a log file and rotates it as the kubelet does,
// at the moment a write would take it past Rotation.MaxBytes: the file is
// renamed to <path>.<timestamp> and a new one is opened at path, so every
// Write lands whole in one file (a Write larger than MaxBytes goes whole into
// a fresh file). A goroutine it owns then deletes the oldest rotated files
// beyond MaxFiles and gzips the others except the newest, which stays plain
// for collectors still reading it (as the kubelet leaves it), so writes are
// held up only by a rename and an open.
//
// A failed rotation never fails a write: the file keeps growing, and the
// rotation is tried again after another MaxBytes. Its methods are safe for
// concurrent use.
type RotatingFile struct {
	path string
	rot  Rotation
	now  func() time.Time

	mu   sync.Mutex
	f    *os.File // nil once closed
	size int64    // bytes written since the file was opened or a rotation was last tried
	// lastStamp is the newest rotated file's time, so that two rotations
	// within one second get distinct names in the kubelet's format.
	lastStamp time.Time
	rotateErr error

	tidy    chan struct{} // a pass is wanted; closed by Close
	done    chan struct{} // the tidy goroutine has ended
	tidyErr error         // the tidy goroutine's last failure; read after done
}

// OpenRotatingFile opens path for appending (creating it) under rot; now
// stamps rotated files (time.Now if nil). With rotation on, it first tidies
// what an earlier writer of path left: excess files and interrupted
// compressions.
func OpenRotatingFile(path string, rot Rotation, now func() time.Time) (*RotatingFile, error) {
	if err := rot.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	if now == nil {
		now = time.Now
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log: %w", err)
	}
	r := &RotatingFile{path: path, rot: rot, now: now, f: f, size: info.Size(), done: make(chan struct{})}
	if rot.MaxBytes == 0 {
		close(r.done)
		return r, nil
	}
	if rotated, err := listRotated(path); err == nil && len(rotated) > 0 {
		r.lastStamp = rotated[len(rotated)-1].stamp
	}
	r.tidy = make(chan struct{}, 1)
	r.tidy <- struct{}{}
	go r.tidyLoop()
	return r, nil
}

// Write appends p as one piece, rotating first if p would take the file
// past MaxBytes.
func (r *RotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return 0, fmt.Errorf("write log %s: %w", r.path, os.ErrClosed)
	}
	if r.rot.MaxBytes > 0 && r.size > 0 && r.size+int64(len(p)) > r.rot.MaxBytes {
		r.rotate()
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("write log: %w", err)
	}
	return n, nil
}

// rotate renames the current file and opens a new one at path; called with
// mu held.
func (r *RotatingFile) rotate() {
	r.size = 0 // also on failure: try again after another MaxBytes
	stamp := r.now().Truncate(time.Second)
	if !stamp.After(r.lastStamp) {
		stamp = r.lastStamp.Add(time.Second)
	}
	rotated := r.path + "." + stamp.Format(RotatedTimeFormat)
	if err := os.Rename(r.path, rotated); err != nil {
		r.rotateErr = fmt.Errorf("rotate log: %w", err)
		return
	}
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o640)
	if err != nil {
		// Keep writing where we were, under the name readers look for.
		if rerr := os.Rename(rotated, r.path); rerr != nil {
			r.rotateErr = fmt.Errorf("rotate log: %w (and renaming %s back: %w)", err, rotated, rerr)
			return // the renamed file is still written to; nothing is lost
		}
		r.rotateErr = fmt.Errorf("rotate log: %w", err)
		return
	}
	r.f.Close() // its writes are done; a close error loses nothing written
	r.f, r.lastStamp = f, stamp
	select {
	case r.tidy <- struct{}{}:
	default: // a pass is already due and will see this file
	}
}

// Close closes the file and waits for the tidying of rotated files to end.
// It returns the close error and the last rotation or tidying failure.
func (r *RotatingFile) Close() error {
	r.mu.Lock()
	if r.f == nil {
		r.mu.Unlock()
		return nil
	}
	err := r.f.Close()
	r.f = nil
	if r.tidy != nil {
		close(r.tidy)
	}
	rotateErr := r.rotateErr
	r.mu.Unlock()
	<-r.done
	if err != nil {
		err = fmt.Errorf("close log: %w", err)
	}
	return errors.Join(err, rotateErr, r.tidyErr)
}

func (r *RotatingFile) tidyLoop() {
	defer close(r.done)
	for range r.tidy {
		if err := tidyRotated(r.path, r.rot.MaxFiles); err != nil {
			r.tidyErr = err
		}
	}
}

// rotatedFile is one file of a log's rotated set.
type rotatedFile struct {
	name  string // full path
	stamp time.Time
	gz    bool
	tmp   bool // an interrupted compression's output
}

// listRotated returns the rotated files of the log at path (names in the
// kubelet's format; others are left alone), oldest first.
func listRotated(path string) ([]rotatedFile, error) {
	dir, base := filepath.Dir(path), filepath.Base(path)+"."
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list rotated logs: %w", err)
	}
	var files []rotatedFile
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), base)
		if !ok || e.IsDir() {
			continue
		}
		rf := rotatedFile{name: filepath.Join(dir, e.Name())}
		rest, rf.tmp = strings.CutSuffix(rest, tmpSuffix)
		rest, rf.gz = strings.CutSuffix(rest, compressedSuffix)
		stamp, err := time.ParseInLocation(RotatedTimeFormat, rest, time.Local)
		if err != nil {
			continue
		}
		rf.stamp = stamp
		files = append(files, rf)
	}
	// The kubelet's order: by name, which is by time.
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files, nil
}

// tidyRotated brings the rotated files of the log at path to the kubelet's
// shape: leftovers of interrupted compressions removed, at most maxFiles-1
// rotated files (the oldest go first), all but the newest gzipped. It
// compresses one file at a time and looks again after each, so files rotated
// meanwhile are pruned without waiting for the others' compression.
func tidyRotated(path string, maxFiles int) error {
	for {
		files, err := listRotated(path)
		if err != nil {
			return err
		}
		var errs []error
		var kept []rotatedFile
		compressed := map[time.Time]bool{}
		for _, f := range files {
			if f.gz && !f.tmp {
				compressed[f.stamp] = true
			}
		}
		for _, f := range files {
			// A compression's output nobody is writing, or a plain file whose
			// compression finished but was not removed.
			if f.tmp || (!f.gz && compressed[f.stamp]) {
				errs = append(errs, removeLog(f.name))
				continue
			}
			kept = append(kept, f)
		}
		for len(kept) > maxFiles-1 {
			errs = append(errs, removeLog(kept[0].name))
			kept = kept[1:]
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		// The newest rotated file stays plain; compress the next newest first:
		// the oldest are the next to be deleted.
		next := -1
		for i := len(kept) - 2; i >= 0; i-- {
			if !kept[i].gz {
				next = i
				break
			}
		}
		if next < 0 {
			return nil
		}
		if err := compressLog(kept[next].name); err != nil {
			return err
		}
	}
}

func removeLog(name string) error {
	if err := os.Remove(name); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove rotated log: %w", err)
	}
	return nil
}

// compressLog gzips name to name.gz through name.gz.tmp and removes name.
func compressLog(name string) (err error) {
	src, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("compress log: %w", err)
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return fmt.Errorf("compress log: %w", err)
	}
	gzName := name + compressedSuffix
	tmp := gzName + tmpSuffix
	dst, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, info.Mode().Perm())
	if err != nil {
		return fmt.Errorf("compress log: %w", err)
	}
	defer func() {
		if err != nil {
			dst.Close()
			os.Remove(tmp)
		}
	}()
	zw := gzip.NewWriter(dst)
	if _, err := io.Copy(zw, src); err != nil {
		return fmt.Errorf("compress log %s: %w", name, err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("compress log %s: %w", name, err)
	}
	if err := dst.Close(); err != nil {
		return fmt.Errorf("compress log %s: %w", name, err)
	}
	if err := os.Rename(tmp, gzName); err != nil {
		return fmt.Errorf("compress log: %w", err)
	}
	return removeLog(name)
}

// ShimLoggerArg is the value of the shim-logger key of the log URI: the log
// file, with the rotation policy as a query the logger parses back
// (ParseShimLoggerArg) when rotation is on. One key keeps the command line
// the shim builds from the URI in a fixed order (it ranges over a map):
// `<logger> shim-logger '<file>?max-size=<bytes>&max-files=<n>'`.
func ShimLoggerArg(path string, rot Rotation) string {
	if rot.MaxBytes == 0 {
		return path
	}
	return path + "?max-size=" + strconv.FormatInt(rot.MaxBytes, 10) + "&max-files=" + strconv.Itoa(rot.MaxFiles)
}

// ParseShimLoggerArg splits the shim logger's argument into the log file and
// its rotation policy. A plain path (an older agent's) rotates nothing.
func ParseShimLoggerArg(arg string) (string, Rotation, error) {
	i := strings.LastIndexByte(arg, '?')
	// The file's own name (<restartCount>.log) holds no '?': a '?' followed
	// by a '/' is in a folder's name.
	if i < 0 || strings.ContainsRune(arg[i+1:], '/') {
		return arg, Rotation{}, nil
	}
	path, query := arg[:i], arg[i+1:]
	var rot Rotation
	for _, pair := range strings.Split(query, "&") {
		key, value, _ := strings.Cut(pair, "=")
		var err error
		switch key {
		case "max-size":
			rot.MaxBytes, err = strconv.ParseInt(value, 10, 64)
		case "max-files":
			rot.MaxFiles, err = strconv.Atoi(value)
		default:
			return "", Rotation{}, fmt.Errorf("shim logger argument %q: %w: unknown option %q", arg, ErrBadRotation, key)
		}
		if err != nil {
			return "", Rotation{}, fmt.Errorf("shim logger argument %q: %s: %w: %w", arg, key, ErrBadRotation, err)
		}
	}
	if err := rot.Validate(); err != nil {
		return "", Rotation{}, fmt.Errorf("shim logger argument %q: %w", arg, err)
	}
	return path, rot, nil
}

// OpenLogFile opens one file of a log, the current one or a rotated one, for
// reading its records; a .gz file is read uncompressed.
func OpenLogFile(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if !strings.HasSuffix(name, compressedSuffix) {
		return f, nil
	}
	zr, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log %s: %w", name, err)
	}
	return gzipFile{zr, f}, nil
}

type gzipFile struct {
	*gzip.Reader
	f *os.File
}

func (g gzipFile) Close() error { return errors.Join(g.Reader.Close(), g.f.Close()) }
