package plugintest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BuildC compiles a C plugin with Debian's clang and wasi-libc
// (`clang --target=wasm32-wasi -mexec-model=reactor`) plus flags, and
// returns the .wasm path. src is relative to the module root. The result is
// cached by the source, the flags and the header it includes from
// plugins/c-example.
func BuildC(t testing.TB, src string, flags ...string) string {
	t.Helper()
	args := append([]string{"--target=wasm32-wasi", "--sysroot=/usr", "-mexec-model=reactor", "-Wall", "-Werror"}, flags...)
	return buildTool(t, "clang", src, []string{"plugins/c-example/staticlet_plugin.h"}, func(out string) []string {
		return append(args, "-o", out, src)
	})
}

// BuildWat assembles a WebAssembly text module with wabt's wat2wasm plus
// flags (e.g. --no-check for a deliberately invalid module) and returns the
// .wasm path.
func BuildWat(t testing.TB, src string, flags ...string) string {
	t.Helper()
	return buildTool(t, "wat2wasm", src, nil, func(out string) []string {
		return append(append([]string{}, flags...), "-o", out, src)
	})
}

func buildTool(t testing.TB, tool, src string, deps []string, args func(out string) []string) string {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("plugintest: %s is not installed (make test-deps installs it): %v", tool, err)
	}
	root := ModuleRoot(t)
	h := sha256.New()
	fmt.Fprintf(h, "%s %q\n", tool, args("OUT"))
	for _, f := range append([]string{src}, deps...) {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatalf("plugintest: %v", err)
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	key := hex.EncodeToString(h.Sum(nil))
	out, built := cachedOutput(t, key, strings.TrimSuffix(filepath.Base(src), filepath.Ext(src)))
	if built {
		return out
	}
	defer mu.Unlock()
	tmp := out + fmt.Sprintf(".%d.tmp", os.Getpid())
	cmd := exec.Command(tool, args(tmp)...)
	cmd.Dir = root
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("plugintest: %s %s: %v\n%s", tool, src, err, output)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatal(err)
	}
	builds[key] = out
	return out
}
