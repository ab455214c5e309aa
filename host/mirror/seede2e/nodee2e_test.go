package seede2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/internal/testenv"
)

// TestRegisteredNodeBlackBox runs `staticlet run` with registerNode: true on the real containerd against
// kube-apiserver v1.37.2 and looks with kubectl, as an operator would: the Node is Ready with the default
// NoSchedule taint, nodeInfo filled (kernel, OS image, containerd://<version>, boot ID, staticlet's
// version) and no kubelet port; a static pod's mirror runs; an ordinary pod bound to the node ends Failed
// with reason StaticPodsOnly within seconds, with its Warning Event, and deletes at once.
func TestRegisteredNodeBlackBox(t *testing.T) {
	e := newNodeEnv(t)
	// staticlet's configuration wants an RFC 1123 label; the env's namespace carries the test's name.
	e.rtOpts.Namespace = fmt.Sprintf("stl-blackbox-%d", os.Getpid())
	e.image = testenv.ImportBusybox(t, e.rtOpts.Address, e.rtOpts.Namespace)
	admin := e.cluster.Admin(t)
	// The default taint is set only by the agent that creates the Node.
	if err := admin.CoreV1().Nodes().Delete(context.Background(), e.cluster.NodeName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	e.write(t, "blackbox.yaml", gracefulManifest("blackbox-pod", e.image, "1"))
	exited := runStaticlet(t, e)

	kubectl := func(args ...string) (string, error) {
		out, err := exec.Command("kubectl", append([]string{"--kubeconfig", e.cluster.AdminKubeconfig}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	eventually := func(within time.Duration, what string, cond func() (bool, string)) {
		t.Helper()
		last := ""
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			select {
			case <-exited:
				t.Fatalf("staticlet exited while waiting for %s", what)
			default:
			}
			var ok bool
			if ok, last = cond(); ok {
				return
			}
		}
		t.Fatalf("not %s within %s; last: %s", what, within, last)
	}
	phase := func(pod string) func() (bool, string) {
		return func() (bool, string) {
			out, err := kubectl("get", "pod", pod, "-o", "jsonpath={.status.phase}/{.status.reason}")
			return err == nil, out
		}
	}

	var node corev1.Node
	eventually(90*time.Second, "Ready with the static pod's mirror Running", func() (bool, string) {
		out, err := kubectl("get", "node", e.cluster.NodeName, "-o", "json")
		if err != nil || json.Unmarshal([]byte(out), &node) != nil {
			return false, out
		}
		p, _ := kubectl("get", "pod", "blackbox-pod-"+e.cluster.NodeName, "-o", "jsonpath={.status.phase}")
		return readyStatus(&node) == corev1.ConditionTrue && p == "Running", fmt.Sprintf("ready %s, mirror %q", readyStatus(&node), p)
	})
	info := node.Status.NodeInfo
	if !strings.HasPrefix(info.ContainerRuntimeVersion, "containerd://") || info.KernelVersion == "" || info.OSImage == "" ||
		info.BootID == "" || !strings.HasPrefix(info.KubeletVersion, "staticlet/") {
		t.Errorf("nodeInfo = %+v", info)
	}
	if p := node.Status.DaemonEndpoints.KubeletEndpoint.Port; p != 0 {
		t.Errorf("kubelet port %d advertised, but no kubelet API is served", p)
	}
	if out, _ := kubectl("get", "node", e.cluster.NodeName, "-o", "jsonpath={.spec.taints[*].key}"); !strings.Contains(out, "node.staticlet.dev/static-pods-only") {
		t.Errorf("taints %q, want node.staticlet.dev/static-pods-only", out)
	}

	bound := "bound-" + e.cluster.NodeName
	// The ServiceAccount admission plugin wants default/default, which no controller manager makes here.
	if out, err := kubectl("create", "serviceaccount", "default", "--namespace", "default"); err != nil && !strings.Contains(out, "AlreadyExists") {
		t.Fatalf("kubectl create serviceaccount: %v: %s", err, out)
	}
	apply := exec.Command("kubectl", "--kubeconfig", e.cluster.AdminKubeconfig, "apply", "-f", "-")
	apply.Stdin = strings.NewReader(fmt.Sprintf(`{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": %q, "namespace": "default"},
"spec": {"nodeName": %q, "containers": [{"name": "c", "image": "busybox:1"}]}}`, bound, e.cluster.NodeName))
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply: %v: %s", err, out)
	}
	created := time.Now()
	eventually(10*time.Second, "Failed/StaticPodsOnly", func() (bool, string) {
		ok, out := phase(bound)()
		return ok && out == "Failed/StaticPodsOnly", out
	})
	t.Logf("bound pod Failed %s after kubectl apply", time.Since(created).Round(100*time.Millisecond))
	eventually(10*time.Second, "an Event", func() (bool, string) {
		out, err := kubectl("get", "events", "--field-selector", "involvedObject.name="+bound+",reason=StaticPodsOnly", "-o", "jsonpath={.items[*].type}")
		return err == nil && out == "Warning", out
	})
	if out, err := kubectl("delete", "pod", bound, "--timeout=10s"); err != nil {
		t.Errorf("kubectl delete of the rejected pod: %v: %s", err, out)
	}
}

func readyStatus(n *corev1.Node) corev1.ConditionStatus {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// runStaticlet runs the staticlet binary on e's folder, containerd namespace and node identity with
// registerNode: true; when the test ends it stops the binary, then the pods it left running. The channel is
// closed when the binary exits.
func runStaticlet(t *testing.T, e nodeEnv) <-chan struct{} {
	t.Helper()
	dir := t.TempDir()
	config := fmt.Sprintf(`apiVersion: staticlet.dev/v1alpha1
kind: StaticletConfiguration
nodeName: %s
podManifestPath: %s
kubeconfig: %s
registerNode: true
nodeIP: 127.0.0.1
containerd: {address: %s, namespace: %s}
stateDir: %s
podLogDir: %s
statusSocket: %s
metricsAddress: "off"
`, e.cluster.NodeName, e.dir, e.cluster.NodeKubeconfig, e.rtOpts.Address, e.rtOpts.Namespace, e.rtOpts.StateDir,
		e.rtOpts.PodLogDir, filepath.Join(dir, "status.sock"))
	path := filepath.Join(dir, "staticlet.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	// Registered first so that it runs last, once RunStaticlet's cleanup has stopped the binary.
	t.Cleanup(func() {
		opts := e.rtOpts
		opts.Logger = nil
		rt, err := containerd.New(opts)
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer rt.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		pods, _ := rt.ListPods(ctx)
		for _, p := range pods {
			_ = rt.StopPod(ctx, p.UID, 0)
		}
	})
	return testenv.RunStaticlet(t, path)
}
