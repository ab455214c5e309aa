package plugintest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// OPA returns the path of the opa command that hack/opa/build.sh builds
// from the Go module proxy into /var/cache/staticlet (`make opa-deps`). A
// missing binary skips t, or fails it under STATICLET_REQUIRE_INTEGRATION=1.
func OPA(t testing.TB) string {
	t.Helper()
	root := ModuleRoot(t)
	out, err := exec.Command(filepath.Join(root, "hack", "opa", "build.sh"), "--path").Output()
	if err != nil {
		t.Fatalf("plugintest: hack/opa/build.sh --path: %v", err)
	}
	path := strings.TrimSpace(string(out))
	if info, err := os.Stat(path); err != nil || info.Mode()&0o111 == 0 {
		if os.Getenv("STATICLET_REQUIRE_INTEGRATION") == "1" {
			t.Fatalf("plugintest: no opa at %s: run `make opa-deps` (hack/opa/build.sh)", path)
		}
		t.Skipf("no opa at %s (make opa-deps builds it); set STATICLET_REQUIRE_INTEGRATION=1 to fail instead", path)
	}
	return path
}

// BuildOPA compiles Rego files (or folders) with `opa build -t wasm -e
// entrypoint` and returns the path of the bundle's policy.wasm, in a
// temporary folder of t.
func BuildOPA(t testing.TB, entrypoint string, sources ...string) string {
	t.Helper()
	opa := OPA(t)
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle.tar.gz")
	args := append([]string{"build", "-t", "wasm", "-e", entrypoint, "-o", bundle}, sources...)
	if output, err := exec.Command(opa, args...).CombinedOutput(); err != nil {
		t.Fatalf("plugintest: opa build -e %s: %v\n%s", entrypoint, err, output)
	}
	module, err := policyWasm(bundle)
	if err != nil {
		t.Fatalf("plugintest: %s: %v", bundle, err)
	}
	out := filepath.Join(dir, "policy.wasm")
	if err := os.WriteFile(out, module, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// policyWasm extracts /policy.wasm from an OPA bundle.
func policyWasm(bundle string) ([]byte, error) {
	f, err := os.Open(bundle)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, errors.New("no /policy.wasm in the bundle")
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimPrefix(h.Name, "/") == "policy.wasm" {
			return io.ReadAll(tr)
		}
	}
}

// EvalOPA runs `opa eval --format json --stdin-input -d source... query`
// on input and returns opa's JSON output.
func EvalOPA(t testing.TB, query string, input []byte, sources ...string) []byte {
	t.Helper()
	args := []string{"eval", "--format", "json", "--stdin-input"}
	for _, s := range sources {
		args = append(args, "-d", s)
	}
	cmd := exec.Command(OPA(t), append(args, query)...)
	cmd.Stdin = bytes.NewReader(input)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("plugintest: opa eval %s: %v\n%s", query, err, stderr.Bytes())
	}
	return out
}
