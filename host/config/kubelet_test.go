package config

import (
	"errors"
	"strings"
	"testing"
)

// TestContainerLogRotationSettings: containerLogMaxSize and
// containerLogMaxFiles with the kubelet's defaults (10Mi, 5) and
// validation, carried into Settings.
func TestContainerLogRotationSettings(t *testing.T) {
	const header = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
	defaults, err := ParseKubeletConfig("k.yaml", []byte(header))
	if err != nil {
		t.Fatal(err)
	}
	if defaults.ContainerLogMaxSize != 10<<20 || defaults.ContainerLogMaxFiles != 5 {
		t.Errorf("kubelet defaults: %d bytes, %d files", defaults.ContainerLogMaxSize, defaults.ContainerLogMaxFiles)
	}
	s, err := Resolve(nil, StaticletConfiguration{}, Overrides{}, "n1")
	if err != nil || s.ContainerLogMaxSize != 10<<20 || s.ContainerLogMaxFiles != 5 {
		t.Errorf("without a KubeletConfiguration: %d bytes, %d files, %v", s.ContainerLogMaxSize, s.ContainerLogMaxFiles, err)
	}
	for _, tc := range []struct {
		yaml  string
		size  int64
		files int32
	}{
		{"containerLogMaxSize: 1Mi\ncontainerLogMaxFiles: 3\n", 1 << 20, 3},
		{"containerLogMaxSize: 500k\n", 500_000, 5},
		{"containerLogMaxSize: \"2048\"\ncontainerLogMaxFiles: 2\n", 2048, 2},
	} {
		set, err := ParseKubeletConfig("k.yaml", []byte(header+tc.yaml))
		if err != nil {
			t.Fatalf("%q: %v", tc.yaml, err)
		}
		s, err := Resolve(&set, StaticletConfiguration{}, Overrides{}, "n1")
		if err != nil {
			t.Fatal(err)
		}
		if s.ContainerLogMaxSize != tc.size || s.ContainerLogMaxFiles != tc.files {
			t.Errorf("%q: %d bytes, %d files, want %d, %d", tc.yaml, s.ContainerLogMaxSize, s.ContainerLogMaxFiles, tc.size, tc.files)
		}
	}
	for _, tc := range []struct{ yaml, want string }{
		{"containerLogMaxSize: ten\n", `k.yaml: containerLogMaxSize: invalid configuration: "ten" is not a quantity`},
		{"containerLogMaxSize: \"0\"\n", `k.yaml: containerLogMaxSize: invalid configuration: "0" must be a positive number of bytes`},
		{"containerLogMaxSize: -1Mi\n", `k.yaml: containerLogMaxSize: invalid configuration: "-1Mi" must be a positive number of bytes`},
		{"containerLogMaxFiles: 1\n", "k.yaml: containerLogMaxFiles: invalid configuration: 1, must be at least 2"},
	} {
		_, err := ParseKubeletConfig("k.yaml", []byte(header+tc.yaml))
		if !errors.Is(err, ErrInvalidConfig) || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %s...", tc.yaml, err, tc.want)
		}
	}
}
