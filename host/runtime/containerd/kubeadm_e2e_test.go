package containerd_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/podlogs"
	"github.com/staticlet/staticlet/internal/testenv"
)

// kubeadmDir holds the four manifests kubeadm writes to /etc/kubernetes/manifests.
const kubeadmDir = "../../../examples/kubeadm"

var kubeadmComponents = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// Files the test creates or removes on the host to pass or fail a probeserver path; each is in a
// hostPath folder the component mounts, so the container sees the change.
const (
	apiserverLiveFile = "/etc/kubernetes/pki/staticlet-test-live" // kube-apiserver /livez
	etcdReadyFile     = "/var/lib/etcd/staticlet-test-ready"      // etcd /readyz (its startup probe too)
)

// kubeadmRewrite says how a kubeadm manifest is made runnable here.
type kubeadmRewrite struct {
	image string
	// root prefixes every hostPath, so the pods see a test folder instead of the host's /etc.
	root string
	// ports maps kubeadm's ports to free ones: the pods are on the host's network, and other
	// tests (and a real control plane) may hold the well-known ones.
	ports map[int32]int32
	// gates turn a component's path from always 200 into 200 only while a file exists.
	gates map[string]map[string]string
}

// kubeadmPod reads examples/kubeadm/<component>.yaml and rewrites what cannot run on this host:
// the image and command (the probe image's probeserver answering the manifest's own probes),
// hostPath paths (under rw.root), ports (to free ones) and probe hosts (kubeadm probes the
// kube-apiserver on its advertise address, which this host lacks; 127.0.0.1 instead). Probe
// timings are shortened: kubeadm's (startup after 10 s, a liveness kill after 8 failures 10 s
// apart) would make the test take minutes. Everything else (hostNetwork, priority,
// priorityClassName, seccompProfile, volume types, readOnly mounts, requests, labels,
// annotations, probe paths, schemes and named ports) is kubeadm's as written.
func kubeadmPod(t *testing.T, component string, rw kubeadmRewrite) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(kubeadmDir, component+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var p corev1.Pod
	if err := yaml.UnmarshalStrict(data, &p); err != nil {
		t.Fatalf("%s.yaml: %v", component, err)
	}
	for _, v := range p.Spec.Volumes {
		if v.HostPath != nil {
			v.HostPath.Path = filepath.Join(rw.root, v.HostPath.Path)
		}
	}
	if len(p.Spec.Containers) != 1 {
		t.Fatalf("%s.yaml: %d containers, want kubeadm's 1", component, len(p.Spec.Containers))
	}
	c := &p.Spec.Containers[0]
	c.Image = rw.image
	for i := range c.Ports {
		c.Ports[i].ContainerPort = rw.ports[c.Ports[i].ContainerPort]
		if c.Ports[i].HostPort != 0 {
			c.Ports[i].HostPort = rw.ports[c.Ports[i].HostPort]
		}
	}
	listens, paths := map[string]bool{}, map[string]bool{}
	for _, pr := range []*corev1.Probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
		if pr == nil {
			continue // kube-controller-manager has no readiness probe
		}
		if pr.HTTPGet == nil {
			t.Fatalf("%s.yaml: kubeadm's probes are all httpGet", component)
		}
		get := pr.HTTPGet
		get.Host = "127.0.0.1"
		if get.Port.Type == intstr.Int {
			get.Port = intstr.FromInt32(rw.ports[get.Port.IntVal])
		}
		port := resolvePort(t, c, get.Port)
		listens[fmt.Sprintf("%s://127.0.0.1:%d", strings.ToLower(string(get.Scheme)), port)] = true
		paths[get.Path] = true
		pr.InitialDelaySeconds, pr.PeriodSeconds = 0, 1
	}
	if c.LivenessProbe != nil {
		c.LivenessProbe.FailureThreshold = 3
	}
	command := []string{testenv.ProbeServerPath}
	for _, l := range slices.Sorted(mapKeys(listens)) {
		command = append(command, "-listen", l)
	}
	for _, path := range slices.Sorted(mapKeys(paths)) {
		if file, ok := rw.gates[component][path]; ok {
			command = append(command, "-ok-if", path+"="+file)
		} else {
			command = append(command, "-ok", path)
		}
	}
	c.Command, c.Args = command, nil
	out, err := yaml.Marshal(&p)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func resolvePort(t *testing.T, c *corev1.Container, port intstr.IntOrString) int32 {
	if port.Type == intstr.Int {
		return port.IntVal
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %q", c.Name, port.StrVal)
	return 0
}

// freePorts maps each port to a port free on 127.0.0.1 now.
func freePorts(t *testing.T, ports ...int32) map[int32]int32 {
	t.Helper()
	out := map[int32]int32{}
	var listeners []net.Listener
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for _, p := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l) // held until all are picked, so no two are the same
		out[p] = int32(l.Addr().(*net.TCPAddr).Port)
	}
	return out
}

// kubeadmState is the agent's view of one kubeadm pod.
type kubeadmState struct {
	pod       agent.PodStatus
	container corev1.ContainerStatus
}

func (s kubeadmState) ready() bool {
	return s.pod.Runtime != nil && s.pod.Runtime.Phase == corev1.PodRunning && s.container.Ready &&
		s.container.Started != nil && *s.container.Started && podCondition(*s.pod.Runtime, corev1.PodReady)
}

func podCondition(st corev1.PodStatus, typ corev1.PodConditionType) bool {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// kubeadmStates returns the kubeadm pods the agent holds, by component.
func kubeadmStates(t *testing.T, rig *agentRig) map[string]kubeadmState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := rig.a.Status(ctx)
	if err != nil {
		t.Fatalf("agent status: %v", err)
	}
	out := map[string]kubeadmState{}
	for _, p := range st.Pods {
		for _, c := range kubeadmComponents {
			if p.Key != "kube-system/"+c+"-node1" {
				continue
			}
			s := kubeadmState{pod: p}
			if p.Runtime != nil && len(p.Runtime.ContainerStatuses) == 1 {
				s.container = p.Runtime.ContainerStatuses[0]
			}
			out[c] = s
		}
	}
	return out
}

func waitKubeadm(t *testing.T, rig *agentRig, timeout time.Duration, what string, cond func(map[string]kubeadmState) bool) map[string]kubeadmState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		states := kubeadmStates(t, rig)
		if cond(states) {
			return states
		}
		if time.Now().After(deadline) {
			var b strings.Builder
			for _, c := range kubeadmComponents {
				s := states[c]
				fmt.Fprintf(&b, "\n%s: agent %s %s; container %+v", c, s.pod.Phase, s.pod.LastError, s.container)
			}
			t.Fatalf("%s: not within %s; last:%s", what, timeout, b.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mountOptions returns, per mount point, whether the process pid sees it read-only.
func mountOptions(t *testing.T, pid uint32) map[string]bool {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/mountinfo", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	readOnly := map[string]bool{}
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		// id parent major:minor root mount-point options ...
		fields := strings.Fields(scanner.Text())
		if len(fields) < 6 {
			continue
		}
		readOnly[fields[4]] = slices.Contains(strings.Split(fields[5], ","), "ro")
	}
	return readOnly
}

func taskPid(t *testing.T, address, namespace, containerID string) uint32 {
	t.Helper()
	c, err := client.New(address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(t.Context(), namespace)
	ctr, err := c.LoadContainer(ctx, containerID)
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return task.Pid()
}

// TestKubeadmControlPlane runs kubeadm's four control-plane manifests (examples/kubeadm, rewritten
// by kubeadmPod) through the agent's whole path: the folder watcher, decoding, defaulting,
// validation and the containerd runtime. It checks that all four run and become Ready through
// their own probes (HTTPS for kube-apiserver, kube-controller-manager and kube-scheduler, HTTP
// for etcd), that etcd's readiness and startup probes hold it back until its /readyz passes, that
// each hostPath is mounted read-only exactly where the manifest says, that DirectoryOrCreate and
// FileOrCreate created what was missing, and that a failing /livez restarts kube-apiserver.
func TestKubeadmControlPlane(t *testing.T) {
	e, rig := e2eSetup(t)
	image := testenv.ImportProbeImage(t, e.address, e.namespace)
	root := t.TempDir()
	// What `kubeadm init` has made before it writes the manifests: /etc/kubernetes with the
	// certificates folder. The kubeconfig files are left to FileOrCreate, whose parent must exist.
	if err := os.MkdirAll(filepath.Join(root, "etc/kubernetes/pki"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, apiserverLiveFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	rw := kubeadmRewrite{
		image: image, root: root,
		ports: freePorts(t, 2381, 6443, 10257, 10259),
		gates: map[string]map[string]string{
			"kube-apiserver": {"/livez": apiserverLiveFile},
			"etcd":           {"/readyz": etcdReadyFile},
		},
	}
	begin := time.Now()
	for _, c := range kubeadmComponents {
		writeManifest(t, rig.dir, c+".yaml", kubeadmPod(t, c, rw))
	}

	states := waitKubeadm(t, rig, 60*time.Second, "kube-apiserver, kube-controller-manager and kube-scheduler Ready",
		func(s map[string]kubeadmState) bool {
			return s["kube-apiserver"].ready() && s["kube-controller-manager"].ready() && s["kube-scheduler"].ready() &&
				s["etcd"].container.State.Running != nil
		})
	t.Logf("three components Ready %s after their files appeared", time.Since(begin).Round(time.Millisecond))
	// etcd runs but its /readyz fails: its startup probe (also /readyz) holds it not started, and
	// so not ready.
	time.Sleep(1500 * time.Millisecond)
	etcd := kubeadmStates(t, rig)["etcd"]
	if etcd.container.State.Running == nil || etcd.container.Ready || (etcd.container.Started != nil && *etcd.container.Started) || podCondition(*etcd.pod.Runtime, corev1.PodReady) {
		t.Errorf("etcd before its /readyz passes: %+v; want running, not started, not ready", etcd.container)
	}
	if err := os.WriteFile(filepath.Join(root, etcdReadyFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	states = waitKubeadm(t, rig, 15*time.Second, "etcd Ready once its /readyz passes", func(s map[string]kubeadmState) bool { return s["etcd"].ready() })

	for _, c := range kubeadmComponents {
		s := states[c]
		if s.pod.Runtime.QOSClass != corev1.PodQOSBurstable {
			t.Errorf("%s: QoS class %q, want Burstable (requests without limits)", c, s.pod.Runtime.QOSClass)
		}
		if s.container.RestartCount != 0 {
			t.Errorf("%s: %d restarts before any probe was made to fail", c, s.container.RestartCount)
		}
	}

	// Mounts: read-only exactly where the manifest says.
	for _, c := range kubeadmComponents {
		var p corev1.Pod
		data, _ := os.ReadFile(filepath.Join(kubeadmDir, c+".yaml"))
		if err := yaml.Unmarshal(data, &p); err != nil {
			t.Fatal(err)
		}
		mounts := mountOptions(t, taskPid(t, e.address, e.namespace, strings.TrimPrefix(states[c].container.ContainerID, "containerd://")))
		for _, m := range p.Spec.Containers[0].VolumeMounts {
			readOnly, ok := mounts[m.MountPath]
			switch {
			case !ok:
				t.Errorf("%s: %s is not mounted", c, m.MountPath)
			case readOnly != m.ReadOnly:
				t.Errorf("%s: %s mounted read-only=%v, the manifest says readOnly=%v", c, m.MountPath, readOnly, m.ReadOnly)
			}
		}
	}

	// DirectoryOrCreate and FileOrCreate made what was missing.
	for path, wantDir := range map[string]bool{
		"var/lib/etcd": true, "etc/kubernetes/pki/etcd": true, "etc/ssl/certs": true, "etc/ca-certificates": true,
		"usr/local/share/ca-certificates": true, "usr/share/ca-certificates": true,
		"usr/libexec/kubernetes/kubelet-plugins/volume/exec": true,
		"etc/kubernetes/controller-manager.conf":             false, "etc/kubernetes/scheduler.conf": false,
	} {
		st, err := os.Stat(filepath.Join(root, path))
		switch {
		case err != nil:
			t.Errorf("hostPath %s was not created: %v", path, err)
		case wantDir && !st.IsDir():
			t.Errorf("hostPath %s: mode %v, want a folder (DirectoryOrCreate)", path, st.Mode())
		case !wantDir && !st.Mode().IsRegular():
			t.Errorf("hostPath %s: mode %v, want a regular file (FileOrCreate)", path, st.Mode())
		}
	}

	// The probes went where kubeadm points them, over the manifest's scheme.
	time.Sleep(300 * time.Millisecond) // the logger writes after the server
	for c, want := range map[string]string{
		"kube-apiserver":          fmt.Sprintf("GET https://127.0.0.1:%d/readyz", rw.ports[6443]),
		"kube-controller-manager": fmt.Sprintf("GET https://127.0.0.1:%d/healthz", rw.ports[10257]),
		"kube-scheduler":          fmt.Sprintf("GET https://127.0.0.1:%d/readyz", rw.ports[10259]),
		"etcd":                    fmt.Sprintf("GET http://127.0.0.1:%d/readyz", rw.ports[2381]),
	} {
		if logs := kubeadmLog(rig, states[c], c, 0); !strings.Contains(logs, want+" from 127.0.0.1") {
			t.Errorf("%s: the probe server's log has no %q:\n%s", c, want, logs)
		}
	}

	// A failing /livez: kube-apiserver is killed and restarted; once /livez passes again it is
	// Ready again. The others are left alone.
	if err := os.Remove(filepath.Join(root, apiserverLiveFile)); err != nil {
		t.Fatal(err)
	}
	states = waitKubeadm(t, rig, 30*time.Second, "kube-apiserver restarted after its liveness probe failed", func(s map[string]kubeadmState) bool {
		return s["kube-apiserver"].container.RestartCount >= 1
	})
	last := states["kube-apiserver"].container.LastTerminationState.Terminated
	if last == nil || !strings.Contains(last.Message, "liveness probe failed") {
		t.Errorf("kube-apiserver's last state after a liveness kill: %+v", last)
	} else {
		t.Logf("kube-apiserver killed: %s (exit code %d)", last.Message, last.ExitCode)
	}
	if err := os.WriteFile(filepath.Join(root, apiserverLiveFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	states = waitKubeadm(t, rig, 30*time.Second, "kube-apiserver Ready again", func(s map[string]kubeadmState) bool { return s["kube-apiserver"].ready() })
	for _, c := range []string{"etcd", "kube-controller-manager", "kube-scheduler"} {
		if n := states[c].container.RestartCount; n != 0 || !states[c].ready() {
			t.Errorf("%s: %d restarts, ready %v, while only kube-apiserver's probe failed", c, n, states[c].ready())
		}
	}
	t.Logf("whole run %s", time.Since(begin).Round(time.Millisecond))
}

func kubeadmLog(rig *agentRig, s kubeadmState, container string, run int32) string {
	f, err := os.Open(podlogs.ContainerLogPath(rig.opts.PodLogDir, "kube-system", s.pod.Key[len("kube-system/"):], s.pod.UID, container, run))
	if err != nil {
		return "open log: " + err.Error()
	}
	defer f.Close()
	var b strings.Builder
	podlogs.Copy(&b, f)
	return b.String()
}
