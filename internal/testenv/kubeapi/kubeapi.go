// Package kubeapi gives integration tests a real control plane: Debian's etcd-server and kube-apiserver
// v1.37.2 on 127.0.0.1, with --authorization-mode=Node,RBAC and the NodeRestriction admission plugin.
//
// It owns the lifetime of one private cluster per test binary: Start starts it on first use through
// hack/kube-apiserver/cluster.sh in a fresh temporary state directory (the script installs etcd-server
// and builds kube-apiserver once per machine when they are missing), and Main, called from the
// package's TestMain, purges it when the tests end. The script also watches the test binary's pid, so
// a binary that dies without running Main's cleanup leaves nothing behind.
//
// When the cluster cannot be had the tests that asked for it skip with the reason, or fail when
// STATICLET_REQUIRE_INTEGRATION=1. With -short they always skip.
//
// IO: runs bash with the script (which may apt-get install etcd-server and build kube-apiserver),
// creates and deletes the state directory, and reads the kubeconfig files the script writes.
package kubeapi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/staticlet/staticlet/internal/testenv"
)

const (
	scriptPath = "hack/kube-apiserver/cluster.sh"
	// startTimeout bounds the script's start, which may have to build kube-apiserver first (about 11
	// minutes cold on 2 cores) and install etcd-server.
	startTimeout = 40 * time.Minute
)

// ErrUnavailable is wrapped by every reason the cluster could not be had.
var ErrUnavailable = errors.New("kube-apiserver unavailable")

// Cluster is a running private control plane.
type Cluster struct {
	// URL is the API server's https address.
	URL string
	// AdminKubeconfig is a system:masters identity for the tests' own assertions and setup.
	AdminKubeconfig string
	// NodeName and NodeKubeconfig are the identity system:node:NodeName (group system:nodes) that
	// staticlet runs with.
	NodeName       string
	NodeKubeconfig string
	// OtherNodeName and OtherNodeKubeconfig are a second node's identity.
	OtherNodeName       string
	OtherNodeKubeconfig string
	// UserKubeconfig is CN=staticlet-test-user with no group: RBAC grants it nothing until a test does.
	UserKubeconfig string
	// CACert and CAKey are the cluster CA's PEM files: the CA that signs every client certificate, the
	// one the API server verifies kubelet serving certificates against, and the one a test signs a
	// node's kubernetes.io/kubelet-serving CertificateSigningRequest with (kube-controller-manager's
	// csrsigning job, which this control plane does not run).
	CACert, CAKey string

	script   string
	stateDir string
}

type daemon struct {
	once    sync.Once
	cluster *Cluster
	err     error
}

var (
	mainCalled atomic.Bool
	private    daemon
	// apiserverMu serialises StopAPIServer/StartAPIServer across parallel tests.
	apiserverMu sync.Mutex
)

// Main runs the package's tests, then purges the private cluster if a test started one. Call it from
// TestMain: func TestMain(m *testing.M) { kubeapi.Main(m) }.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if c := private.cluster; c != nil {
		if _, err := c.run("purge"); err != nil {
			fmt.Fprintf(os.Stderr, "kubeapi: %v\n", err)
			if code == 0 {
				code = 1
			}
		}
	}
	os.Exit(code)
}

// PurgeOnExit is for a package whose TestMain must call another harness's Main (testenv.Main, which exits):
// call it first, and the cluster is purged by the script's watcher within a second of the binary's exit.
func PurgeOnExit() { mainCalled.Store(true) }

// Start returns this test binary's private cluster, started on first use.
func Start(t testing.TB) *Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("kubeapi: skipping: -short skips tests that need kube-apiserver")
	}
	if !mainCalled.Load() {
		t.Fatal("kubeapi.Start: the package's TestMain must call kubeapi.Main(m), which stops the cluster after the tests")
	}
	private.once.Do(private.start)
	if private.err != nil {
		if testenv.RequireIntegration() {
			t.Fatalf("kubeapi: %s=1 but %v", testenv.EnvRequireIntegration, private.err)
		}
		t.Skipf("kubeapi: skipping: %v (set %s=1 to fail instead)", private.err, testenv.EnvRequireIntegration)
	}
	return private.cluster
}

func (d *daemon) start() {
	if uid := os.Geteuid(); uid != 0 {
		d.err = fmt.Errorf("%w: installing etcd-server and the cache folder need root, running as uid %d", ErrUnavailable, uid)
		return
	}
	root, err := testenv.RepoRoot()
	if err != nil {
		d.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		return
	}
	dir, err := os.MkdirTemp("", "staticlet-kubeapi-")
	if err != nil {
		d.err = fmt.Errorf("%w: create state dir: %w", ErrUnavailable, err)
		return
	}
	c := &Cluster{script: filepath.Join(root, scriptPath), stateDir: dir}
	d.cluster = c
	if _, err := c.run("start", "CLUSTER_SH_OWNER_PID="+strconv.Itoa(os.Getpid())); err != nil {
		d.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		return
	}
	out, err := c.run("env")
	if err != nil {
		d.err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		return
	}
	env := testenv.ParseEnv(out)
	c.URL, c.AdminKubeconfig = env["KUBE_APISERVER_URL"], env["ADMIN_KUBECONFIG"]
	c.NodeName, c.NodeKubeconfig = env["NODE_NAME"], env["NODE_KUBECONFIG"]
	c.OtherNodeName, c.OtherNodeKubeconfig = env["OTHER_NODE_NAME"], env["OTHER_NODE_KUBECONFIG"]
	c.UserKubeconfig, c.CACert, c.CAKey = env["USER_KUBECONFIG"], env["CA_CERT"], env["CA_KEY"]
	if c.URL == "" || c.NodeKubeconfig == "" {
		d.err = fmt.Errorf("%w: %s env %s printed no KUBE_APISERVER_URL or NODE_KUBECONFIG: %q", ErrUnavailable, c.script, dir, out)
	}
}

// StopAPIServer stops kube-apiserver, keeping etcd and its data, to simulate an outage.
func (c *Cluster) StopAPIServer(t testing.TB) {
	t.Helper()
	apiserverMu.Lock()
	defer apiserverMu.Unlock()
	if _, err := c.run("stop-apiserver"); err != nil {
		t.Fatalf("kubeapi: %v", err)
	}
}

// StartAPIServer starts kube-apiserver again on the same address and returns once it is ready.
func (c *Cluster) StartAPIServer(t testing.TB) {
	t.Helper()
	apiserverMu.Lock()
	defer apiserverMu.Unlock()
	if _, err := c.run("start-apiserver"); err != nil {
		t.Fatalf("kubeapi: %v", err)
	}
}

// RESTConfig loads a kubeconfig the cluster wrote.
func RESTConfig(t testing.TB, kubeconfig string) *rest.Config {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatalf("kubeapi: load %s: %v", kubeconfig, err)
	}
	// The tests make bursts of requests on purpose; client-side throttling would only blur the figures.
	cfg.QPS, cfg.Burst = 200, 400
	return cfg
}

// Client returns a clientset for a kubeconfig the cluster wrote.
func Client(t testing.TB, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(RESTConfig(t, kubeconfig))
	if err != nil {
		t.Fatalf("kubeapi: client for %s: %v", kubeconfig, err)
	}
	return cs
}

// Admin returns a system:masters clientset.
func (c *Cluster) Admin(t testing.TB) kubernetes.Interface { return Client(t, c.AdminKubeconfig) }

// Node returns a clientset with the node identity staticlet runs as.
func (c *Cluster) Node(t testing.TB) kubernetes.Interface { return Client(t, c.NodeKubeconfig) }

// run runs the harness script's command on the state dir.
func (c *Cluster) run(command string, env ...string) ([]byte, error) {
	return testenv.RunScript(startTimeout, c.script, command, c.stateDir, env...)
}
