package file

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/manifest"
	"github.com/staticlet/staticlet/host/source"
)

const podYAML = "apiVersion: v1\nkind: Pod\nmetadata: {name: %s}\nspec:\n  containers: [{name: c, image: busybox}]\n"

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func byName(l source.Listing) map[string]source.File {
	out := map[string]source.File{}
	for _, f := range l.Files {
		out[filepath.Base(f.Path)] = f
	}
	return out
}

func TestScanFolderRules(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.yaml"), fmt.Sprintf(podYAML, "a"))
	write(t, filepath.Join(dir, "b.yaml~"), "backup")
	write(t, filepath.Join(dir, ".a.yaml.swp"), "swap")
	write(t, filepath.Join(dir, "4913"), "")
	write(t, filepath.Join(dir, "notes.txt"), "text")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "sub", "nested.yaml"), fmt.Sprintf(podYAML, "nested"))
	other := t.TempDir()
	write(t, filepath.Join(other, "target.yaml"), fmt.Sprintf(podYAML, "linked"))
	if err := os.Symlink(filepath.Join(other, "target.yaml"), filepath.Join(dir, "link.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(dir, "dangling.yaml")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other, filepath.Join(dir, "linkdir")); err != nil {
		t.Fatal(err)
	}

	l := NewScanner().Scan(dir)
	if !l.Complete {
		t.Fatalf("listing incomplete: %s", l.Note)
	}
	files := byName(l)
	for _, name := range []string{"a.yaml", "link.yaml"} {
		if f := files[name]; f.Ignored != "" || f.ReadErr != nil || len(f.Content) == 0 || len(f.Digest) != 64 {
			t.Errorf("%s: %+v, want content", name, f)
		}
	}
	for _, name := range []string{"b.yaml~", ".a.yaml.swp", "4913", "notes.txt", "sub", "linkdir"} {
		if f, ok := files[name]; !ok || f.Ignored == "" {
			t.Errorf("%s: %+v, want ignored with a reason", name, f)
		}
	}
	if f := files["dangling.yaml"]; f.ReadErr == nil {
		t.Errorf("dangling symlink: want a read error, got %+v", f)
	}
	if _, ok := files["nested.yaml"]; ok {
		t.Error("subfolders must not be read")
	}
}

func TestScanCachesUnchangedFiles(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 10; i++ {
		write(t, filepath.Join(dir, fmt.Sprintf("p%d.yaml", i)), fmt.Sprintf(podYAML, fmt.Sprint(i)))
	}
	s := NewScanner()
	s.Scan(dir)
	if s.Reads() != 10 {
		t.Fatalf("first scan read %d files, want 10", s.Reads())
	}
	s.Scan(dir)
	if s.Reads() != 10 {
		t.Fatalf("relisting an unchanged folder read %d more files", s.Reads()-10)
	}
	// Same size, same mtime (restored), new content: ctime still changes.
	path := filepath.Join(dir, "p3.yaml")
	info, _ := os.Stat(path)
	time.Sleep(10 * time.Millisecond)
	write(t, path, fmt.Sprintf(podYAML, "x"))
	if err := os.Chtimes(path, info.ModTime(), info.ModTime()); err != nil {
		t.Fatal(err)
	}
	l := s.Scan(dir)
	if s.Reads() != 11 {
		t.Fatalf("rewrite with restored mtime: %d reads, want 11", s.Reads())
	}
	if !strings.Contains(string(byName(l)["p3.yaml"].Content), "name: x") {
		t.Fatal("stale content served")
	}
}

func TestScanMissingAndSingleFile(t *testing.T) {
	dir := t.TempDir()
	l := NewScanner().Scan(filepath.Join(dir, "missing"))
	if !l.Complete || len(l.Files) != 0 || !strings.Contains(l.Note, "does not exist") {
		t.Fatalf("missing root: %+v", l)
	}
	// A single file is read whatever its name.
	single := filepath.Join(dir, "pod.conf")
	write(t, single, fmt.Sprintf(podYAML, "single"))
	l = NewScanner().Scan(single)
	if len(l.Files) != 1 || l.Files[0].Ignored != "" || len(l.Files[0].Content) == 0 {
		t.Fatalf("single file: %+v", l)
	}
}

func TestScanTooLarge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "huge.yaml")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(manifest.MaxSize + 1); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s := NewScanner()
	l := s.Scan(dir)
	if got := l.Files[0].ReadErr; !errors.Is(got, manifest.ErrTooLarge) {
		t.Fatalf("ReadErr = %v, want ErrTooLarge", got)
	}
	if s.Reads() != 0 {
		t.Fatal("an oversized file was read")
	}
}

func TestScanUnreadableFolderIsIncomplete(t *testing.T) {
	if os.Geteuid() == 0 {
		// root reads mode-000 folders; use a file in place of a folder's
		// parent instead to make ReadDir fail.
		dir := t.TempDir()
		write(t, filepath.Join(dir, "file"), "")
		l := NewScanner().Scan(filepath.Join(dir, "file", "child"))
		if l.Complete {
			t.Fatalf("stat through a file: listing should be incomplete: %+v", l)
		}
		return
	}
	dir := t.TempDir()
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o755)
	if l := NewScanner().Scan(dir); l.Complete {
		t.Fatalf("unreadable folder: %+v", l)
	}
}

func BenchmarkScan1000(b *testing.B) {
	dir := b.TempDir()
	for i := 0; i < 1000; i++ {
		write(b, filepath.Join(dir, fmt.Sprintf("pod-%04d.yaml", i)), fmt.Sprintf(podYAML, fmt.Sprintf("pod-%04d", i)))
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			NewScanner().Scan(dir)
		}
	})
	b.Run("relist-unchanged", func(b *testing.B) {
		s := NewScanner()
		s.Scan(dir)
		for b.Loop() {
			s.Scan(dir)
		}
	})
}
