package kubeletapi

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"
	utilexec "k8s.io/utils/exec"

	"github.com/staticlet/staticlet/internal/testenv"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
)

func TestMain(m *testing.M) { kubeapi.Main(m) }

const (
	testNamespace   = "default"
	testPodName     = "web-worker-1"
	testUID         = types.UID("0123456789abcdef0123456789abcdef")
	testContainerID = "containerd://run-1"
)

// fakePods is the node's pods; tests change a container's state with setRunning.
type fakePods struct {
	mu   sync.Mutex
	pods []*corev1.Pod
}

func (f *fakePods) Pods() []*corev1.Pod {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]*corev1.Pod, 0, len(f.pods))
	for _, p := range f.pods {
		out = append(out, p.DeepCopy())
	}
	return out
}

// stopApp marks the app container's current run as exited.
func (f *fakePods) stopApp() {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := &f.pods[0].Status.ContainerStatuses[0]
	st.State = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, ContainerID: st.ContainerID}}
}

func newFakePods() *fakePods {
	return &fakePods{pods: []*corev1.Pod{{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}, // as manifests give them
		ObjectMeta: metav1.ObjectMeta{Namespace: testNamespace, Name: testPodName, UID: testUID},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning,
			InitContainerStatuses: []corev1.ContainerStatus{{
				Name: "init", ContainerID: "containerd://init-0",
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ContainerID: "containerd://init-0"}},
			}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: "app", RestartCount: 1, ContainerID: testContainerID,
				State:                corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "containerd://run-0"}},
			}, {
				Name:  "fresh",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}},
			}},
		},
	}}}
}

// fakeContainers runs "commands" by echoing them and forwards ports by echoing the data.
type fakeContainers struct{}

func (fakeContainers) ExecInContainer(_ context.Context, name, uid, container string, cmd []string, _ io.Reader, out, errOut io.WriteCloser, _ bool, _ <-chan remotecommand.TerminalSize, _ time.Duration) error {
	if len(cmd) > 0 && cmd[0] == "fail" {
		fmt.Fprintf(errOut, "failing in %s\n", container)
		return utilexec.CodeExitError{Err: errors.New("exit status 3"), Code: 3}
	}
	fmt.Fprintf(out, "%s/%s/%s: %s\n", name, uid, container, strings.Join(cmd, " "))
	return nil
}

func (fakeContainers) PortForward(_ context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	data, err := io.ReadAll(stream)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stream, "%d:%s", port, data)
	return err
}

// criLine is one CRI log record.
func criLine(stream, text string) string {
	return "2026-01-02T03:04:05.000000000Z " + stream + " F " + text + "\n"
}

// writeLogs writes the test pod's log files and returns the log root.
func writeLogs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"app/0.log":  criLine("stdout", "run0 line1"),
		"app/1.log":  criLine("stdout", "run1 line1") + criLine("stderr", "run1 err") + criLine("stdout", "run1 line3"),
		"init/0.log": criLine("stdout", "init done"),
	}
	for name, content := range files {
		path := filepath.Join(root, testNamespace+"_"+testPodName+"_"+string(testUID), name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// openConfig is a server config that lets every request through: for testing the routes.
func openConfig(t *testing.T, logDir string) Config {
	yes, no := true, false
	return Config{
		NodeName: "worker-1", Port: 10250, CertDir: t.TempDir(), PodLogDir: logDir,
		Authentication: kubeletconfigv1beta1.KubeletAuthentication{
			Anonymous: kubeletconfigv1beta1.KubeletAnonymousAuthentication{Enabled: &yes},
			Webhook:   kubeletconfigv1beta1.KubeletWebhookAuthentication{Enabled: &no},
		},
		Authorization: kubeletconfigv1beta1.KubeletAuthorization{Mode: kubeletconfigv1beta1.KubeletAuthorizationModeAlwaysAllow},
	}
}

func newOpenServer(t *testing.T) (*Server, *fakePods, *httptest.Server) {
	t.Helper()
	pods := newFakePods()
	s, err := New(openConfig(t, writeLogs(t)), pods, fakeContainers{})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return s, pods, ts
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	return do(t, c, http.MethodGet, u, nil)
}

func do(t *testing.T, c *http.Client, method, u string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, u, err)
	}
	return resp.StatusCode, string(body)
}

// response is a request's path (after a base URL) and the status and body it must get.
type response struct {
	path string
	code int
	body string
}

func expectResponses(t *testing.T, c *http.Client, method, base string, want []response) {
	t.Helper()
	for _, w := range want {
		if code, body := do(t, c, method, base+w.path, nil); code != w.code || body != w.body {
			t.Errorf("%s %s: %d %q, want %d %q", method, w.path, code, body, w.code, w.body)
		}
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	good := openConfig(t, t.TempDir())
	for _, tc := range []struct {
		name   string
		change func(*Config)
		field  string
	}{
		{"no node", func(c *Config) { c.NodeName = "" }, "NodeName"},
		{"bad address", func(c *Config) { c.Address = "localhost" }, "Address"},
		{"bad port", func(c *Config) { c.Port = 0 }, "Port"},
		{"cert without key", func(c *Config) { c.TLSCertFile = "x.crt" }, "TLSCertFile"},
		{"bootstrap and files", func(c *Config) { c.ServerTLSBootstrap, c.TLSCertFile, c.TLSPrivateKeyFile = true, "a", "b" }, "ServerTLSBootstrap"},
		{"bootstrap without IP", func(c *Config) {
			c.ServerTLSBootstrap = true
			c.NodeAddresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "worker-1"}}
		}, "NodeAddresses"},
		{"no cert dir", func(c *Config) { c.CertDir = "" }, "CertDir"},
		{"webhook authn without client", func(c *Config) { yes := true; c.Authentication.Webhook.Enabled = &yes }, "Authentication.Webhook.Enabled"},
		{"webhook authz without client", func(c *Config) { c.Authorization.Mode = "" }, "Authorization.Mode"},
		{"unknown mode", func(c *Config) { c.Authorization.Mode = "RBAC" }, `"RBAC" is not one of`},
		{"no authentication", func(c *Config) { no := false; c.Authentication.Anonymous.Enabled = &no }, "Authentication: anonymous, webhook and x509 are all off"},
		{"no log dir", func(c *Config) { c.PodLogDir = "" }, "PodLogDir"},
		{"missing CA file", func(c *Config) { c.Authentication.X509.ClientCAFile = "/nonexistent/ca.crt" }, "x509.clientCAFile /nonexistent/ca.crt"},
		{"missing cert files", func(c *Config) { c.TLSCertFile, c.TLSPrivateKeyFile = "/nonexistent/a.crt", "/nonexistent/a.key" }, "/nonexistent/a.crt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			cfg.Authentication.Anonymous.Enabled = new(bool)
			*cfg.Authentication.Anonymous.Enabled = true
			tc.change(&cfg)
			_, err := New(cfg, newFakePods(), fakeContainers{})
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New: %v, want an error naming %q", err, tc.field)
			}
		})
	}
	if _, err := New(good, nil, fakeContainers{}); err == nil || !strings.Contains(err.Error(), "pods") {
		t.Fatalf("New without pods: %v", err)
	}
}

func TestDefaultsAreKubeletConfigurationV1beta1s(t *testing.T) {
	cfg := withDefaults(Config{})
	authn, authz := cfg.Authentication, cfg.Authorization
	if *authn.Anonymous.Enabled || !*authn.Webhook.Enabled || authn.Webhook.CacheTTL.Duration != 2*time.Minute ||
		authz.Mode != kubeletconfigv1beta1.KubeletAuthorizationModeWebhook ||
		authz.Webhook.CacheAuthorizedTTL.Duration != 5*time.Minute || authz.Webhook.CacheUnauthorizedTTL.Duration != 30*time.Second {
		t.Fatalf("defaults: %+v %+v", authn, authz)
	}
}

func TestRequestAttributes(t *testing.T) {
	u := &user.DefaultInfo{Name: "alice"}
	for _, tc := range []struct {
		method, path string
		verb         string
		subresources []string
	}{
		{"GET", "/pods", "get", []string{"pods", "proxy"}},
		{"GET", "/pods/", "get", []string{"pods", "proxy"}},
		{"GET", "/podsx", "get", []string{"proxy"}},
		{"GET", "/runningpods/", "get", []string{"pods", "proxy"}},
		{"GET", "/healthz", "get", []string{"healthz", "proxy"}},
		{"GET", "/configz", "get", []string{"configz", "proxy"}},
		{"GET", "/stats/summary", "get", []string{"stats"}},
		{"GET", "/metrics/cadvisor", "get", []string{"metrics"}},
		{"GET", "/logs/syslog", "get", []string{"log"}},
		{"POST", "/checkpoint/ns/p/c", "create", []string{"checkpoint"}},
		{"GET", "/statusz", "get", []string{"statusz"}},
		{"GET", "/flagz", "get", []string{"configz"}},
		{"GET", "/containerLogs/ns/p/c", "get", []string{"proxy"}},
		{"POST", "/exec/ns/p/c", "create", []string{"proxy"}},
		{"PUT", "/x", "update", []string{"proxy"}},
		{"PATCH", "/x", "patch", []string{"proxy"}},
		{"DELETE", "/x", "delete", []string{"proxy"}},
		{"HEAD", "/x", "", []string{"proxy"}},
	} {
		r := httptest.NewRequest(tc.method, tc.path, nil)
		attrs := requestAttributes("worker-1", u, r)
		var subs []string
		for _, a := range attrs {
			subs = append(subs, a.GetSubresource())
			if a.GetVerb() != tc.verb || a.GetResource() != "nodes" || a.GetName() != "worker-1" || a.GetAPIVersion() != "v1" ||
				!a.IsResourceRequest() || a.GetUser().GetName() != "alice" || a.GetPath() != tc.path || a.GetNamespace() != "" {
				t.Errorf("%s %s: attributes %+v", tc.method, tc.path, a)
			}
		}
		if fmt.Sprint(subs) != fmt.Sprint(tc.subresources) {
			t.Errorf("%s %s: subresources %v, want %v", tc.method, tc.path, subs, tc.subresources)
		}
	}
}

// allowOnly allows the named subresource and has no opinion on the others.
type allowOnly string

func (a allowOnly) Authorize(_ context.Context, attr authorizer.Attributes) (authorizer.Decision, string, error) {
	if attr.GetSubresource() == string(a) {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func TestForbiddenNamesTheAttributes(t *testing.T) {
	s, _, _ := newOpenServer(t)
	s.authz = allowOnly("pods")
	ts := httptest.NewServer(s.withAuth(s.routes()))
	defer ts.Close()
	code, body := do(t, ts.Client(), http.MethodPost, ts.URL+"/run/default/web-worker-1/app?cmd=ls", nil)
	if want := "Forbidden (user=system:anonymous, verb=create, resource=nodes, subresource(s)=[proxy])\n"; code != http.StatusForbidden || body != want {
		t.Fatalf("run: %d %q, want 403 %q", code, body, want)
	}
	// The fine-grained subresource alone is enough, as the kubelet's fallback order allows.
	if code, body := get(t, ts.Client(), ts.URL+"/pods"); code != http.StatusOK {
		t.Fatalf("pods: %d %s", code, body)
	}
}

func TestHealthzAndPods(t *testing.T) {
	_, _, ts := newOpenServer(t)
	if code, body := get(t, ts.Client(), ts.URL+"/healthz"); code != 200 || body != "ok" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	code, body := get(t, ts.Client(), ts.URL+"/pods")
	var list corev1.PodList
	if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil {
		t.Fatalf("pods: %d %v %s", code, err, body)
	}
	if list.Kind != "PodList" || list.APIVersion != "v1" || len(list.Items) != 1 || list.Items[0].UID != testUID ||
		list.Items[0].Status.ContainerStatuses[0].RestartCount != 1 {
		t.Fatalf("pods: %s", body)
	}
	// The kubelet's items carry no kind and apiVersion.
	if list.Items[0].Kind != "" || list.Items[0].APIVersion != "" {
		t.Errorf("pods: item with kind %q apiVersion %q, want neither", list.Items[0].Kind, list.Items[0].APIVersion)
	}
	if code, _ := do(t, ts.Client(), http.MethodPost, ts.URL+"/pods", nil); code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /pods: %d", code)
	}
	if code, _ := get(t, ts.Client(), ts.URL+"/nothing"); code != http.StatusNotFound {
		t.Fatalf("unknown path: %d", code)
	}
}

func TestContainerLogs(t *testing.T) {
	_, _, ts := newOpenServer(t)
	base := ts.URL + "/containerLogs/default/web-worker-1/"
	expectResponses(t, ts.Client(), http.MethodGet, base, []response{
		{"app", 200, "run1 line1\nrun1 err\nrun1 line3\n"},
		{"app?tailLines=1", 200, "run1 line3\n"},
		{"app?tail=1", 200, "run1 line3\n"},
		{"app?tail=all", 200, "run1 line1\nrun1 err\nrun1 line3\n"},
		{"app?limitBytes=4", 200, "run1"},
		{"app?timestamps=true&tailLines=1", 200, "2026-01-02T03:04:05.000000000Z run1 line3\n"},
		{"app?previous=true", 200, "run0 line1\n"},
		{"app?previous=false", 200, "run1 line1\nrun1 err\nrun1 line3\n"},
		{"app?sinceTime=2030-01-01T00:00:00Z", 200, ""},
		{"app?sinceSeconds=1", 200, ""},
		{"init", 200, "init done\n"},
		{"init?previous=1", 400, "previous terminated container \"init\" in pod \"web-worker-1\" not found\n"},
		{"fresh", 400, "container \"fresh\" in pod \"web-worker-1\" is waiting to start: ContainerCreating\n"},
		{"nope", 404, "container \"nope\" not found in pod \"web-worker-1\"\n"},
		{"app?tailLines=abc", 400, "bad log query: tailLines: \"abc\" is not an integer\n"},
		{"app?limitBytes=1.5", 400, "bad log query: limitBytes: \"1.5\" is not an integer\n"},
		{"app?sinceTime=yesterday", 400, "bad log query: sinceTime: \"yesterday\" is not an RFC3339 time\n"},
		{"app?tailLines=-1", 422, "invalid log query: tailLines: -1: must be greater than or equal to 0\n"},
		{"app?limitBytes=0", 422, "invalid log query: limitBytes: 0: must be greater than 0\n"},
		{"app?sinceSeconds=0", 422, "invalid log query: sinceSeconds: 0: must be greater than 0\n"},
		{"app?sinceSeconds=5&sinceTime=2030-01-01T00:00:00Z", 422, "invalid log query: sinceSeconds, sinceTime: at most one of `sinceTime` or `sinceSeconds` may be specified\n"},
		{"app?stream=Stdout", 422, "invalid log query: stream: \"Stdout\": may not be specified (the kubelet's PodLogsQuerySplitStreams is off)\n"},
	})
	if code, body := get(t, ts.Client(), ts.URL+"/containerLogs/default/other/app"); code != 404 || body != "pod \"other\" does not exist\n" {
		t.Errorf("unknown pod: %d %q", code, body)
	}
}

func TestContainerLogsFollowEndsWithTheRun(t *testing.T) {
	s, pods, ts := newOpenServer(t)
	resp, err := ts.Client().Get(ts.URL + "/containerLogs/default/web-worker-1/app?follow=true&tailLines=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(&got, resp.Body)
		done <- err
	}()
	testenv.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(got.String(), "run1 line3\n") {
			return fmt.Errorf("followed so far: %q", got.String())
		}
		return nil
	})
	// Flushed as written: a line appended now arrives while the request is open.
	appendLog(t, s, "app", 1, criLine("stdout", "appended"))
	testenv.Eventually(t, 5*time.Second, func() error {
		if !strings.Contains(got.String(), "appended\n") {
			return fmt.Errorf("followed so far: %q", got.String())
		}
		return nil
	})
	pods.stopApp()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end after the container stopped")
	}
}

func appendLog(t *testing.T, s *Server, container string, restartCount int32, text string) {
	t.Helper()
	path := filepath.Join(s.cfg.PodLogDir, testNamespace+"_"+testPodName+"_"+string(testUID), container, fmt.Sprintf("%d.log", restartCount))
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

func TestExec(t *testing.T) {
	_, _, ts := newOpenServer(t)
	for _, path := range []string{
		"/exec/default/web-worker-1/app?command=echo&command=hi&output=1&error=1",
		"/exec/default/web-worker-1/" + string(testUID) + "/app?command=echo&command=hi&output=1&error=1",
	} {
		var stdout, stderr testenv.SyncBuffer
		status, err := spdyStream(nil, http.MethodPost, ts.URL+path, nil, &stdout, &stderr)
		if want := testPodName + "/" + string(testUID) + "/app: echo hi\n"; err != nil || stdout.String() != want || !strings.Contains(status, `"status":"Success"`) {
			t.Fatalf("%s: %v, stdout %q, want %q; status %s", path, err, stdout.String(), want, status)
		}
	}
	var stderr testenv.SyncBuffer
	status, err := spdyStream(nil, http.MethodPost, ts.URL+"/exec/default/web-worker-1/app?command=fail&output=1&error=1", nil, io.Discard, &stderr)
	if err != nil || stderr.String() != "failing in app\n" || !strings.Contains(status, `"reason":"NonZeroExitCode"`) ||
		!strings.Contains(status, `{"reason":"ExitCode","message":"3"}`) {
		t.Fatalf("failing command: %v, stderr %q, status %s", err, stderr.String(), status)
	}
	expectResponses(t, ts.Client(), http.MethodPost, ts.URL, []response{
		{"/exec/default/other/app?command=ls&output=1", 404, "pod does not exist\n"},
		{"/exec/default/web-worker-1/wrong-uid/app?command=ls&output=1", 404, "pod not found\n"},
		{"/exec/default/web-worker-1/init?command=ls&output=1", 500, "container not found (\"init\")\n"},
		{"/exec/default/web-worker-1/app?command=ls", 400, "you must specify at least 1 of stdin, stdout, stderr\n"},
	})
}

func TestRun(t *testing.T) {
	_, _, ts := newOpenServer(t)
	code, body := do(t, ts.Client(), http.MethodPost, ts.URL+"/run/default/web-worker-1/app?cmd=cat%20/etc/hostname", nil)
	if want := testPodName + "/" + string(testUID) + "/app: cat /etc/hostname\n"; code != 200 || body != want {
		t.Fatalf("run: %d %q, want %q", code, body, want)
	}
	code, body = do(t, ts.Client(), http.MethodPost, ts.URL+"/run/default/web-worker-1/app?cmd=fail", nil)
	if code != 500 || !strings.Contains(body, "exit status 3") {
		t.Fatalf("failing run: %d %q", code, body)
	}
	if code, _ := do(t, ts.Client(), http.MethodGet, ts.URL+"/run/default/web-worker-1/app?cmd=ls", nil); code != http.StatusMethodNotAllowed {
		t.Fatalf("GET /run: %d", code)
	}
	if code, body := do(t, ts.Client(), http.MethodPost, ts.URL+"/run/default/web-worker-1/bad-uid/app?cmd=ls", nil); code != 404 {
		t.Fatalf("run with a wrong uid: %d %q", code, body)
	}
}

func TestAttachStreamsTheLiveOutput(t *testing.T) {
	s, pods, ts := newOpenServer(t)
	var stdout, stderr testenv.SyncBuffer
	done := make(chan error, 1)
	go func() {
		status, err := spdyStream(nil, http.MethodPost, ts.URL+"/attach/default/web-worker-1/app?output=1&error=1", nil, &stdout, &stderr)
		if err == nil && !strings.Contains(status, `"status":"Success"`) {
			err = fmt.Errorf("status %s", status)
		}
		done <- err
	}()
	// Attach starts at the end of the file: lines written before it began reading are not sent, so
	// write until one arrives.
	testenv.Eventually(t, 10*time.Second, func() error {
		appendLog(t, s, "app", 1, criLine("stdout", "live")+criLine("stderr", "oops"))
		if !strings.Contains(stdout.String(), "live\n") || !strings.Contains(stderr.String(), "oops\n") {
			return fmt.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		return nil
	})
	if strings.Contains(stdout.String(), "run1") {
		t.Errorf("attach sent output from before it began: %q", stdout.String())
	}
	pods.stopApp()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("attach did not end after the container stopped")
	}
}

func TestAttachRefusesInputAndTTY(t *testing.T) {
	_, _, ts := newOpenServer(t)
	for query, want := range map[string]string{
		"input=1&output=1": `attach to container "app": it has no stdin`,
		"tty=1&output=1":   `attach to container "app": it has no tty`,
	} {
		code, body := do(t, ts.Client(), http.MethodPost, ts.URL+"/attach/default/web-worker-1/app?"+query, nil)
		if code != 400 || !strings.Contains(body, want) {
			t.Errorf("%s: %d %q, want 400 %q", query, code, body, want)
		}
	}
	if code, body := do(t, ts.Client(), http.MethodPost, ts.URL+"/attach/default/web-worker-1/wrong/app?output=1", nil); code != 404 {
		t.Errorf("wrong uid: %d %q", code, body)
	}
}

func TestPortForwardTargets(t *testing.T) {
	_, _, ts := newOpenServer(t)
	for path, want := range map[string]int{
		"/portForward/default/other":              404,
		"/portForward/default/web-worker-1/wrong": 404,
		// A plain request is no upgrade: the handshake refuses it.
		"/portForward/default/web-worker-1/" + string(testUID): http.StatusBadRequest,
	} {
		if code, body := get(t, ts.Client(), ts.URL+path); code != want {
			t.Errorf("%s: %d %q, want %d", path, code, body, want)
		}
	}
}

// testCA issues certificates for the TLS tests.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a certificate and key (PEM) for cn, a server's with 127.0.0.1 or a client's.
func (ca *testCA) issue(t *testing.T, cn string, serial int64, server bool) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	// Written aside and renamed, so the watcher never reads half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// serveTLS runs s on a free port of 127.0.0.1 until the test ends and returns its address.
func serveTLS(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

func tlsClient(roots []byte, clientCert, clientKey []byte) *http.Client {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	cfg := &tls.Config{RootCAs: pool}
	if clientCert != nil {
		pair, err := tls.X509KeyPair(clientCert, clientKey)
		if err != nil {
			panic(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

// TestTLSClientCertificatesAndReloadedServingCertificate: a client certificate from the client CA
// authenticates, none is 401, and a serving pair replaced on disk is served without a restart.
func TestTLSClientCertificatesAndReloadedServingCertificate(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	certFile, keyFile, caFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"), filepath.Join(dir, "ca.crt")
	certPEM, keyPEM := ca.issue(t, "worker-1", 100, true)
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	writeFile(t, caFile, ca.certPEM)

	cfg := openConfig(t, writeLogs(t))
	no := false
	cfg.Authentication.Anonymous.Enabled = &no
	cfg.Authentication.X509.ClientCAFile = caFile
	cfg.TLSCertFile, cfg.TLSPrivateKeyFile = certFile, keyFile
	s, err := New(cfg, newFakePods(), fakeContainers{})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, s)
	clientCert, clientKey := ca.issue(t, "alice", 200, false)
	withCert, anonymous := tlsClient(ca.certPEM, clientCert, clientKey), tlsClient(ca.certPEM, nil, nil)
	if code, body := get(t, withCert, "https://"+addr+"/pods"); code != 200 {
		t.Fatalf("client certificate: %d %q", code, body)
	}
	if code, body := get(t, anonymous, "https://"+addr+"/pods"); code != 401 || body != "Unauthorized\n" {
		t.Fatalf("no credentials: %d %q", code, body)
	}
	otherCA := newTestCA(t)
	strangerCert, strangerKey := otherCA.issue(t, "mallory", 300, false)
	if code, _ := get(t, tlsClient(ca.certPEM, strangerCert, strangerKey), "https://"+addr+"/pods"); code != 401 {
		t.Fatalf("certificate of another CA: %d", code)
	}

	servedSerial := func() (int64, error) {
		resp, err := withCert.Get("https://" + addr + "/healthz")
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), nil
	}
	if serial, err := servedSerial(); err != nil || serial != 100 {
		t.Fatalf("served serial %d, %v, want 100", serial, err)
	}
	certPEM, keyPEM = ca.issue(t, "worker-1", 101, true)
	writeFile(t, keyFile, keyPEM)
	writeFile(t, certFile, certPEM)
	withCert.Transport.(*http.Transport).DisableKeepAlives = true
	testenv.Eventually(t, 20*time.Second, func() error {
		serial, err := servedSerial()
		if err != nil || serial != 101 {
			return fmt.Errorf("served serial %d, %v, want 101", serial, err)
		}
		return nil
	})
}

// TestRunShutsDownStreams: Run serves on its port and, when its context ends, returns although a
// followed log is still open.
func TestRunShutsDownStreams(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := openConfig(t, writeLogs(t))
	cfg.Address, cfg.Port = "127.0.0.1", int32(port)
	s, err := New(cfg, newFakePods(), fakeContainers{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	var resp *http.Response
	testenv.Eventually(t, 10*time.Second, func() error {
		var err error
		resp, err = client.Get("https://" + s.ListenAddress() + "/containerLogs/default/web-worker-1/app?follow=1")
		return err
	})
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("follow: %s", resp.Status)
	}
	started := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
		if waited := time.Since(started); waited > shutdownGrace/2 {
			t.Errorf("Run took %s to end with a followed log open", waited)
		}
	case <-time.After(2 * shutdownGrace):
		t.Fatal("Run did not return after its context ended")
	}
	if err := s.Run(context.Background()); err == nil {
		t.Fatal("a second Run succeeded")
	}
}
