package kubectle2e_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/internal/testenv"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
)

// TestTakenKubeletPortStopsTheStart: a port something else holds (a kubelet's 10250) is an error at
// start, exit status 2 naming the address, as the kubelet exits when it cannot listen, rather than an
// agent whose Node would advertise a port it does not answer on.
func TestTakenKubeletPortStopsTheStart(t *testing.T) {
	address := testenv.Containerd(t)
	cluster := kubeapi.Start(t)
	holder, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	port := holder.Addr().(*net.TCPAddr).Port
	dir := t.TempDir()
	config := fmt.Sprintf(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
nodeName: port-taken
podManifestPath: %s
containerd: {address: %s, namespace: stl-port-taken}
stateDir: %s
podLogDir: %s
statusSocket: %s
metricsAddress: "off"
kubeletPort: %d
kubeletServer:
  address: 127.0.0.1
  authentication:
    webhook: {enabled: false}
    x509: {clientCAFile: %s}
  authorization: {mode: AlwaysAllow}
`, dir, address, filepath.Join(dir, "state"), filepath.Join(dir, "logs"), filepath.Join(dir, "status.sock"), port, cluster.CACert)
	path := filepath.Join(dir, "staticlet.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.StaticletBinary(t), "run", "--config", path)
	var out testenv.SyncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(out.String(), "address already in use") ||
			!strings.Contains(out.String(), fmt.Sprintf("127.0.0.1:%d", port)) {
			t.Errorf("staticlet with a taken kubeletPort: %v, output:\n%s\nwant exit status 2 naming the address", err, out.String())
		}
	case <-time.After(converge):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("staticlet kept running with its kubeletPort taken:\n%s", out.String())
	}
}
