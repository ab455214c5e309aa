package config

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestNetworkSectionDefaults(t *testing.T) {
	s, err := Resolve(nil, StaticletConfiguration{StateDir: "/srv/staticlet"}, Overrides{}, "node1")
	if err != nil {
		t.Fatal(err)
	}
	if s.CNIConfDir != "/etc/cni/net.d" || !slices.Equal(s.CNIBinDirs, []string{"/opt/cni/bin", "/usr/lib/cni"}) || s.CNICacheDir != "/srv/staticlet/cni-cache" {
		t.Errorf("defaults: conf %q bin %q cache %q", s.CNIConfDir, s.CNIBinDirs, s.CNICacheDir)
	}
}

func TestNetworkSectionFromFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "staticlet.yaml")
	sc, err := ParseStaticletConfig(path, []byte(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
network:
  cniConfDir: net.d
  cniBinDirs: [/usr/local/cni, bin]
  cniCacheDir: /var/cache/cni
`))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(nil, sc, Overrides{}, "node1")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(path)
	if s.CNIConfDir != filepath.Join(dir, "net.d") || !slices.Equal(s.CNIBinDirs, []string{"/usr/local/cni", filepath.Join(dir, "bin")}) || s.CNICacheDir != "/var/cache/cni" {
		t.Errorf("relative paths not resolved against the file: conf %q bin %q cache %q", s.CNIConfDir, s.CNIBinDirs, s.CNICacheDir)
	}

	_, err = ParseStaticletConfig(path, []byte("apiVersion: staticlet.dev/v1alpha1\nkind: StaticletConfiguration\nnetwork:\n  cniConfDirs: /etc/cni/net.d\n"))
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "cniConfDirs") {
		t.Errorf("unknown network field: %v", err)
	}
	_, err = ParseStaticletConfig(path, []byte("apiVersion: staticlet.dev/v1alpha1\nkind: StaticletConfiguration\nnetwork:\n  cniBinDirs: /opt/cni/bin\n"))
	if !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("cniBinDirs as a string, not a list: %v", err)
	}
}

func TestNetworkSectionRejectsRelativePaths(t *testing.T) {
	// Paths from a file are made absolute; these come from no file.
	_, err := Resolve(nil, StaticletConfiguration{Network: NetworkConfig{CNIConfDir: "net.d", CNIBinDirs: []string{"bin"}, CNICacheDir: "cache"}}, Overrides{}, "node1")
	for _, field := range []string{"network.cniConfDir", "network.cniBinDirs", "network.cniCacheDir"} {
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}
