package mirror_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/mirror"
	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
	"github.com/staticlet/staticlet/host/runtime/fake"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
)

func TestMain(m *testing.M) { kubeapi.Main(m) }

const testRemovalDelay = 300 * time.Millisecond

// stack is staticlet's host side wired as `staticlet run --kubeconfig` wires it: the real file watcher on
// a temp folder, admission, the agent loop with the fake runtime, and the mirror manager talking to the
// real kube-apiserver as system:node:worker-1.
type stack struct {
	t       testing.TB
	cluster *kubeapi.Cluster
	admin   kubernetes.Interface
	node    string
	dir     string
	rt      *fake.Runtime
	mgr     *mirror.Manager
	cancel  context.CancelFunc
	done    chan struct{}
}

type stackOptions struct {
	registerNode bool
	// files are written before the agent starts.
	files map[string]string
	// nodeLabels are the configured node labels; nil means staticlet.dev/test=yes.
	nodeLabels map[string]string
	// configure, when set, changes the manager's configuration before it starts.
	configure func(*mirror.Config)
}

func startStack(t testing.TB, opts stackOptions) *stack {
	t.Helper()
	c := kubeapi.Start(t)
	s := &stack{t: t, cluster: c, admin: c.Admin(t), node: c.NodeName, dir: t.TempDir(), rt: fake.New(), done: make(chan struct{}, 3)}
	for name, content := range opts.files {
		s.write(name, content)
	}
	level := hclog.Warn
	if os.Getenv("STATICLET_TEST_MIRROR_LOG") != "" {
		level = hclog.Debug
	}
	log := hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: level, Output: os.Stderr})
	labels := opts.nodeLabels
	if labels == nil {
		labels = map[string]string{"staticlet.dev/test": "yes"}
	}
	nopts := mirror.NodeOptions{Labels: labels, AgentVersion: "staticlet-test",
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}}
	nopts, err := mirror.HostNodeOptions(s.node, nopts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := mirror.Config{Client: c.Node(t), NodeName: s.node, RegisterNode: opts.registerNode, Node: nopts,
		Logger: log.Named("mirror")}
	if opts.configure != nil {
		opts.configure(&cfg)
	}
	s.mgr = mirror.New(cfg)
	ensureServiceAccount(t, s.admin)
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	files := source.NewMailbox()
	w := &file.Watcher{Root: s.dir, Resync: time.Hour, Debounce: 10 * time.Millisecond}
	a := agent.New(agent.Config{
		Runtime:  s.rt,
		Pipeline: admission.New(admission.Options{NodeName: s.node}),
		Builder:  desired.NewBuilder(testRemovalDelay),
		Sources:  map[string]*source.Mailbox{source.NameFile: files},
		Logger:   log.Named("agent"),
		OnState:  mirror.Hook(s.mgr),
	})
	go func() { _ = w.Run(ctx, files); s.done <- struct{}{} }()
	go func() { _ = a.Run(ctx); s.done <- struct{}{} }()
	go func() { _ = s.mgr.Run(ctx); s.done <- struct{}{} }()
	t.Cleanup(s.stop)
	return s
}

// stop ends the agent and the manager, checks that no request was refused, and removes every pod left on
// the node so the next test starts clean.
func (s *stack) stop() {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	for range 3 {
		<-s.done
	}
	if f := s.mgr.Stats().Forbidden; f != 0 {
		s.t.Errorf("the API server refused %d of staticlet's requests as the node identity", f)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	zero := int64(0)
	pods, err := s.admin.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", s.node).String()})
	if err != nil {
		return // the API server may be down in a failed outage test; the next test's manager cleans up
	}
	for _, p := range pods.Items {
		_ = s.admin.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	}
}

func (s *stack) write(name, content string) {
	s.t.Helper()
	// Write elsewhere, then rename: the watcher never sees a half-written file.
	tmp := filepath.Join(s.dir, "."+name+".tmp")
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(s.dir, name)); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) remove(name string) {
	s.t.Helper()
	if err := os.Remove(filepath.Join(s.dir, name)); err != nil {
		s.t.Fatal(err)
	}
}

func manifest(name, image string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels:
    app: myapp
    type: front-end
spec:
  containers:
  - name: nginx-container
    image: %s
`, name, image)
}

// getPod reads a pod as admin; nil when it does not exist.
func (s *stack) getPod(name string) *corev1.Pod {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := s.admin.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		s.t.Fatalf("get pod %s: %v", name, err)
	}
	return p
}

// waitPod polls as admin until cond holds for the pod (nil when absent) and returns it.
func (s *stack) waitPod(name string, timeout time.Duration, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	var p *corev1.Pod
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		got, err := s.admin.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		cancel()
		switch {
		case err == nil:
			p = got
		case apierrors.IsNotFound(err):
			p = nil
		}
		if err == nil || apierrors.IsNotFound(err) {
			if cond(p) {
				return p
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("pod %s: not %s within %s; last seen: %s (err %v)", name, what, timeout, describe(p), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func describe(p *corev1.Pod) string {
	if p == nil {
		return "absent"
	}
	var cs []string
	for _, c := range p.Status.ContainerStatuses {
		cs = append(cs, fmt.Sprintf("%s ready=%v", c.Name, c.Ready))
	}
	return fmt.Sprintf("uid=%s hash=%s phase=%s deleting=%v containers=[%s]", p.UID, p.Annotations["kubernetes.io/config.mirror"],
		p.Status.Phase, p.DeletionTimestamp != nil, strings.Join(cs, ", "))
}

func runningReady(p *corev1.Pod) bool {
	if p == nil || p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func present(p *corev1.Pod) bool { return p != nil && p.DeletionTimestamp == nil }
func absent(p *corev1.Pod) bool  { return p == nil }

// newMirror is true for a live mirror other than the one with uid old.
func newMirror(old types.UID) func(*corev1.Pod) bool {
	return func(p *corev1.Pod) bool { return present(p) && p.UID != old && mirrorpod.IsMirror(p) }
}

// ensureNode registers the test node as another agent would (admin), for tests that wait for it.
func ensureNode(t testing.TB, admin kubernetes.Interface, name string) *corev1.Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := admin.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		n, err = admin.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	}
	if err != nil {
		t.Fatalf("node %s: %v", name, err)
	}
	return n
}

func runtimeStarts(rt *fake.Runtime) int {
	n := 0
	for _, c := range rt.Calls() {
		if c.Op == "start" {
			n++
		}
	}
	return n
}

func runtimeStops(rt *fake.Runtime) int {
	n := 0
	for _, c := range rt.Calls() {
		if c.Op == "stop" {
			n++
		}
	}
	return n
}

// ensureServiceAccount creates default/default, which the ServiceAccount admission plugin wants for the
// regular (non-mirror) pods tests create; no controller manager runs here to create it.
func ensureServiceAccount(t testing.TB, admin kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("service account default/default: %v", err)
	}
}
