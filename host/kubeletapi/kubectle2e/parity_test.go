package kubectle2e_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/staticlet/staticlet/internal/testenv"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
	"github.com/staticlet/staticlet/internal/testenv/kubeletnode"
	"github.com/staticlet/staticlet/internal/testenv/ociimage"
)

// idleManifest is a pod whose one container never exits: it has no previous run.
func idleManifest(image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: idle}
spec:
  hostNetwork: true
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    command: [sh, -c, "trap 'exit 0' TERM; while :; do sleep 0.2; done"]
`, image)
}

// addStaticPod writes manifest as folder/file and, when the test ends, removes it and waits until the
// node has deleted the mirror pod: register it after starting the node agent, so that it runs first.
func addStaticPod(t testing.TB, admin kubernetes.Interface, folder, file, manifest, mirror string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(folder, file), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = os.Remove(filepath.Join(folder, file))
		deadline := time.Now().Add(converge)
		for time.Now().Before(deadline) {
			if _, err := admin.CoreV1().Pods("default").Get(context.Background(), mirror, metav1.GetOptions{}); err != nil {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		t.Errorf("mirror %s still there %s after its manifest was removed", mirror, converge)
	})
}

// pair is staticlet (startNode, on the cluster's node) and the real kubelet (on its other node, serving
// its API to the API server) running the same pods: shellManifest as shell-<node> in its second run
// and idleManifest as idle-<node>.
type pair struct {
	staticlet node
	kubelet   *kubeletnode.Node
	// kubeletHTTPPort is where the kubelet's shell pod serves HTTP (both pods share the host's network).
	kubeletHTTPPort int
}

// side is one of the two nodes as kubectl sees it.
type side struct {
	name     string // "staticlet" or "kubelet"
	node     string
	httpPort int
}

// fill gives args for this side: POD stands for the shell pod's name, IDLE for the idle pod's, NODE for
// the node's.
func (s side) fill(args []string) []string {
	r := strings.NewReplacer("POD", "shell-"+s.node, "IDLE", "idle-"+s.node, "NODE", s.node)
	filled := make([]string, len(args))
	for i, arg := range args {
		filled[i] = r.Replace(arg)
	}
	return filled
}

func (p pair) sides() []side {
	return []side{
		{"staticlet", p.staticlet.cluster.NodeName, p.staticlet.httpPort},
		{"kubelet", p.kubelet.Name, p.kubeletHTTPPort},
	}
}

func (p pair) kubectl(t testing.TB, args ...string) kubectl { return p.staticlet.asAdmin(t, args...) }

// startPair starts both; everything stops when the test ends. The kubelet starts first: its ~20s start
// overlaps staticlet's.
func startPair(t testing.TB) pair {
	t.Helper()
	kubeletnode.Require(t)
	var p pair
	cluster := kubeapi.Start(t)
	folder := t.TempDir()
	p.kubeletHTTPPort = testenv.FreePort(t)
	p.kubelet = kubeletnode.Start(t, cluster, kubeletnode.Options{
		NodeName: cluster.OtherNodeName, Kubeconfig: cluster.OtherNodeKubeconfig, StaticPodPath: folder, ServeAPI: true,
	})
	admin := cluster.Admin(t)
	// node.sh imports ociimage's busybox under its default name.
	addStaticPod(t, admin, folder, "shell.yaml", shellManifest(ociimage.DefaultName, p.kubeletHTTPPort), "shell-"+p.kubelet.Name)
	addStaticPod(t, admin, folder, "idle.yaml", idleManifest(ociimage.DefaultName), "idle-"+p.kubelet.Name)

	p.staticlet = startNode(t)
	addStaticPod(t, admin, p.staticlet.manifests, "idle.yaml", idleManifest(p.staticlet.image), "idle-"+cluster.NodeName)

	for _, s := range p.sides() {
		for _, pod := range []string{"shell-" + s.node, "idle-" + s.node} {
			testenv.Eventually(t, converge, func() error {
				got, err := admin.CoreV1().Pods("default").Get(t.Context(), pod, metav1.GetOptions{})
				if err != nil {
					return err
				}
				cs := got.Status.ContainerStatuses
				if len(cs) != 1 || cs[0].State.Running == nil || strings.HasPrefix(pod, "shell-") && cs[0].RestartCount < 1 {
					return fmt.Errorf("%s's mirror %s is not running (its second run for shell) yet: %+v", s.name, pod, cs)
				}
				return nil
			})
		}
	}
	return p
}

// outcome is what one kubectl run printed and how it exited.
type outcome struct {
	stdout, stderr string
	code           int
}

func (k kubectl) outcome() outcome {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(k.t.Context(), converge)
	defer cancel()
	cmd := k.command(ctx)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		k.t.Fatalf("kubectl %s: %v", strings.Join(k.args, " "), err)
	}
	return outcome{stdout: stdout.String(), stderr: stderr.String(), code: cmd.ProcessState.ExitCode()}
}

// TestKubectlParityWithKubelet runs the same kubectl commands against staticlet's pods and the real
// kubelet's (v1.37.2 on its own containerd, on the other node, its API reached by the same API server)
// and requires the same answers: what kubectl prints on stdout and stderr and its exit code, with the
// node's name, and what is random by nature (timestamps, tick numbers), masked. Where staticlet differs
// on purpose the test says so and pins both answers.
func TestKubectlParityWithKubelet(t *testing.T) {
	p := startPair(t)
	// mask makes the two nodes' answers comparable: the node's name (in pod names too) becomes NODE.
	mask := func(s side, out string) string { return strings.ReplaceAll(out, s.node, "NODE") }
	// same runs kubectl with args (see side.fill) on both nodes, requires equal outcomes after mask and
	// norm, and returns staticlet's.
	same := func(t *testing.T, norm func(outcome) outcome, args ...string) outcome {
		t.Helper()
		var got []outcome
		for _, s := range p.sides() {
			o := p.kubectl(t, s.fill(args)...).outcome()
			o.stdout, o.stderr = mask(s, o.stdout), mask(s, o.stderr)
			if norm != nil {
				o = norm(o)
			}
			got = append(got, o)
		}
		t.Logf("kubectl %s: exit %d, stdout %.200q, stderr %q", strings.Join(args, " "), got[0].code, got[0].stdout, got[0].stderr)
		if got[0] != got[1] {
			t.Errorf("kubectl %s:\n staticlet: exit %d, stdout %q, stderr %q\n kubelet:   exit %d, stdout %q, stderr %q",
				strings.Join(args, " "), got[0].code, got[0].stdout, got[0].stderr, got[1].code, got[1].stdout, got[1].stderr)
		}
		return got[0]
	}
	sortLines := func(o outcome) outcome {
		lines := strings.SplitAfter(o.stdout, "\n")
		slices.Sort(lines)
		o.stdout = strings.Join(lines, "")
		return o
	}

	t.Run("logs", func(t *testing.T) {
		// stdout and stderr reach the log through two pipes: their relative order is not fixed.
		if o := same(t, sortLines, "logs", "POD", "--previous"); o.stdout != "first run\nfirst run to stderr\n" {
			t.Errorf("kubectl logs --previous = %q (sorted), want the first run's two lines", o.stdout)
		}
		// The current run from its start, cut after its first tick.
		same(t, func(o outcome) outcome {
			lines := strings.SplitAfter(o.stdout, "\n")
			o.stdout = strings.Join(lines[:min(2, len(lines))], "")
			return o
		}, "logs", "POD")
		// The kubelet stamps each line with RFC3339Nano fixed to nine fractional digits, in UTC.
		stamped := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z tick \d+\n$`)
		same(t, func(o outcome) outcome {
			if !stamped.MatchString(o.stdout) {
				t.Errorf("kubectl logs --tail=1 --timestamps = %q, want one line stamped as %s", o.stdout, stamped)
			}
			o.stdout = ""
			return o
		}, "logs", "POD", "--tail=1", "--timestamps")
		same(t, nil, "logs", "POD", "--previous", "--limit-bytes=5")
		same(t, sortLines, "logs", "POD", "--previous", "--tail=2", "--since=1h")
		same(t, nil, "logs", "POD", "--tail=0")
		same(t, nil, "logs", "POD", "--limit-bytes=5")
		same(t, nil, "logs", "POD", "--since-time=2099-01-01T00:00:00Z")
	})

	t.Run("logs errors", func(t *testing.T) {
		// A container the pod does not have: the API server answers from the pod's spec.
		same(t, nil, "logs", "POD", "-c", "nope")
		// No previous run.
		same(t, nil, "logs", "IDLE", "--previous")
		same(t, nil, "logs", "IDLE", "--previous", "--limit-bytes=5")
	})

	t.Run("exec", func(t *testing.T) {
		same(t, nil, "exec", "POD", "--", "echo", "hello from exec")
		if o := same(t, nil, "exec", "POD", "--", "sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"); o.code != 3 || !strings.Contains(o.stderr, "command terminated with exit code 3") {
			t.Errorf("kubectl exec -- exit 3: %+v, want exit code 3 and kubectl's message", o)
		}
		// The command runs as the container's process does: its user, environment and working directory.
		same(t, nil, "exec", "POD", "--", "sh", "-c", "id; pwd; echo $PATH; echo $HOME")
	})

	t.Run("exec stdin", func(t *testing.T) {
		for _, s := range p.sides() {
			k := p.kubectl(t, "exec", "-i", "shell-"+s.node, "--", "sh", "-c", "cat; echo done")
			k.stdin = "piped through stdin\n"
			if o := k.outcome(); o.stdout != "piped through stdin\ndone\n" || o.code != 0 {
				t.Errorf("%s: kubectl exec -i -- cat = %+v", s.name, o)
			}
		}
	})

	t.Run("exec a missing binary", func(t *testing.T) {
		// kubectl exits 1 with the API server's wrapping of the node's error. The runtime's part of the
		// text differs on purpose: the kubelet's is containerd's CRI plugin's ("failed to exec in container:
		// failed to start exec <id>"), staticlet's says what it ran where (`exec ["..."] in pod <pod>
		// container <c>: start exec <id>`, from host/runtime/containerd) before the same OCI runtime error.
		const prefix = "error: Internal error occurred: Internal error occurred: error executing command in container: "
		const suffix = `: OCI runtime exec failed: exec failed: unable to start container process: exec: "no-such-binary": executable file not found in $PATH: unknown` + "\n"
		runtimePart := map[string]*regexp.Regexp{
			"staticlet": regexp.MustCompile(`^exec \["no-such-binary"\] in pod shell-NODE container main: start exec exec-[0-9a-f]+$`),
			"kubelet":   regexp.MustCompile(`^failed to exec in container: failed to start exec "[0-9a-f]{64}"$`),
		}
		same(t, func(o outcome) outcome {
			middle, ok := strings.CutPrefix(o.stderr, prefix)
			if middle, ok2 := strings.CutSuffix(middle, suffix); ok && ok2 && (runtimePart["staticlet"].MatchString(middle) || runtimePart["kubelet"].MatchString(middle)) {
				o.stderr = prefix + "RUNTIME" + suffix
			}
			return o
		}, "exec", "POD", "--", "no-such-binary")
	})

	t.Run("attach", func(t *testing.T) {
		for _, s := range p.sides() {
			lines := p.kubectl(t, "attach", "shell-"+s.node).stream(t)
			first := nextTick(t, lines)
			if later := nextTick(t, lines); later <= first {
				t.Errorf("%s: kubectl attach: tick %d after tick %d", s.name, later, first)
			}
		}
		same(t, nil, "attach", "POD", "-c", "nope")
	})

	t.Run("port-forward", func(t *testing.T) {
		for _, s := range p.sides() {
			local := testenv.FreePort(t)
			lines := p.kubectl(t, "port-forward", "pod/shell-"+s.node, fmt.Sprintf("%d:%d", local, s.httpPort)).stream(t)
			waitLine(t, lines, "Forwarding from")
			for i := range 3 {
				resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/index.html", local))
				if err != nil {
					t.Fatalf("%s: GET %d through the forward: %v", s.name, i, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(body) != "served-by-a-static-pod\n" {
					t.Errorf("%s: GET %d through kubectl port-forward = %q", s.name, i, body)
				}
			}
		}
	})

	t.Run("port-forward to a closed port", func(t *testing.T) {
		// The connection ends without an answer, kubectl reports the error and exits 1 ("lost connection
		// to pod", kubectl's own). The error's text in between is the node's: the kubelet's comes from
		// containerd's CRI plugin (which names the pod by its sandbox's ID, with no uid), staticlet's names
		// the pod and its uid; both end in the dial's "connection refused".
		for _, s := range p.sides() {
			closed, local := testenv.FreePort(t), testenv.FreePort(t)
			k := p.kubectl(t, "port-forward", "pod/shell-"+s.node, fmt.Sprintf("%d:%d", local, closed))
			cmd := k.command(t.Context())
			var stdout, stderr testenv.SyncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			testenv.Eventually(t, converge, func() error {
				if !strings.Contains(stdout.String(), "Forwarding from") {
					return fmt.Errorf("kubectl port-forward is not forwarding yet: %q %q", stdout.String(), stderr.String())
				}
				return nil
			})
			if resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", local)); err == nil {
				resp.Body.Close()
				t.Errorf("%s: GET through a forward to a closed port: %s, want an error", s.name, resp.Status)
			}
			var exit *exec.ExitError
			select {
			case err := <-exited:
				if !errors.As(err, &exit) || exit.ExitCode() != 1 {
					t.Errorf("%s: kubectl port-forward to a closed port: %v, want exit status 1", s.name, err)
				}
			case <-time.After(converge):
				_ = cmd.Process.Kill()
				<-exited
				t.Errorf("%s: kubectl port-forward to a closed port still running %s after the failed connection", s.name, converge)
			}
			prefix := fmt.Sprintf("an error occurred forwarding %d -> %d: error forwarding port %d to pod ", local, closed, closed)
			if e := stderr.String(); !strings.Contains(e, prefix) || !strings.Contains(e, "connect: connection refused") || !strings.HasSuffix(e, "error: lost connection to pod\n") {
				t.Errorf("%s: kubectl port-forward to a closed port: stderr %q, want %q..., the dial's connection refused and the lost connection", s.name, e, prefix)
			}
		}
	})

	t.Run("node proxy", func(t *testing.T) {
		same(t, nil, "get", "--raw", "/api/v1/nodes/NODE/proxy/healthz")
		same(t, nil, "get", "--raw", "/api/v1/nodes/NODE/proxy/no-such-path")
		same(t, nil, "get", "--raw", "/api/v1/nodes/NODE/proxy/containerLogs/default/POD/main?tailLines=1&limitBytes=4")
		same(t, nil, "get", "--raw", "/api/v1/nodes/NODE/proxy/containerLogs/default/POD/nope")
		same(t, nil, "get", "--raw", "/api/v1/nodes/NODE/proxy/containerLogs/default/no-such-pod/main")
		// /pods: the same fields for the same pod, values aside (IDs, times and the runtime's container
		// and image IDs differ by nature).
		var fields []map[string]bool
		for _, s := range p.sides() {
			out := p.kubectl(t, "get", "--raw", "/api/v1/nodes/"+s.node+"/proxy/pods").mustRun()
			var list struct {
				Kind  string           `json:"kind"`
				Items []map[string]any `json:"items"`
			}
			if err := json.Unmarshal([]byte(out), &list); err != nil || list.Kind != "PodList" {
				t.Fatalf("%s: node proxy /pods = %.300s (%v), want a PodList", s.name, out, err)
			}
			i := slices.IndexFunc(list.Items, func(item map[string]any) bool {
				meta, _ := item["metadata"].(map[string]any)
				return meta["name"] == "shell-"+s.node
			})
			if i < 0 {
				t.Fatalf("%s: node proxy /pods = %.300s, want shell-%s among the items", s.name, out, s.node)
			}
			fields = append(fields, jsonPaths(list.Items[i], ""))
		}
		for path := range fields[0] {
			if !fields[1][path] {
				t.Errorf("node proxy /pods: staticlet's pod has %s, the kubelet's has not", path)
			}
		}
		for path := range fields[1] {
			if !fields[0][path] {
				t.Errorf("node proxy /pods: the kubelet's pod has %s, staticlet's has not", path)
			}
		}
	})
}

// jsonPaths lists the paths to v's leaves, dot-separated, every array index as N.
func jsonPaths(v any, prefix string) map[string]bool {
	paths := map[string]bool{}
	join := func(key string) string {
		if prefix == "" {
			return key
		}
		return prefix + "." + key
	}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			maps.Copy(paths, jsonPaths(e, join(k)))
		}
	case []any:
		for _, e := range v {
			maps.Copy(paths, jsonPaths(e, join("N")))
		}
	default:
		paths[prefix] = true
	}
	return paths
}
