// Package plugintest builds real plugin .wasm files from Go source for
// tests and benchmarks: `GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared`,
// then the metadata section embedded as `make plugins` does. Builds are
// cached under the OS temp folder, keyed by a hash of the sources (the
// package's folder and the SDK) and the Go version, and done once per test
// binary. IO: it runs the go tool and reads and writes files.
package plugintest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/staticlet/staticlet/sdk/wasmmeta"
)

// ModuleRoot returns the root folder of the staticlet module, found from the
// current directory upwards.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(data), "module github.com/staticlet/staticlet\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("plugintest: cannot find the staticlet module root")
		}
		dir = parent
	}
}

var (
	mu     sync.Mutex
	builds = map[string]string{}
)

// CacheDir is a wazero compilation cache folder shared by test runs, so only
// the first run on a machine pays for compiling each module.
func CacheDir() string {
	return filepath.Join(os.TempDir(), "staticlet-test-wazero-cache")
}

// BuildGo builds the Go plugin in pkgDir (relative to the module root, e.g.
// "plugins/deny-privileged") and returns the .wasm path. withMetadata runs
// the package natively with the argument "metadata" and embeds the output.
func BuildGo(t testing.TB, pkgDir string, withMetadata bool) string {
	t.Helper()
	root := ModuleRoot(t)
	key, err := sourceKey(root, pkgDir, withMetadata)
	if err != nil {
		t.Fatalf("plugintest: hash sources of %s: %v", pkgDir, err)
	}
	out, built := cachedOutput(t, key, filepath.Base(pkgDir))
	if built {
		return out
	}
	defer mu.Unlock()
	tmp := out + fmt.Sprintf(".%d.tmp", os.Getpid())
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", tmp, "./"+pkgDir)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugintest: build %s: %v\n%s", pkgDir, err, output)
	}
	if withMetadata {
		meta := exec.Command("go", "run", "./"+pkgDir, "metadata")
		meta.Dir = root
		meta.Stderr = os.Stderr
		js, err := meta.Output()
		if err != nil {
			t.Fatalf("plugintest: metadata of %s: %v", pkgDir, err)
		}
		module, err := os.ReadFile(tmp)
		if err != nil {
			t.Fatal(err)
		}
		module, err = wasmmeta.Embed(module, []byte(strings.TrimSpace(string(js))))
		if err != nil {
			t.Fatalf("plugintest: embed metadata into %s: %v", pkgDir, err)
		}
		if err := os.WriteFile(tmp, module, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	builds[key] = out
	return out
}

// cachedOutput returns the cached build output for key and true, or, with
// mu held for the caller to release, the path to build it to and false.
func cachedOutput(t testing.TB, key, name string) (string, bool) {
	t.Helper()
	mu.Lock()
	if out, ok := builds[key]; ok {
		mu.Unlock()
		return out, true
	}
	outDir := filepath.Join(os.TempDir(), "staticlet-test-wasm")
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		mu.Unlock()
		t.Fatal(err)
	}
	out := filepath.Join(outDir, name+"-"+key[:16]+".wasm")
	if _, err := os.Stat(out); err == nil {
		builds[key] = out
		mu.Unlock()
		return out, true
	}
	return out, false
}

// sourceKey hashes every file under pkgDir and the SDK, the module files and
// the Go version.
func sourceKey(root, pkgDir string, withMetadata bool) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s %v\n", runtime.Version(), withMetadata)
	var files []string
	for _, dir := range []string{pkgDir, "sdk"} {
		err := filepath.WalkDir(filepath.Join(root, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(p, ".go") || strings.HasSuffix(p, ".mod")) {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	files = append(files, filepath.Join(root, "go.mod"))
	sort.Strings(files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", strings.TrimPrefix(f, root), len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
