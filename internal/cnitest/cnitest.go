// Package cnitest gives tests a real CNI network: Debian's
// containernetworking-plugins (bridge with host-local IPAM, then portmap)
// on a bridge named after the test binary and a private subnet the caller
// picks, so parallel test binaries stay apart. It also makes bare network
// namespaces and runs commands inside them.
//
// IO: writes a conf dir, a cache dir and host-local's store under the
// test's temp dirs; creates and deletes network namespaces (bind mounts),
// the bridge and, once no pod uses them, portmap's shared iptables chains;
// runs ip, iptables and nsenter.
package cnitest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/staticlet/staticlet/internal/testenv"
)

// BinDirs are where Debian's (and upstream's) plugins are.
var BinDirs = []string{"/opt/cni/bin", "/usr/lib/cni"}

// Network is one test binary's pod network.
type Network struct {
	Name                       string
	ConfDir, CacheDir, DataDir string
	// Bridge is the host's bridge; Gateway is its address, the pods'
	// default route.
	Bridge, Gateway string
	// Subnet is 10.213.<octet>.0/24; Prefix is "10.213.<octet>.".
	Subnet, Prefix string
}

// Require skips t (fails it under STATICLET_REQUIRE_INTEGRATION=1) unless
// it runs as root with the bridge, host-local and portmap plugins and
// iptables installed.
func Require(t testing.TB) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, p := range []string{"bridge", "host-local", "portmap"} {
		found := false
		for _, d := range BinDirs {
			if _, err := os.Stat(filepath.Join(d, p)); err == nil {
				found = true
			}
		}
		if !found {
			missing = append(missing, "CNI plugin "+p+" (Debian's containernetworking-plugins)")
		}
	}
	for _, bin := range []string{"iptables", "ip", "nsenter"} {
		if _, err := exec.LookPath(bin); err != nil {
			missing = append(missing, bin)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "cnitest: needs " + strings.Join(missing, ", ")
	if testenv.RequireIntegration() {
		t.Fatalf("%s=1 but %s", testenv.EnvRequireIntegration, msg)
	}
	t.Skip(msg)
}

// New writes a bridge + host-local + portmap conflist for the subnet
// 10.213.<octet>.0/24 into a fresh conf dir; the bridge is deleted and
// portmap's chains removed when t ends, pass or fail.
func New(t testing.TB, octet int) Network {
	t.Helper()
	Require(t)
	n := Network{
		Name:     fmt.Sprintf("stl-test-%d", os.Getpid()),
		ConfDir:  t.TempDir(),
		CacheDir: t.TempDir(),
		DataDir:  t.TempDir(),
		// Linux interface names have at most 15 characters.
		Bridge:  fmt.Sprintf("stl%d", os.Getpid()%1_000_000_000),
		Prefix:  fmt.Sprintf("10.213.%d.", octet),
		Subnet:  fmt.Sprintf("10.213.%d.0/24", octet),
		Gateway: fmt.Sprintf("10.213.%d.1", octet),
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       n.Name,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": n.Bridge, "isGateway": true, "ipMasq": false, "hairpinMode": true,
				"ipam": map[string]any{
					"type": "host-local", "dataDir": n.DataDir,
					"ranges": [][]map[string]string{{{"subnet": n.Subnet, "gateway": n.Gateway}}},
					"routes": []map[string]string{{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}, "snat": true},
		},
	}
	n.WriteConf(t, "10-test.conflist", conf)
	t.Cleanup(func() { n.cleanup(t) })
	return n
}

// WriteConf writes conf as JSON into the conf dir under name.
func (n Network) WriteConf(t testing.TB, name string, conf any) {
	t.Helper()
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(n.ConfDir, name), data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// AllocatedIPs lists the addresses host-local holds for the network.
func (n Network) AllocatedIPs(t testing.TB) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(n.DataDir, n.Name))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var ips []string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), n.Prefix) {
			ips = append(ips, e.Name())
		}
	}
	return ips
}

// BridgePorts counts the interfaces attached to the bridge (the pods'
// veths).
func (n Network) BridgePorts(t testing.TB) int {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("/sys/class/net", n.Bridge, "brif"))
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return len(entries)
}

// NATRules is `iptables -t nat -S` for finding portmap's rules.
func NATRules(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("iptables", "-w", "-t", "nat", "-S").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables -t nat -S: %v: %s", err, out)
	}
	return string(out)
}

func (n Network) cleanup(t testing.TB) {
	if out, err := exec.Command("ip", "link", "del", n.Bridge).CombinedOutput(); err != nil && !strings.Contains(string(out), "Cannot find device") {
		t.Logf("cnitest: delete bridge %s: %v: %s", n.Bridge, err, out)
	}
	removePortmapChains(t)
}

// portmap's chains are shared by every pod (and every test binary) on the
// host: they go only when no rule is left in them, as a node without
// hostPort pods would have none.
var portmapChains = []string{"CNI-HOSTPORT-DNAT", "CNI-HOSTPORT-SNAT", "CNI-HOSTPORT-MASQ", "CNI-HOSTPORT-SETMARK"}

func removePortmapChains(t testing.TB) {
	rules := NATRules(t)
	if strings.Contains(rules, "-N CNI-DN-") {
		return // some pod's hostPort is still mapped
	}
	for _, line := range strings.Split(rules, "\n") {
		rule, ok := strings.CutPrefix(line, "-A ")
		if !ok || strings.HasPrefix(rule, "CNI-") || !strings.Contains(rule, "-j CNI-HOSTPORT-") {
			continue
		}
		// iptables -S quotes its output for a shell (comments have spaces).
		if out, err := exec.Command("sh", "-c", "iptables -w -t nat -D "+rule).CombinedOutput(); err != nil {
			t.Logf("cnitest: iptables -t nat -D %s: %v: %s", rule, err, out)
		}
	}
	for _, op := range []string{"-F", "-X"} {
		for _, c := range portmapChains {
			if strings.Contains(rules, "-N "+c+"\n") {
				if out, err := exec.Command("iptables", "-w", "-t", "nat", op, c).CombinedOutput(); err != nil {
					t.Logf("cnitest: iptables -t nat %s %s: %v: %s", op, c, err, out)
				}
			}
		}
	}
}

// NewNetNS creates a network namespace with loopback down, bind-mounted on
// a file in a temp dir of t, and released when t ends.
func NewNetNS(t testing.TB) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "net")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	errc := make(chan error, 1)
	go func() {
		// The thread enters the new namespace and is never unlocked, so
		// the Go runtime ends it instead of reusing it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- err
			return
		}
		errc <- unix.Mount(fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid()), path, "", unix.MS_BIND, "")
	}()
	if err := <-errc; err != nil {
		t.Fatalf("cnitest: new netns: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(path, unix.MNT_DETACH) })
	return path
}

// InNetNS runs a command inside the network namespace at path.
func InNetNS(path string, args ...string) (string, error) {
	out, err := exec.Command("nsenter", append([]string{"--net=" + path, "--"}, args...)...).CombinedOutput()
	return string(out), err
}

// CountingBinDir returns a bin dir to put first in a runtime's bin dirs,
// with a wrapper of the real plugin named plugin that appends
// "$CNI_COMMAND $CNI_CONTAINERID" to a log before running it, and the
// log's path: tests count ADDs and DELs with it.
func CountingBinDir(t testing.TB, plugin string) (dir, log string) {
	t.Helper()
	real := ""
	for _, d := range BinDirs {
		if _, err := os.Stat(filepath.Join(d, plugin)); err == nil && real == "" {
			real = filepath.Join(d, plugin)
		}
	}
	if real == "" {
		t.Fatalf("cnitest: no plugin %s in %v", plugin, BinDirs)
	}
	dir = t.TempDir()
	log = filepath.Join(dir, plugin+".log")
	script := fmt.Sprintf("#!/bin/sh\necho \"$CNI_COMMAND $CNI_CONTAINERID\" >> %q\nexec %q\n", log, real)
	if err := os.WriteFile(filepath.Join(dir, plugin), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir, log
}

// Calls counts the lines of a CountingBinDir log that start with prefix
// ("ADD", "DEL" or "ADD <sandbox id>").
func Calls(t testing.TB, log, prefix string) int {
	t.Helper()
	data, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}
