package file

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/staticlet/staticlet/host/manifest"
	"github.com/staticlet/staticlet/host/source"
)

// statKey identifies one version of a file's content without reading it.
// ctime is included because it changes on every write even when a tool
// restores the mtime.
type statKey struct {
	dev, ino   uint64
	size       int64
	mtimeNanos int64
	ctimeNanos int64
}

type cachedFile struct {
	key     statKey
	content []byte
	digest  string
}

// Scanner lists a root and remembers what it read, so that unchanged files
// are not read again. It is not safe for concurrent use; the watcher owns one.
type Scanner struct {
	cache map[string]cachedFile
	// reads counts file reads, for tests and benchmarks.
	reads int
}

// NewScanner returns a scanner with an empty cache.
func NewScanner() *Scanner { return &Scanner{cache: map[string]cachedFile{}} }

// Reads returns how many files the scanner has read so far.
func (s *Scanner) Reads() int { return s.reads }

// Scan lists root, which may be a folder, a single file or missing.
func (s *Scanner) Scan(root string) source.Listing {
	listing := source.Listing{Source: source.NameFile, Root: root, Complete: true}
	seen := map[string]bool{}
	defer s.prune(seen)

	info, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		listing.Note = "path does not exist; watching for it to appear"
		return listing
	case err != nil:
		listing.Complete = false
		listing.Note = fmt.Sprintf("stat %s: %v", root, err)
		return listing
	case !info.IsDir():
		// A single file named explicitly is read whatever its name.
		seen[root] = true
		listing.Files = []source.File{s.readFile(root)}
		return listing
	}

	entries, err := os.ReadDir(root)
	if err != nil {
		listing.Complete = false
		listing.Note = fmt.Sprintf("read folder %s: %v", root, err)
		return listing
	}
	for _, entry := range entries { // ReadDir sorts by name
		path := filepath.Join(root, entry.Name())
		if ok, why := manifest.ConsiderFile(entry.Name()); !ok {
			listing.Files = append(listing.Files, source.File{Source: source.NameFile, Path: path, Ignored: why})
			continue
		}
		mode := entry.Type()
		if mode&fs.ModeSymlink != 0 {
			target, err := os.Stat(path)
			if err != nil {
				listing.Files = append(listing.Files, source.File{Source: source.NameFile, Path: path, ReadErr: fmt.Errorf("follow symlink: %w", err)})
				continue
			}
			mode = target.Mode().Type()
		}
		switch {
		case mode.IsDir():
			listing.Files = append(listing.Files, source.File{Source: source.NameFile, Path: path, Ignored: "subfolder (subfolders are not read)"})
			continue
		case !mode.IsRegular():
			listing.Files = append(listing.Files, source.File{Source: source.NameFile, Path: path, Ignored: "not a regular file (" + mode.String() + ")"})
			continue
		}
		seen[path] = true
		listing.Files = append(listing.Files, s.readFile(path))
	}
	return listing
}

func (s *Scanner) prune(seen map[string]bool) {
	for path := range s.cache {
		if !seen[path] {
			delete(s.cache, path)
		}
	}
}

// readFile returns the file's content, from the cache when its stat key did
// not change.
func (s *Scanner) readFile(path string) source.File {
	f := source.File{Source: source.NameFile, Path: path}
	info, err := os.Stat(path)
	if err != nil {
		f.ReadErr = fmt.Errorf("stat: %w", err)
		return f
	}
	key := keyOf(info)
	if c, ok := s.cache[path]; ok && c.key == key {
		f.Content, f.Digest = c.content, c.digest
		return f
	}
	if info.Size() > manifest.MaxSize {
		f.ReadErr = &manifest.Error{Kind: manifest.ErrTooLarge, Reason: fmt.Sprintf("%d bytes, the limit is %d", info.Size(), manifest.MaxSize)}
		return f
	}
	content, key, err := s.read(path)
	if err != nil {
		f.ReadErr = err
		return f
	}
	sum := sha256.Sum256(content)
	f.Content, f.Digest = content, hex.EncodeToString(sum[:])
	s.cache[path] = cachedFile{key: key, content: content, digest: f.Digest}
	return f
}

// read reads at most manifest.MaxSize+1 bytes, taking the stat key from the
// open file so the key describes the bytes that were read.
func (s *Scanner) read(path string) ([]byte, statKey, error) {
	s.reads++
	fh, err := os.Open(path)
	if err != nil {
		return nil, statKey{}, fmt.Errorf("open: %w", err)
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return nil, statKey{}, fmt.Errorf("stat: %w", err)
	}
	content, err := io.ReadAll(io.LimitReader(fh, manifest.MaxSize+1))
	if err != nil {
		return nil, statKey{}, fmt.Errorf("read: %w", err)
	}
	if len(content) > manifest.MaxSize {
		return nil, statKey{}, &manifest.Error{Kind: manifest.ErrTooLarge, Reason: fmt.Sprintf("more than %d bytes", manifest.MaxSize)}
	}
	return content, keyOf(info), nil
}

func keyOf(info os.FileInfo) statKey {
	k := statKey{size: info.Size(), mtimeNanos: info.ModTime().UnixNano()}
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		k.dev, k.ino = uint64(st.Dev), st.Ino
		k.ctimeNanos = st.Ctim.Sec*1e9 + st.Ctim.Nsec
	}
	return k
}
