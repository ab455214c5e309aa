// Package kubeletnode gives integration tests the real kubelet v1.37.2 as a node of a test cluster
// (internal/testenv/kubeapi), for the tests that put staticlet next to a kubelet or compare the two.
//
// It owns the lifetime of one kubelet per Start: hack/kubelet/node.sh runs it on a private CRI containerd
// in a mount namespace of its own, with a KubeletConfiguration for these machines (cgroup v1 allowed,
// cgroupfs, swap allowed, a cgroupRoot of its own), reading static pods from a folder and/or a URL, as the
// cluster's node identity or the other one. By default its kubelet API listens on 127.0.0.1 with a
// self-signed certificate and no authorization; with Options.ServeAPI it listens on the Node's InternalIP
// (the host's, as the kubelet itself would pick it) with a serving certificate signed by the cluster CA,
// x509 client certificates verified against that CA and Webhook authorization, as a kubeadm node's kubelet
// does, so the API server can reach it for kubectl logs, exec, attach, port-forward and the node proxy.
// The kubelet is stopped when the test ends (node.sh then kills and removes every container).
//
// When the kubelet cannot be run (not root, tools missing, the build failed) the test skips with the
// reason, or fails when STATICLET_REQUIRE_INTEGRATION=1; with -short it always skips.
//
// IO: runs hack/kubelet/build.sh (which may build the kubelet once per machine) and hack/kubelet/node.sh,
// writes the images (package ociimage), the configuration and certificates under a temporary folder it
// deletes at the end, reads the cluster CA's files and the host's network interfaces.
package kubeletnode

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/staticlet/staticlet/internal/testenv"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
	"github.com/staticlet/staticlet/internal/testenv/ociimage"
)

// stopTimeout bounds node.sh's stop after SIGTERM (the kubelet, then every container, then containerd).
const stopTimeout = 90 * time.Second

// Options says how Start runs the kubelet.
type Options struct {
	// NodeName and Kubeconfig are the node identity it runs as: the cluster's NodeName and NodeKubeconfig
	// (worker-1) when empty, or its OtherNodeName and OtherNodeKubeconfig (worker-2).
	NodeName, Kubeconfig string
	// StaticPodPath and StaticPodURL are where it reads static pods (staticPodPath, staticPodURL): a
	// folder, a URL, or both.
	StaticPodPath, StaticPodURL string
	// ServeAPI makes its kubelet API reachable by the API server (see the package comment).
	ServeAPI bool
}

// Node is a running kubelet.
type Node struct {
	// Name is the node's name.
	Name string
	// Address and Port are where its kubelet API listens; Address is the Node's InternalIP with
	// Options.ServeAPI, 127.0.0.1 without.
	Address string
	Port    int
	// Dir is node.sh's state folder: kubelet.log and containerd.log are there.
	Dir string

	cmd *exec.Cmd
}

// need skips the test when a component is missing, or fails it with STATICLET_REQUIRE_INTEGRATION=1.
func need(t testing.TB, what string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	if testenv.RequireIntegration() {
		t.Fatalf("%s=1 but %s is unavailable: %v", testenv.EnvRequireIntegration, what, err)
	}
	t.Skipf("skipping: %s is unavailable: %v (set %s=1 to fail instead)", what, err, testenv.EnvRequireIntegration)
}

// Require skips (or fails, see the package comment) a test that cannot run a kubelet here: call it
// before starting anything slow. It builds the kubelet when the machine has none cached.
func Require(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short skips tests that run a kubelet")
	}
	if os.Geteuid() != 0 {
		need(t, "root", fmt.Errorf("running as uid %d", os.Geteuid()))
	}
	for _, tool := range []string{"unshare", "containerd", "ctr", "runc"} {
		_, err := exec.LookPath(tool)
		need(t, tool, err)
	}
	out, err := exec.Command(script(t, "build.sh")).CombinedOutput()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, bytes.TrimSpace(out))
	}
	need(t, "the kubelet v1.37.2 build (hack/kubelet/build.sh)", err)
}

func script(t testing.TB, name string) string {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "hack", "kubelet", name)
}

// Images writes the busybox image (staticlet.test/busybox:latest) and the sandbox image
// (staticlet.test/pause:1, sleeping as PID 1) into dir as archives for node.sh to import, and returns
// their paths.
func Images(t testing.TB, dir string) []string {
	t.Helper()
	var paths []string
	for _, opts := range []ociimage.Options{
		{Name: ociimage.DefaultName},
		{Name: "staticlet.test/pause:1", Applets: []string{"sleep"}, Cmd: []string{"sleep", "2147483647"}},
	} {
		var buf bytes.Buffer
		if _, err := ociimage.Build(&buf, opts); err != nil {
			need(t, "busybox-static", err)
		}
		path := filepath.Join(dir, strings.NewReplacer("/", "_", ":", "_").Replace(opts.Name)+".tar")
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

// Start runs the kubelet as opts says, until the test ends. It returns once node.sh is started: the
// kubelet registers its Node and runs its static pods some seconds later (about 20 here).
func Start(t testing.TB, c *kubeapi.Cluster, opts Options) *Node {
	t.Helper()
	Require(t)
	if opts.NodeName == "" {
		opts.NodeName, opts.Kubeconfig = c.NodeName, c.NodeKubeconfig
	}
	// node.sh's socket path (STATE_DIR/containerd.sock.ttrpc) must fit in 107 bytes: a short folder.
	dir, err := os.MkdirTemp("", "kl-")
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{Name: opts.NodeName, Address: "127.0.0.1", Port: testenv.FreePort(t), Dir: dir}
	server := `address: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
authorization:
  mode: AlwaysAllow
`
	if opts.ServeAPI {
		ip, err := utilnet.ChooseHostInterface()
		if err != nil {
			t.Fatalf("kubeletnode: the host's IP for the Node: %v", err)
		}
		n.Address = ip.String()
		cert, key := servingCertificate(t, c, dir, opts.NodeName, ip)
		server = fmt.Sprintf(`address: %s
tlsCertFile: %s
tlsPrivateKeyFile: %s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: %s}
authorization:
  mode: Webhook
`, n.Address, cert, key, c.CACert)
	}
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /staticlet-kubelet-%d-%s
failSwapOn: false
staticPodPath: %q
staticPodURL: %q
fileCheckFrequency: 20s
httpCheckFrequency: 1s
containerRuntimeEndpoint: unix://%s/containerd.sock
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
%sevictionHard: {memory.available: "0%%", nodefs.available: "0%%", imagefs.available: "0%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
enforceNodeAllocatable: []
`, os.Getpid(), opts.NodeName, opts.StaticPodPath, opts.StaticPodURL, dir, n.Port, testenv.FreePort(t), server)
	configPath := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", dir, opts.Kubeconfig, opts.NodeName, configPath}, Images(t, dir)...)
	cmd := exec.Command(script(t, "node.sh"), args...)
	if opts.ServeAPI {
		cmd.Env = append(os.Environ(), "NODE_SH_NODE_IP="+n.Address)
	}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd = cmd
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *Node) stop(t testing.TB) {
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- n.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
		<-done
		t.Errorf("node.sh did not stop within %s of SIGTERM", stopTimeout)
	}
	if t.Failed() {
		tail(t, filepath.Join(n.Dir, "kubelet.log"), 40)
		tail(t, filepath.Join(n.Dir, "containerd.log"), 10)
	}
	_ = os.RemoveAll(n.Dir)
}

func tail(t testing.TB, path string, lines int) {
	data, err := os.ReadFile(path)
	if err != nil {
		return
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	t.Logf("last lines of %s:\n%s", path, strings.Join(all, "\n"))
}

// servingCertificate issues the kubelet's serving certificate for ip and node, signed by the cluster CA
// (what kube-controller-manager would sign for its kubernetes.io/kubelet-serving request), and writes
// the pair into dir.
func servingCertificate(t testing.TB, c *kubeapi.Cluster, dir, node string, ip net.IP) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := c.IssueKubeletServing(t, pkix.Name{CommonName: "system:node:" + node, Organization: []string{"system:nodes"}},
		[]string{node}, []net.IP{ip}, key.Public(), 24*time.Hour)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath = filepath.Join(dir, "serving.crt"), filepath.Join(dir, "serving.key")
	if err := os.WriteFile(certPath, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}
