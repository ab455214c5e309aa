package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestKubeletFrontMode: the switch and its address, parsed from the file; the kubelet's staticPodURL (staticlet's
// own front, in this mode) is not read back as a source; its empty staticPodPath leaves the folder default.
func TestKubeletFrontMode(t *testing.T) {
	sc, err := ParseStaticletConfig("/etc/staticlet/config.yaml", []byte("apiVersion: staticlet.dev/v1alpha1\nkind: StaticletConfiguration\nmode: kubeletFront\nfront:\n  address: 127.0.0.1:9999\n"))
	if err != nil {
		t.Fatal(err)
	}
	ks := &KubeletSettings{StaticPodURL: "http://127.0.0.1:9999/pods", FileCheckFrequency: 20 * time.Second, HTTPCheckFrequency: time.Second}
	s, err := Resolve(ks, sc, Overrides{}, "node1")
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != ModeKubeletFront || s.FrontAddress != "127.0.0.1:9999" || s.StaticPodURL != "" || s.PodManifestPath != DefaultPodManifestPath {
		t.Errorf("settings: mode %q front %q staticPodURL %q folder %q", s.Mode, s.FrontAddress, s.StaticPodURL, s.PodManifestPath)
	}
	if s.HTTPCheckFrequency != time.Second {
		t.Errorf("httpCheckFrequency %s, want the kubelet's 1s (the front waits for its reads)", s.HTTPCheckFrequency)
	}

	s, err = Resolve(nil, StaticletConfiguration{}, Overrides{}, "node1")
	if err != nil || s.Mode != ModeStandalone || s.FrontAddress != DefaultFrontAddress {
		t.Errorf("defaults: mode %q front %q, %v", s.Mode, s.FrontAddress, err)
	}

	_, err = Resolve(nil, StaticletConfiguration{Mode: "kubelet", Front: FrontConfig{Address: "nowhere"}}, Overrides{}, "node1")
	if err == nil || !strings.Contains(err.Error(), "mode") || !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("unknown mode: %v", err)
	}
	_, err = Resolve(nil, StaticletConfiguration{Mode: ModeKubeletFront, Front: FrontConfig{Address: "nowhere"}, RegisterNode: true, Kubeconfig: "/k"}, Overrides{}, "node1")
	for _, field := range []string{"front.address", "registerNode"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}
