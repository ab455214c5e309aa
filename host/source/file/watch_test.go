package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/source"
)

// startWatcher runs a watcher with a long resync, so only fsnotify can
// deliver changes within the tests' deadlines.
func startWatcher(t *testing.T, root string) *source.Mailbox {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	mb := source.NewMailbox()
	w := &Watcher{Root: root, Resync: time.Hour, Debounce: 20 * time.Millisecond}
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, mb) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watcher: %v", err)
		}
	})
	return mb
}

// waitListing waits for a listing satisfying cond.
func waitListing(t *testing.T, mb *source.Mailbox, what string, cond func(source.Listing) bool) source.Listing {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		l, err := mb.Wait(ctx)
		if err != nil {
			t.Fatalf("no listing with %s: %v", what, err)
		}
		if cond(l) {
			return l
		}
	}
}

func hasContent(name, substr string) func(source.Listing) bool {
	return func(l source.Listing) bool {
		f, ok := byName(l)[name]
		return ok && strings.Contains(string(f.Content), substr)
	}
}

func lacks(name string) func(source.Listing) bool {
	return func(l source.Listing) bool { _, ok := byName(l)[name]; return !ok }
}

func TestWatchAddChangeRemove(t *testing.T) {
	dir := t.TempDir()
	mb := startWatcher(t, dir)
	waitListing(t, mb, "initial empty listing", func(l source.Listing) bool { return l.Complete && len(l.Files) == 0 })
	start := time.Now()
	write(t, filepath.Join(dir, "a.yaml"), fmt.Sprintf(podYAML, "one"))
	waitListing(t, mb, "a.yaml", hasContent("a.yaml", "one"))
	if took := time.Since(start); took > time.Second {
		t.Errorf("new file seen after %s", took)
	}
	write(t, filepath.Join(dir, "a.yaml"), fmt.Sprintf(podYAML, "two"))
	waitListing(t, mb, "a.yaml changed", hasContent("a.yaml", "two"))
	os.Remove(filepath.Join(dir, "a.yaml"))
	waitListing(t, mb, "a.yaml removed", lacks("a.yaml"))
}

func TestWatchDebouncesBursts(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Count every listing, not just the newest: read the mailbox eagerly.
	mb := source.NewMailbox()
	w := &Watcher{Root: dir, Resync: time.Hour, Debounce: 50 * time.Millisecond, MaxDelay: time.Second}
	go w.Run(ctx, mb)
	waitListing(t, mb, "initial", func(l source.Listing) bool { return true })
	listings := 0
	stop := time.After(600 * time.Millisecond)
	go func() {
		for i := 0; i < 100; i++ {
			write(t, filepath.Join(dir, "burst.yaml"), fmt.Sprintf(podYAML, fmt.Sprint("v", i)))
		}
	}()
	var last source.Listing
loop:
	for {
		select {
		case l := <-mb.C():
			listings++
			last = l
		case <-stop:
			break loop
		}
	}
	if listings == 0 || listings > 5 {
		t.Fatalf("100 writes gave %d listings, want 1-5", listings)
	}
	if !hasContent("burst.yaml", "v99")(last) {
		t.Fatalf("last listing does not have the final content")
	}
}

func TestWatchMissingFolderAppears(t *testing.T) {
	parent := t.TempDir()
	root := filepath.Join(parent, "etc", "kubernetes", "manifests")
	mb := startWatcher(t, root)
	waitListing(t, mb, "missing root", func(l source.Listing) bool {
		return l.Complete && len(l.Files) == 0 && strings.Contains(l.Note, "does not exist")
	})
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	// Give the watcher a moment to move its watch onto the new folder, then
	// write; a relist on the folder's creation would also catch the file.
	time.Sleep(100 * time.Millisecond)
	write(t, filepath.Join(root, "late.yaml"), fmt.Sprintf(podYAML, "late"))
	waitListing(t, mb, "late.yaml", hasContent("late.yaml", "late"))
	write(t, filepath.Join(root, "later.yaml"), fmt.Sprintf(podYAML, "later"))
	waitListing(t, mb, "later.yaml", hasContent("later.yaml", "later"))
}

func TestWatchSymlinkedFolderRetargeted(t *testing.T) {
	base := t.TempDir()
	v1, v2 := filepath.Join(base, "v1"), filepath.Join(base, "v2")
	os.Mkdir(v1, 0o755)
	os.Mkdir(v2, 0o755)
	write(t, filepath.Join(v1, "pod.yaml"), fmt.Sprintf(podYAML, "first"))
	write(t, filepath.Join(v2, "pod.yaml"), fmt.Sprintf(podYAML, "second"))
	link := filepath.Join(base, "manifests")
	if err := os.Symlink(v1, link); err != nil {
		t.Fatal(err)
	}
	mb := startWatcher(t, link)
	waitListing(t, mb, "v1 content", hasContent("pod.yaml", "first"))
	// Edits inside the symlinked folder are seen.
	write(t, filepath.Join(v1, "extra.yaml"), fmt.Sprintf(podYAML, "extra"))
	waitListing(t, mb, "extra.yaml through the link", hasContent("extra.yaml", "extra"))
	// Atomic retarget, the way ConfigMap volumes swap ..data.
	tmp := filepath.Join(base, "manifests.tmp")
	if err := os.Symlink(v2, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, link); err != nil {
		t.Fatal(err)
	}
	waitListing(t, mb, "v2 content", hasContent("pod.yaml", "second"))
	// And the new target is watched.
	write(t, filepath.Join(v2, "new.yaml"), fmt.Sprintf(podYAML, "new"))
	waitListing(t, mb, "new.yaml in v2", hasContent("new.yaml", "new"))
}

func TestWatchSingleFileRenamedOver(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pod.yaml")
	write(t, path, fmt.Sprintf(podYAML, "one"))
	mb := startWatcher(t, path)
	waitListing(t, mb, "one", hasContent("pod.yaml", "one"))
	write(t, filepath.Join(dir, ".pod.yaml.tmp"), fmt.Sprintf(podYAML, "two"))
	if err := os.Rename(filepath.Join(dir, ".pod.yaml.tmp"), path); err != nil {
		t.Fatal(err)
	}
	waitListing(t, mb, "two", hasContent("pod.yaml", "two"))
}
