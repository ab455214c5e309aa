package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSeedKubeletConfigLoadsVerbatim(t *testing.T) {
	ks, err := LoadKubeletConfig("testdata/seed-kubelet-config.yaml")
	if err != nil {
		t.Fatalf("seed config: %v", err)
	}
	if ks.StaticPodPath != "/etc/kubernetes/manifests" {
		t.Errorf("staticPodPath = %q", ks.StaticPodPath)
	}
	if ks.FileCheckFrequency != 20*time.Second || ks.HTTPCheckFrequency != 20*time.Second {
		t.Errorf("0s must mean the 20s default: file %s http %s", ks.FileCheckFrequency, ks.HTTPCheckFrequency)
	}
}

func TestKubeletConfigFields(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	content := `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
staticPodPath: manifests
fileCheckFrequency: 5s
httpCheckFrequency: 1m
staticPodURL: http://127.0.0.1:8080/pods
staticPodURLHeader:
  Authorization: ["Bearer x"]
clusterDNS: [10.96.0.10, "fd00::a"]
clusterDomain: cluster.local
someFutureField: {enabled: true}
`
	os.WriteFile(path, []byte(content), 0o644)
	ks, err := LoadKubeletConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if ks.StaticPodPath != filepath.Join(dir, "manifests") {
		t.Errorf("relative staticPodPath = %q, want it resolved against the file's folder", ks.StaticPodPath)
	}
	if ks.FileCheckFrequency != 5*time.Second || ks.HTTPCheckFrequency != time.Minute {
		t.Errorf("frequencies %s %s", ks.FileCheckFrequency, ks.HTTPCheckFrequency)
	}
	if ks.StaticPodURL != "http://127.0.0.1:8080/pods" || ks.StaticPodURLHeader["Authorization"][0] != "Bearer x" {
		t.Errorf("url settings %+v", ks)
	}
	if len(ks.ClusterDNS) != 2 || ks.ClusterDNS[0] != "10.96.0.10" || ks.ClusterDNS[1] != "fd00::a" || ks.ClusterDomain != "cluster.local" {
		t.Errorf("cluster DNS %q domain %q", ks.ClusterDNS, ks.ClusterDomain)
	}
}

func TestKubeletConfigErrors(t *testing.T) {
	cases := map[string]string{
		"kind: KubeletConfiguration\n":                                                                      "apiVersion",
		"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: Pod\n":                                            "kind",
		"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfileCheckFrequency: soon\n": "soon",
		"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nfileCheckFrequency: -5s\n":  "fileCheckFrequency",
		"apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nclusterDNS: [dns.local]\n":  "clusterDNS[0]",
		"[": "invalid configuration",
	}
	for content, want := range cases {
		_, err := ParseKubeletConfig("k.yaml", []byte(content))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "k.yaml") {
			t.Errorf("%q: error %v, want ErrInvalidConfig naming the file and %q", content, err, want)
		}
	}
}

func TestStaticletConfig(t *testing.T) {
	sc, err := LoadStaticletConfig("../../examples/staticlet.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(sc.KubeletConfig, "examples/kubelet-config.yaml") {
		t.Errorf("kubeletConfig not resolved against the file: %q", sc.KubeletConfig)
	}
	_, err = ParseStaticletConfig("s.yaml", []byte("apiVersion: staticlet.dev/v1alpha1\nkind: StaticletConfiguration\nnodeNmae: x\n"))
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "nodeNmae") {
		t.Errorf("unknown field: %v", err)
	}
	_, err = ParseStaticletConfig("s.yaml", []byte("apiVersion: staticlet.dev/v1\nkind: StaticletConfiguration\n"))
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "apiVersion") {
		t.Errorf("wrong version: %v", err)
	}
}

func TestResolvePrecedenceAndDefaults(t *testing.T) {
	ks := &KubeletSettings{StaticPodPath: "/from/kubelet", FileCheckFrequency: 7 * time.Second, HTTPCheckFrequency: 20 * time.Second}
	s, err := Resolve(ks, StaticletConfiguration{NodeName: "From-File"}, Overrides{}, "Host-Name")
	if err != nil {
		t.Fatal(err)
	}
	if s.NodeName != "from-file" || s.PodManifestPath != "/from/kubelet" || s.FileCheckFrequency != 7*time.Second {
		t.Errorf("settings %+v", s)
	}
	if s.ContainerdNamespace != "staticlet" || s.RemovalDelay != time.Second || s.LogLevel != "info" {
		t.Errorf("defaults %+v", s)
	}
	s, err = Resolve(ks, StaticletConfiguration{NodeName: "from-file", PodManifestPath: "/from/file"}, Overrides{NodeName: "flag", PodManifestPath: "/from/flag"}, "host")
	if err != nil || s.NodeName != "flag" || s.PodManifestPath != "/from/flag" {
		t.Errorf("flags must win: %+v %v", s, err)
	}
	s, _ = Resolve(nil, StaticletConfiguration{}, Overrides{}, "MyHost")
	if s.NodeName != "myhost" || s.PodManifestPath != "/etc/kubernetes/manifests" || s.FileCheckFrequency != 20*time.Second {
		t.Errorf("no files: %+v", s)
	}
}

func TestResolveReportsEveryBadField(t *testing.T) {
	_, err := Resolve(nil, StaticletConfiguration{Logging: LoggingConfig{Format: "xml", Level: "loud"}, Containerd: ContainerdConfig{Namespace: "Bad_NS"}}, Overrides{NodeName: "not a node"}, "")
	if err == nil {
		t.Fatal("want errors")
	}
	for _, field := range []string{"nodeName", "logging.format", "logging.level", "containerd.namespace"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
	if !errors.Is(err, ErrInvalidConfig) {
		t.Error("not ErrInvalidConfig")
	}
}

func TestPluginsSection(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "staticlet.yaml")
	os.WriteFile(path, []byte(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
stateDir: /var/lib/staticlet
plugins:
- name: allowed-registries
  path: plugins/allowed-registries.wasm
  settings:
    registries: [registry.k8s.io]
  failurePolicy: Fail
  mode: Enforce
  timeout: 500ms
  memoryLimit: 32Mi
  match:
    namespaces: [kube-system]
`), 0o644)
	sc, err := LoadStaticletConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(nil, sc, Overrides{}, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Plugins) != 1 || s.PluginBaseDir != dir || s.PluginCacheDir != "/var/lib/staticlet/plugin-cache" {
		t.Fatalf("settings %+v", s)
	}
	if string(s.Plugins[0].Settings) != `{"registries":["registry.k8s.io"]}` {
		t.Errorf("settings JSON = %s", s.Plugins[0].Settings)
	}
	sc.Plugins[0].Mode = "Sometimes"
	if _, err := Resolve(nil, sc, Overrides{}, "n1"); err == nil || !strings.Contains(err.Error(), "plugins[0].mode") {
		t.Errorf("bad mode: %v", err)
	}
}

func TestMetricsAddress(t *testing.T) {
	s, err := Resolve(nil, StaticletConfiguration{}, Overrides{}, "n1")
	if err != nil || s.MetricsAddress != DefaultMetricsAddress {
		t.Fatalf("default: %q %v", s.MetricsAddress, err)
	}
	if s, err := Resolve(nil, StaticletConfiguration{MetricsAddress: "off"}, Overrides{}, "n1"); err != nil || s.MetricsAddress != "off" {
		t.Fatalf("off: %v", err)
	}
	if _, err := Resolve(nil, StaticletConfiguration{MetricsAddress: "localhost"}, Overrides{}, "n1"); err == nil || !strings.Contains(err.Error(), "metricsAddress") {
		t.Fatalf("bad address: %v", err)
	}
}

func TestClusterDNSReachesSettings(t *testing.T) {
	ks, err := LoadKubeletConfig("testdata/seed-kubelet-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(&ks, StaticletConfiguration{}, Overrides{}, "worker-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.ClusterDNS) != 1 || s.ClusterDNS[0] != "10.96.0.10" || s.ClusterDomain != "cluster.local" {
		t.Fatalf("cluster DNS %v domain %q", s.ClusterDNS, s.ClusterDomain)
	}
}

// TestUnquotedDigestHint: YAML reads an all-digit sha256 as a number; the
// error says to quote it.
func TestUnquotedDigestHint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "staticlet.yaml")
	os.WriteFile(path, []byte(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
plugins:
- name: p
  path: p.wasm
  sha256: 1234567890123456789012345678901234567890123456789012345678901234
`), 0o644)
	sc, err := LoadStaticletConfig(path)
	if err == nil {
		_, err = Resolve(nil, sc, Overrides{}, "n1")
	}
	if err == nil || !strings.Contains(err.Error(), "plugins[0].sha256") || !strings.Contains(err.Error(), "quote it") {
		t.Errorf("error = %v", err)
	}
}
