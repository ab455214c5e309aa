package cni_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/network/cni"
	"github.com/staticlet/staticlet/internal/cnitest"
)

// This binary's pods live on 10.213.1.0/24.
const testOctet = 1

func newPlugins(t *testing.T, confDir string) *cni.Plugins {
	t.Helper()
	p, err := cni.New(cni.Config{ConfDir: confDir, BinDirs: cnitest.BinDirs, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsRelativePaths(t *testing.T) {
	_, err := cni.New(cni.Config{ConfDir: "net.d", BinDirs: []string{"bin"}, CacheDir: ""})
	if err == nil {
		t.Fatal("relative paths accepted")
	}
	for _, want := range []string{`conf dir "net.d"`, `bin dir "bin"`, "cache dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
}

func TestLoadNetworkPicksFirstValidFileInLexicalOrder(t *testing.T) {
	dir := t.TempDir()
	p := newPlugins(t, dir)

	if _, err := p.LoadNetwork(); !errors.Is(err, cni.ErrNoConfig) {
		t.Fatalf("empty dir: got %v, want ErrNoConfig", err)
	}
	if _, err := newPlugins(t, filepath.Join(dir, "missing")).LoadNetwork(); !errors.Is(err, cni.ErrNoConfig) {
		t.Fatalf("missing dir: got %v, want ErrNoConfig", err)
	}

	write(t, dir, "00-broken.conflist", `{"name": "broken", "plugins": [`)
	write(t, dir, "05-empty.conflist", `{"cniVersion": "1.0.0", "name": "empty", "plugins": []}`)
	write(t, dir, "README.md", `{"cniVersion": "1.0.0", "name": "not-a-conf", "type": "bridge"}`)
	_, err := p.LoadNetwork()
	if !errors.Is(err, cni.ErrNoConfig) {
		t.Fatalf("only invalid files: got %v, want ErrNoConfig", err)
	}
	if !strings.Contains(err.Error(), "00-broken.conflist") || !strings.Contains(err.Error(), "05-empty.conflist") {
		t.Errorf("error %q does not name the skipped files", err)
	}

	// A single plugin's .conf becomes a list of one.
	write(t, dir, "20-single.conf", `{"cniVersion": "1.0.0", "name": "single", "type": "bridge"}`)
	write(t, dir, "30-list.conflist", `{"cniVersion": "1.0.0", "name": "list", "plugins": [{"type": "bridge"}]}`)
	n, err := p.LoadNetwork()
	if err != nil {
		t.Fatal(err)
	}
	if n.Name != "single" || n.File != filepath.Join(dir, "20-single.conf") {
		t.Errorf("got network %s from %s, want single from 20-single.conf", n.Name, n.File)
	}

	// A list in a .json file, ahead in order, wins.
	write(t, dir, "10-list.json", `{"cniVersion": "1.0.0", "name": "json-list", "plugins": [{"type": "bridge"}, {"type": "portmap"}]}`)
	if n, err = p.LoadNetwork(); err != nil || n.Name != "json-list" {
		t.Errorf("got %v, %v; want json-list", n, err)
	}
}

func TestPortMappings(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "init", Ports: []corev1.ContainerPort{{ContainerPort: 53, HostPort: 5353, Protocol: corev1.ProtocolUDP}}}},
		Containers: []corev1.Container{{Name: "app", Ports: []corev1.ContainerPort{
			{ContainerPort: 80},
			{ContainerPort: 8080, HostPort: 18080, HostIP: "127.0.0.1"},
			{ContainerPort: 9000, HostPort: 19000, Protocol: corev1.ProtocolSCTP},
		}}},
	}}
	got := cni.PortMappings(pod)
	want := []cni.PortMapping{
		{HostPort: 5353, ContainerPort: 53, Protocol: "udp"},
		{HostPort: 18080, ContainerPort: 8080, Protocol: "tcp", HostIP: "127.0.0.1"},
		{HostPort: 19000, ContainerPort: 9000, Protocol: "sctp"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

func testPod(netns, uid string) cni.Pod {
	return cni.Pod{Namespace: "default", Name: "web", UID: uid, SandboxID: uid, NetNS: netns,
		PortMappings: []cni.PortMapping{{HostPort: 31080, ContainerPort: 80, Protocol: "tcp"}},
		Annotations:  map[string]string{"a": "b"}}
}

// TestSetupTeardownRealPlugins attaches a namespace with the real bridge,
// host-local and portmap plugins, then detaches it twice: once normally,
// once more as a retried teardown would.
func TestSetupTeardownRealPlugins(t *testing.T) {
	n := cnitest.New(t, testOctet)
	p := newPlugins(t, n.ConfDir)
	netns := cnitest.NewNetNS(t)
	pod := testPod(netns, "uid-setup")

	network, err := p.LoadNetwork()
	if err != nil {
		t.Fatal(err)
	}
	att, err := p.Setup(ctx(t), network, pod)
	if err != nil {
		t.Fatal(err)
	}
	if att.Network != n.Name || len(att.IPs) != 1 || !strings.HasPrefix(att.IPs[0], n.Prefix) {
		t.Fatalf("attachment %+v: want one IP in %s on %s", att, n.Subnet, n.Name)
	}
	out, err := cnitest.InNetNS(netns, "ip", "-4", "-o", "addr", "show", "dev", cni.IfName)
	if err != nil || !strings.Contains(out, att.IPs[0]+"/24") {
		t.Errorf("eth0 in the namespace: %v: %s; want %s", err, out, att.IPs[0])
	}
	if got := n.AllocatedIPs(t); !slices.Equal(got, att.IPs) {
		t.Errorf("host-local holds %v, want %v", got, att.IPs)
	}
	if n.BridgePorts(t) != 1 {
		t.Errorf("bridge has %d ports, want the pod's veth", n.BridgePorts(t))
	}
	if rules := cnitest.NATRules(t); !strings.Contains(rules, "--dports 31080") || !strings.Contains(rules, att.IPs[0]+":80") {
		t.Errorf("no portmap DNAT rule for hostPort 31080 to %s:80 in:\n%s", att.IPs[0], rules)
	}

	// DEL comes from the cache: it works with the conf dir emptied.
	if err := os.Remove(filepath.Join(n.ConfDir, "10-test.conflist")); err != nil {
		t.Fatal(err)
	}
	if err := p.Teardown(ctx(t), pod); err != nil {
		t.Fatal(err)
	}
	if got := n.AllocatedIPs(t); len(got) != 0 {
		t.Errorf("host-local still holds %v after teardown", got)
	}
	if n.BridgePorts(t) != 0 {
		t.Errorf("bridge still has %d ports after teardown", n.BridgePorts(t))
	}
	if rules := cnitest.NATRules(t); strings.Contains(rules, "--dports 31080") {
		t.Errorf("portmap rule for 31080 left after teardown:\n%s", rules)
	}
	if err := p.Teardown(ctx(t), pod); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

// TestTeardownWithoutNamespace detaches a pod whose namespace is gone (a
// reboot, a failed earlier teardown): the IP is released all the same.
func TestTeardownWithoutNamespace(t *testing.T) {
	n := cnitest.New(t, testOctet)
	p := newPlugins(t, n.ConfDir)
	dir := t.TempDir()
	netns := cnitest.NewNetNS(t)
	pod := testPod(netns, "uid-nons")
	network, err := p.LoadNetwork()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Setup(ctx(t), network, pod); err != nil {
		t.Fatal(err)
	}
	// The namespace dies with its mount: the veth pair goes with it.
	if err := unix.Unmount(netns, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{netns, filepath.Join(dir, "never-existed")} {
		pod.NetNS = path
		if err := p.Teardown(ctx(t), pod); err != nil {
			t.Fatalf("teardown with netns %s: %v", path, err)
		}
	}
	if got := n.AllocatedIPs(t); len(got) != 0 {
		t.Errorf("host-local still holds %v", got)
	}
}

// TestSetupFailureLeavesNothing chains a plugin that is not installed after
// bridge: ADD fails naming it, and what bridge and host-local did is undone.
func TestSetupFailureLeavesNothing(t *testing.T) {
	n := cnitest.New(t, testOctet)
	conf := map[string]any{
		"cniVersion": "1.0.0", "name": n.Name,
		"plugins": []any{
			map[string]any{"type": "bridge", "bridge": n.Bridge, "isGateway": true, "ipam": map[string]any{
				"type": "host-local", "dataDir": n.DataDir, "ranges": [][]map[string]string{{{"subnet": n.Subnet}}},
			}},
			map[string]any{"type": "staticlet-no-such-plugin"},
		},
	}
	n.WriteConf(t, "10-test.conflist", conf)
	p := newPlugins(t, n.ConfDir)
	network, err := p.LoadNetwork()
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Setup(ctx(t), network, testPod(cnitest.NewNetNS(t), "uid-fail"))
	if !errors.Is(err, cni.ErrSetup) || !strings.Contains(err.Error(), "staticlet-no-such-plugin") {
		t.Fatalf("got %v, want ErrSetup naming the missing plugin", err)
	}
	t.Log(err)
	if got := n.AllocatedIPs(t); len(got) != 0 {
		t.Errorf("host-local still holds %v after a failed ADD", got)
	}
	if n.BridgePorts(t) != 0 {
		t.Errorf("a veth is left on the bridge after a failed ADD")
	}
}

// TestCapabilityArgsReachPlugins: a plugin that declares the portMappings
// and dns capabilities gets the pod's host ports and resolver configuration
// in runtimeConfig, as containerd's CRI plugin passes them.
func TestCapabilityArgsReachPlugins(t *testing.T) {
	confDir, binDir := t.TempDir(), t.TempDir()
	stdin := filepath.Join(binDir, "stdin.json")
	write(t, binDir, "recorder", "#!/bin/sh\nif [ \"$CNI_COMMAND\" = ADD ]; then cat > "+stdin+
		"; echo '{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.99.0.5/24\"}]}'; fi\n")
	if err := os.Chmod(filepath.Join(binDir, "recorder"), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, confDir, "10-rec.conflist", `{"cniVersion":"1.0.0","name":"rec","plugins":[{"type":"recorder","capabilities":{"dns":true,"portMappings":true}}]}`)
	p, err := cni.New(cni.Config{ConfDir: confDir, BinDirs: []string{binDir}, CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	network, err := p.LoadNetwork()
	if err != nil {
		t.Fatal(err)
	}
	pod := testPod(cnitest.NewNetNS(t), "uid-caps")
	pod.DNS = &cni.DNS{Servers: []string{"10.96.0.10"}, Searches: []string{"default.svc.cluster.local"}, Options: []string{"ndots:5"}}
	att, err := p.Setup(ctx(t), network, pod)
	if err != nil {
		t.Fatal(err)
	}
	if len(att.IPs) != 1 || att.IPs[0] != "10.99.0.5" {
		t.Errorf("attachment %+v", att)
	}
	data, err := os.ReadFile(stdin)
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		RuntimeConfig struct {
			DNS          cni.DNS           `json:"dns"`
			PortMappings []cni.PortMapping `json:"portMappings"`
		} `json:"runtimeConfig"`
	}
	if err := json.Unmarshal(data, &conf); err != nil {
		t.Fatalf("plugin stdin %s: %v", data, err)
	}
	if got := conf.RuntimeConfig; !slices.Equal(got.DNS.Servers, pod.DNS.Servers) || !slices.Equal(got.DNS.Searches, pod.DNS.Searches) ||
		!slices.Equal(got.DNS.Options, pod.DNS.Options) || !slices.Equal(got.PortMappings, pod.PortMappings) {
		t.Errorf("runtimeConfig %+v, want dns %+v and portMappings %+v", got, *pod.DNS, pod.PortMappings)
	}
	if err := p.Teardown(ctx(t), pod); err != nil {
		t.Errorf("teardown: %v", err)
	}
}
