package file

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/hashicorp/go-hclog"

	"github.com/staticlet/staticlet/host/source"
)

// Watcher delivers listings of Root whenever it changes and every Resync.
type Watcher struct {
	// Root is staticPodPath: a folder, a single file, or a path that does
	// not exist yet.
	Root string
	// Resync is the periodic relist interval (fileCheckFrequency).
	Resync time.Duration
	// Debounce is the quiet time after an event before rescanning (the
	// first event of a burst is scanned at once, see Run); a burst is
	// rescanned at the latest MaxDelay after its first event.
	Debounce time.Duration
	MaxDelay time.Duration
	Logger   hclog.Logger
	// Observe, when set, is told of every filesystem event ("event"), watch
	// error ("error") and relist ("relist", with its duration); for metrics.
	Observe func(kind string, took time.Duration)
}

func (w *Watcher) observe(kind string, took time.Duration) {
	if w.Observe != nil {
		w.Observe(kind, took)
	}
}

// Run scans Root once, delivers the listing, then watches until ctx is done.
// It returns nil on cancellation; it only fails if fsnotify cannot be set up
// at all, in which case the caller may fall back to relisting alone.
func (w *Watcher) Run(ctx context.Context, out *source.Mailbox) error {
	log := w.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	maxDelay := w.MaxDelay
	if maxDelay <= 0 {
		maxDelay = 10*w.Debounce + 100*time.Millisecond
	}
	notify, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer notify.Close()

	scanner := NewScanner()
	watches := newWatchSet(notify, log)
	defer watches.closeAll()

	rescan := func(why string) {
		watches.ensure(w.Root)
		start := time.Now()
		listing := scanner.Scan(w.Root)
		took := time.Since(start)
		w.observe("relist", took)
		log.Trace("relisted", "root", w.Root, "why", why, "files", len(listing.Files), "took", took)
		out.Put(listing)
	}
	rescan("start")

	resync := time.NewTicker(w.Resync)
	defer resync.Stop()
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	var burstStart time.Time

	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-notify.Events:
			if !ok {
				return errors.New("fsnotify event channel closed")
			}
			if !watches.relevant(w.Root, ev.Name) {
				continue
			}
			w.observe("event", 0)
			now := time.Now()
			if burstStart.IsZero() {
				// Leading edge: the first event after a quiet spell is acted on
				// at once (an atomic rename-in is one event, so a new manifest
				// costs no debounce); the rest of the burst is debounced, and a
				// trailing scan always follows. A scan that catches a file
				// mid-write is harmless: the partial file is rejected and the
				// last good version keeps running until the trailing scan.
				burstStart = now
				rescan("event")
			}
			wait := w.Debounce
			if deadline := burstStart.Add(maxDelay); now.Add(wait).After(deadline) {
				wait = deadline.Sub(now)
			}
			debounce.Reset(max(wait, 0))
		case err, ok := <-notify.Errors:
			if !ok {
				return errors.New("fsnotify error channel closed")
			}
			// Overflow loses events: a relist recovers everything.
			w.observe("error", 0)
			log.Warn("file watch error; relisting", "root", w.Root, "error", err)
			rescan("watch error")
		case <-debounce.C:
			burstStart = time.Time{}
			rescan("event")
		case <-resync.C:
			rescan("resync")
		}
	}
}

// watchSet keeps inotify watches on the root (when it is a folder) and on
// the root's nearest existing ancestor, so that a folder that appears later,
// a symlink that is retargeted or a single file renamed over are all seen.
type watchSet struct {
	notify *fsnotify.Watcher
	log    hclog.Logger
	// watched maps each watched path to what it resolved to when the watch
	// was added: inotify follows a symlink once, so a retargeted symlink
	// needs a new watch.
	watched map[string]string
}

func newWatchSet(n *fsnotify.Watcher, log hclog.Logger) *watchSet {
	return &watchSet{notify: n, log: log, watched: map[string]string{}}
}

func (ws *watchSet) ensure(root string) {
	want := map[string]bool{}
	if info, err := os.Stat(root); err == nil && info.IsDir() {
		want[root] = true
	}
	// The closest existing ancestor sees the root (or its symlink) come, go
	// and be replaced.
	for dir := filepath.Dir(filepath.Clean(root)); ; dir = filepath.Dir(dir) {
		if info, err := os.Stat(dir); err == nil && info.IsDir() {
			want[dir] = true
			break
		}
		if dir == filepath.Dir(dir) {
			break
		}
	}
	resolved := map[string]string{}
	for path := range want {
		resolved[path], _ = filepath.EvalSymlinks(path)
	}
	for path, target := range ws.watched {
		if !want[path] || resolved[path] != target {
			_ = ws.notify.Remove(path)
			delete(ws.watched, path)
		}
	}
	for path := range want {
		if _, ok := ws.watched[path]; ok {
			continue
		}
		if err := ws.notify.Add(path); err != nil {
			ws.log.Warn("cannot watch; relying on periodic relist", "path", path, "error", err)
			continue
		}
		ws.watched[path] = resolved[path]
	}
}

// relevant filters events on the ancestor watch down to those about the
// root's own path (or its ancestors on the way to it).
func (ws *watchSet) relevant(root, name string) bool {
	root = filepath.Clean(root)
	name = filepath.Clean(name)
	if name == root || filepath.Dir(name) == root {
		return true
	}
	// An ancestor of root created, removed or renamed.
	rel, err := filepath.Rel(name, root)
	return err == nil && rel != ".." && !filepath.IsAbs(rel) && len(rel) > 0 && rel[0] != '.'
}

func (ws *watchSet) closeAll() {
	for path := range ws.watched {
		_ = ws.notify.Remove(path)
	}
}
