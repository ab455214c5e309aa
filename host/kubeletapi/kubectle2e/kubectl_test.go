package kubectle2e_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/staticlet/staticlet/internal/testenv"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
)

// TestMain doubles as nothing else: the staticlet binary brings its own shim logger.
func TestMain(m *testing.M) {
	kubeapi.PurgeOnExit()
	testenv.Main(m)
}

// converge bounds each wait for the agent, the API server or kubectl.
const converge = 90 * time.Second

// shellManifest is a hostNetwork pod whose first run prints "first run" and fails, and whose second run
// serves /www on httpPort and prints a tick every 200ms: a previous log, a live log and a port to forward.
func shellManifest(image string, httpPort int) string {
	script := fmt.Sprintf(`if [ ! -f /data/ran ]; then echo first run; echo first run to stderr >&2; touch /data/ran; exit 1; fi
echo second run
mkdir -p /tmp/www && echo served-by-a-static-pod > /tmp/www/index.html
httpd -p 127.0.0.1:%d -h /tmp/www
i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.2; done`, httpPort)
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: shell}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  volumes: [{name: data, emptyDir: {}}]
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    volumeMounts: [{name: data, mountPath: /data}]
    command: [sh, -c, %q]
`, image, script)
}

// node is a staticlet serving the kubelet API on the real containerd, registered as the cluster's node,
// running shellManifest as pod (in its second run) with its HTTP server on httpPort, from the folder
// manifests with image.
type node struct {
	cluster               *kubeapi.Cluster
	pod                   string
	kubeletPort, httpPort int
	manifests, image      string
}

func (n node) asAdmin(t testing.TB, args ...string) kubectl {
	return kubectl{t: t, kubeconfig: n.cluster.AdminKubeconfig, args: args}
}

// startNode starts it all; everything stops when the test ends.
func startNode(t testing.TB) node {
	t.Helper()
	for _, tool := range []string{"kubectl"} {
		if _, err := exec.LookPath(tool); err != nil {
			if testenv.RequireIntegration() {
				t.Fatalf("%s is not on PATH", tool)
			}
			t.Skipf("skipping: %s is not on PATH", tool)
		}
	}
	address := testenv.Containerd(t)
	cluster := kubeapi.Start(t)
	ns := fmt.Sprintf("stl-kubectl-%d", os.Getpid())
	image := testenv.ImportBusybox(t, address, ns)
	admin := cluster.Admin(t)
	ctx := t.Context()

	dir := t.TempDir()
	manifests := filepath.Join(dir, "manifests")
	if err := os.MkdirAll(manifests, 0o755); err != nil {
		t.Fatal(err)
	}
	kubeletPort := testenv.FreePort(t)
	config := fmt.Sprintf(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
nodeName: %s
podManifestPath: %s
kubeconfig: %s
registerNode: true
containerd: {address: %s, namespace: %s}
stateDir: %s
podLogDir: %s
statusSocket: %s
metricsAddress: "off"
kubeletPort: %d
kubeletServer:
  serverTLSBootstrap: true
  authentication:
    x509: {clientCAFile: %s}
`, cluster.NodeName, manifests, cluster.NodeKubeconfig, address, ns, filepath.Join(dir, "state"), filepath.Join(dir, "logs"),
		filepath.Join(dir, "status.sock"), kubeletPort, cluster.CACert)
	configPath := filepath.Join(dir, "staticlet.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.RunStaticlet(t, configPath)

	// The serving certificate: staticlet asks for it as system:node:worker-1; the test approves and
	// signs it as an approver and kube-controller-manager would.
	csrName := waitServingCSR(t, admin, cluster.NodeName)
	// staticlet status tells the operator what the kubelet API waits for, then what it serves.
	// (The status socket may open a moment after the request is made: hence Eventually for both.)
	statusShows := func(want string) func() error {
		return func() error {
			out, err := exec.Command(testenv.StaticletBinary(t), "status", "--status-socket", filepath.Join(dir, "status.sock")).CombinedOutput()
			if err != nil || !strings.Contains(string(out), want) {
				return fmt.Errorf("staticlet status: %v:\n%s\nwant a line with %q", err, out, want)
			}
			return nil
		}
	}
	testenv.Eventually(t, converge, statusShows(fmt.Sprintf("kubelet API on 0.0.0.0:%d: no serving certificate (bootstrap): "+
		"no serving certificate yet: waiting for the kubernetes.io/kubelet-serving CertificateSigningRequest", kubeletPort)))
	cluster.ApproveAndSignKubeletServing(t, ctx, csrName, 24*time.Hour)
	testenv.Eventually(t, converge, statusShows(fmt.Sprintf("kubelet API on 0.0.0.0:%d: certificate (bootstrap) valid until ", kubeletPort)))

	httpPort := testenv.FreePort(t)
	pod := "shell-" + cluster.NodeName
	// staticlet leaves pods running when it stops: the manifest is removed and the pod gone first.
	addStaticPod(t, admin, manifests, "shell.yaml", shellManifest(image, httpPort), pod)
	testenv.Eventually(t, converge, func() error {
		p, err := admin.CoreV1().Pods("default").Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].RestartCount < 1 || cs[0].State.Running == nil {
			return fmt.Errorf("mirror %s is not running its second run yet: %+v", pod, p.Status.ContainerStatuses)
		}
		return nil
	})
	return node{cluster: cluster, pod: pod, kubeletPort: kubeletPort, httpPort: httpPort, manifests: manifests, image: image}
}

func TestKubectlOnStaticPods(t *testing.T) {
	n := startNode(t)
	cluster, pod, kubeletPort, httpPort, admin := n.cluster, n.pod, n.kubeletPort, n.httpPort, n.cluster.Admin(t)
	asAdmin := func(args ...string) kubectl { return kubectl{t: t, kubeconfig: cluster.AdminKubeconfig, args: args} }
	asUser := func(args ...string) kubectl { return kubectl{t: t, kubeconfig: cluster.UserKubeconfig, args: args} }

	t.Run("logs", func(t *testing.T) {
		// stdout and stderr reach the log through two pipes: their relative order is not fixed.
		if out := asAdmin("logs", pod, "--previous").mustRun(); len(out) != len("first run\nfirst run to stderr\n") ||
			!strings.Contains(out, "first run\n") || !strings.Contains(out, "first run to stderr\n") {
			t.Errorf("kubectl logs --previous = %q, want the first run's stdout and stderr", out)
		}
		testenv.Eventually(t, converge, func() error {
			out := asAdmin("logs", pod).mustRun()
			if !strings.HasPrefix(out, "second run\ntick 0\n") {
				return fmt.Errorf("kubectl logs = %q, want the current run from its start", out)
			}
			return nil
		})
		out := asAdmin("logs", pod, "--tail=1", "--timestamps").mustRun()
		stamp, line, ok := strings.Cut(strings.TrimSuffix(out, "\n"), " ")
		if _, err := time.Parse(time.RFC3339Nano, stamp); err != nil || !ok || !strings.HasPrefix(line, "tick ") || strings.Count(out, "\n") != 1 {
			t.Errorf("kubectl logs --tail=1 --timestamps = %q, want one timestamped tick", out)
		}
		if out, err := asAdmin("logs", pod, "--previous", "--limit-bytes=5").run(); err != nil || len(out) != 5 || !strings.HasPrefix(out, "first") {
			t.Errorf("kubectl logs --previous --limit-bytes=5 = %q, %v", out, err)
		}
		// -f keeps streaming: ticks written after kubectl started arrive.
		lines := asAdmin("logs", "-f", "--tail=1", pod).stream(t)
		first := nextTick(t, lines)
		if later := nextTick(t, lines); later <= first {
			t.Errorf("kubectl logs -f: tick %d after tick %d", later, first)
		}
	})

	t.Run("exec", func(t *testing.T) {
		if out := asAdmin("exec", pod, "--", "echo", "hello from exec").mustRun(); out != "hello from exec\n" {
			t.Errorf("kubectl exec -- echo = %q", out)
		}
		out, err := asAdmin("exec", pod, "--", "sh", "-c", "echo to-stderr >&2; exit 3").run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 3 {
			t.Errorf("kubectl exec -- exit 3: %v (output %q), want exit status 3", err, out)
		}
		k := asAdmin("exec", "-i", pod, "--", "cat")
		k.stdin = "piped through stdin\n"
		if out := k.mustRun(); out != "piped through stdin\n" {
			t.Errorf("kubectl exec -i -- cat = %q", out)
		}
	})

	t.Run("cp", func(t *testing.T) {
		// kubectl cp is tar through exec, both ways.
		dir := t.TempDir()
		in, back := filepath.Join(dir, "in.txt"), filepath.Join(dir, "back.txt")
		if err := os.WriteFile(in, []byte("copied into a static pod\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		asAdmin("cp", in, pod+":/tmp/in.txt").mustRun()
		if out := asAdmin("exec", pod, "--", "cat", "/tmp/in.txt").mustRun(); out != "copied into a static pod\n" {
			t.Errorf("after kubectl cp into the pod: %q", out)
		}
		asAdmin("cp", pod+":/tmp/in.txt", back).mustRun()
		if got, err := os.ReadFile(back); err != nil || string(got) != "copied into a static pod\n" {
			t.Errorf("kubectl cp out of the pod: %q, %v", got, err)
		}
	})

	t.Run("attach", func(t *testing.T) {
		lines := asAdmin("attach", pod).stream(t)
		first := nextTick(t, lines)
		if later := nextTick(t, lines); later <= first {
			t.Errorf("kubectl attach: tick %d after tick %d", later, first)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		local := testenv.FreePort(t)
		lines := asAdmin("port-forward", "pod/"+pod, fmt.Sprintf("%d:%d", local, httpPort)).stream(t)
		waitLine(t, lines, "Forwarding from")
		for i := range 3 { // several connections over one forward
			resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", local))
			if err != nil {
				t.Fatalf("GET %d through the forward: %v", i, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "served-by-a-static-pod\n" {
				t.Errorf("GET %d through kubectl port-forward = %q", i, body)
			}
		}
	})

	t.Run("node proxy", func(t *testing.T) {
		out := asAdmin("get", "--raw", "/api/v1/nodes/"+cluster.NodeName+"/proxy/pods").mustRun()
		if !strings.Contains(out, `"kind":"PodList"`) || !strings.Contains(out, `"name":"`+pod+`"`) {
			t.Errorf("node proxy /pods = %.300s, want a PodList with %s", out, pod)
		}
		if out := asAdmin("get", "--raw", "/api/v1/nodes/"+cluster.NodeName+"/proxy/healthz").mustRun(); out != "ok" {
			t.Errorf("node proxy /healthz = %q", out)
		}
	})

	t.Run("refused without RBAC", func(t *testing.T) {
		// Nothing granted: the API server refuses before it dials the node.
		for _, args := range [][]string{{"logs", pod}, {"exec", pod, "--", "echo", "x"}, {"get", "--raw", "/api/v1/nodes/" + cluster.NodeName + "/proxy/pods"}} {
			if out, err := asUser(args...).run(); err == nil || !strings.Contains(out, "Forbidden") && !strings.Contains(out, "forbidden") {
				t.Errorf("kubectl %v as a user without RBAC: %v, %q; want Forbidden", args, err, out)
			}
		}
		// Granted logs but not exec: logs work, exec is 403.
		grantLogs(t, admin)
		testenv.Eventually(t, 10*time.Second, func() error {
			if out, err := asUser("logs", pod, "--tail=1").run(); err != nil {
				return fmt.Errorf("kubectl logs with pods/log granted: %v: %s", err, out)
			}
			return nil
		})
		out, err := asUser("exec", pod, "--", "echo", "x").run()
		if err == nil || !strings.Contains(out, `cannot create resource "pods/exec"`) {
			t.Errorf("kubectl exec without pods/exec: %v, %q; want Forbidden on pods/exec", err, out)
		}
		// Straight at the kubelet port with the user's client certificate: staticlet's
		// SubjectAccessReview says no to nodes/proxy.
		status, body := direct(t, cluster, "user", kubeletPort, "/pods")
		if status != http.StatusForbidden || !strings.Contains(body, "user=staticlet-test-user") {
			t.Errorf("GET /pods on the kubelet port as staticlet-test-user = %d %q, want 403 naming the user", status, body)
		}
		if status, body := direct(t, cluster, "", kubeletPort, "/pods"); status != http.StatusUnauthorized {
			t.Errorf("GET /pods on the kubelet port without credentials = %d %q, want 401", status, body)
		}
	})
}

// waitServingCSR waits for the node's kubelet-serving CSR and returns its name.
func waitServingCSR(t testing.TB, admin kubernetes.Interface, node string) string {
	t.Helper()
	var name string
	testenv.Eventually(t, converge, func() error {
		list, err := admin.CertificatesV1().CertificateSigningRequests().List(t.Context(), metav1.ListOptions{})
		if err != nil {
			return err
		}
		for _, csr := range list.Items {
			if csr.Spec.SignerName == certificatesv1.KubeletServingSignerName && csr.Spec.Username == "system:node:"+node && len(csr.Status.Conditions) == 0 {
				name = csr.Name
				return nil
			}
		}
		return fmt.Errorf("no pending %s CSR from system:node:%s among %d", certificatesv1.KubeletServingSignerName, node, len(list.Items))
	})
	return name
}

func grantLogs(t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	ctx := t.Context()
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "pod-logs-reader", Namespace: "default"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods", "pods/log"}, Verbs: []string{"get", "list"}}}}
	if _, err := admin.RbacV1().Roles("default").Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "pod-logs-reader", Namespace: "default"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects: []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: "staticlet-test-user"}}}
	if _, err := admin.RbacV1().RoleBindings("default").Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// direct GETs path on the kubelet port, trusting only the cluster CA, presenting the client certificate
// pki/<identity>.crt (none when identity is "").
func direct(t *testing.T, cluster *kubeapi.Cluster, identity string, port int, path string) (int, string) {
	t.Helper()
	caPEM, err := os.ReadFile(cluster.CACert)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cfg := &tls.Config{RootCAs: pool}
	if identity != "" {
		pki := filepath.Dir(cluster.CACert)
		cert, err := tls.LoadX509KeyPair(filepath.Join(pki, identity+".crt"), filepath.Join(pki, identity+".key"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	resp, err := client.Get(fmt.Sprintf("https://%s%s", net.JoinHostPort(nodeAddress(t, cluster), strconv.Itoa(port)), path))
	if err != nil {
		t.Fatalf("GET %s on the kubelet port: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// nodeAddress is the InternalIP staticlet registered (its default: the host's first global IPv4), where
// the API server dials the kubelet port.
func nodeAddress(t *testing.T, cluster *kubeapi.Cluster) string {
	t.Helper()
	n, err := cluster.Admin(t).CoreV1().Nodes().Get(t.Context(), cluster.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range n.Status.Addresses {
		if a.Type == corev1.NodeInternalIP {
			return a.Address
		}
	}
	t.Fatalf("node %s has no InternalIP: %+v", cluster.NodeName, n.Status.Addresses)
	return ""
}

type kubectl struct {
	t          testing.TB
	kubeconfig string
	args       []string
	stdin      string
}

func (k kubectl) command(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", k.kubeconfig, "--namespace", "default", "--request-timeout", "30s"}, k.args...)...)
	if k.stdin != "" {
		cmd.Stdin = strings.NewReader(k.stdin)
	}
	return cmd
}

// run returns kubectl's stdout, or its combined output with the error.
func (k kubectl) run() (string, error) {
	ctx, cancel := context.WithTimeout(k.t.Context(), converge)
	defer cancel()
	cmd := k.command(ctx)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

func (k kubectl) mustRun() string {
	k.t.Helper()
	out, err := k.run()
	if err != nil {
		k.t.Fatalf("kubectl %s: %v: %s", strings.Join(k.args, " "), err, out)
	}
	return out
}

// stream starts kubectl and returns its stdout lines; kubectl is stopped when the test ends.
func (k kubectl) stream(t testing.TB) <-chan string {
	t.Helper()
	cmd := k.command(context.Background())
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("kubectl %s: stderr: %s", strings.Join(k.args, " "), stderr.String())
		}
	})
	return lines
}

func waitLine(t testing.TB, lines <-chan string, prefix string) string {
	t.Helper()
	deadline := time.After(converge)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("kubectl ended before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("kubectl printed no %q within %s", prefix, converge)
		}
	}
}

func nextTick(t testing.TB, lines <-chan string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimPrefix(waitLine(t, lines, "tick "), "tick "))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
