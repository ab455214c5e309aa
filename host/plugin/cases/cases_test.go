package cases

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/plugin/plugintest"
)

// TestReferencePlugins runs every reference plugin, built from source,
// through its case folders.
func TestReferencePlugins(t *testing.T) {
	root := plugintest.ModuleRoot(t)
	for _, name := range []string{"deny-privileged", "allowed-registries", "require-limits", "add-labels", "name-template"} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(root, "plugins", name)
			settingsYAML, err := os.ReadFile(filepath.Join(dir, "settings.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			settings, err := yaml.YAMLToJSON(settingsYAML)
			if err != nil {
				t.Fatal(err)
			}
			list, err := Load(filepath.Join(dir, "testdata", "cases"))
			if err != nil {
				t.Fatal(err)
			}
			r := &Runner{Path: plugintest.BuildGo(t, "plugins/"+name, true), DefaultSettings: settings, Options: plugin.Options{CacheDir: plugintest.CacheDir()}}
			defer r.Close(context.Background())
			for _, c := range list {
				out, err := r.Run(context.Background(), c)
				if err != nil {
					t.Fatalf("%s: %v", c.Name, err)
				}
				if !out.Pass {
					t.Errorf("case %s:\n%s\nactual:\n%s", c.Name, out.Diff, out.Actual)
				}
			}
		})
	}
}

func TestFailingCaseShowsDiff(t *testing.T) {
	root := plugintest.ModuleRoot(t)
	list, err := Load(filepath.Join(root, "plugins", "add-labels", "testdata", "cases", "overwrite"))
	if err != nil || len(list) != 1 {
		t.Fatal(err)
	}
	c := list[0]
	c.File.Expect.Patch = []byte(`[{"op":"replace","path":"/metadata/labels/team","value":"infra"}]`)
	r := &Runner{Path: plugintest.BuildGo(t, "plugins/add-labels", true), Options: plugin.Options{CacheDir: plugintest.CacheDir()}}
	defer r.Close(context.Background())
	out, err := r.Run(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if out.Pass || !strings.Contains(out.Diff, "-   value: infra\n+   value: platform") {
		t.Fatalf("diff:\n%s", out.Diff)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "case.yaml"), []byte("operation: delete\n"), 0o644)
	if _, err := Load(dir); err == nil || !strings.Contains(err.Error(), `operation: invalid test case: "delete"`) {
		t.Fatalf("got %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil {
		t.Fatal("empty folder accepted")
	}
}

// TestCExample builds plugins/c-example with clang and wasi-libc and runs
// its cases: the ABI works from a language other than Go. It is skipped only
// when clang is missing and STATICLET_REQUIRE_INTEGRATION is not 1.
func TestCExample(t *testing.T) {
	clang, err := exec.LookPath("clang")
	if err != nil {
		if os.Getenv("STATICLET_REQUIRE_INTEGRATION") == "1" {
			t.Fatal("clang not found (apt-get install -y clang lld wasi-libc libclang-rt-14-dev-wasm32)")
		}
		t.Skip("clang not found; set STATICLET_REQUIRE_INTEGRATION=1 to fail instead")
	}
	dir := filepath.Join(plugintest.ModuleRoot(t), "plugins", "c-example")
	out := filepath.Join(t.TempDir(), "deny-host-network.wasm")
	cmd := exec.Command(clang, "--target=wasm32-wasi", "--sysroot=/usr", "-mexec-model=reactor", "-O2", "-Wall", "-Werror",
		"-o", out, filepath.Join(dir, "deny_host_network.c"))
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("clang: %v\n%s", err, output)
	}
	list, err := Load(filepath.Join(dir, "testdata", "cases"))
	if err != nil {
		t.Fatal(err)
	}
	r := &Runner{Path: out, Options: plugin.Options{CacheDir: plugintest.CacheDir()}}
	defer r.Close(context.Background())
	for _, c := range list {
		res, err := r.Run(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Pass {
			t.Errorf("case %s:\n%s", c.Name, res.Diff)
		}
	}
	if info := r.chains[""].Plugins()[0]; !info.Interruptible {
		t.Error("C module not instrumented for timeouts")
	}
}
