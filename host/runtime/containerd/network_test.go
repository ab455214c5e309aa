package containerd_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/network/cni"
	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/internal/cnitest"
	"github.com/staticlet/staticlet/internal/testenv"
)

// This binary's pods live on 10.213.2.0/24 (host/network/cni's on .1).
const cniOctet = 2

// cniOptions are runtime options on the test network, with the bridge
// plugin wrapped to count its calls (the returned log), and the bridge's
// address as the node's IP.
func cniOptions(t *testing.T, e env, netw cnitest.Network) (containerd.Options, string) {
	t.Helper()
	wrapDir, calls := cnitest.CountingBinDir(t, "bridge")
	opts := e.options(t)
	opts.Network = containerd.NetworkOptions{CNIConfDir: netw.ConfDir, CNIBinDirs: append([]string{wrapDir}, cnitest.BinDirs...), CNICacheDir: netw.CacheDir}
	opts.NodeIP = netw.Gateway
	return opts, calls
}

func fieldEnv(name, path string) corev1.EnvVar {
	return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
}

// httpGet retries until the server answers or the timeout passes.
func httpGet(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	c := http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == http.StatusOK {
				return string(body)
			}
			err = fmt.Errorf("status %s, read %v", resp.Status, rerr)
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, last)
	return ""
}

func podIPOf(st corev1.PodStatus) string { return st.PodIP }

// TestCNIPodNetwork runs pods on the real bridge, host-local and portmap
// plugins: the pod's IP is in its status, its /etc/hosts and its env; a
// second pod reaches it over the bridge and the host through its hostPort
// on the node's address and on localhost; a restarted agent adopts it with
// the same IP and no second ADD; stopping it releases the IP, the veth
// and the portmap rules. A host-network pod's podIP is the node's.
func TestCNIPodNetwork(t *testing.T) {
	netw := cnitest.New(t, cniOctet)
	e := newEnv(t)
	opts, calls := cniOptions(t, e, netw)
	rt := newRuntime(t, opts)
	hostPort := int32(30000 + os.Getpid()%20000)

	server := pod("web-node1", "uid-cni-web", corev1.RestartPolicyAlways, corev1.Container{
		Name: "httpd", Image: e.image,
		Env:     []corev1.EnvVar{fieldEnv("POD_IP", "status.podIP"), fieldEnv("POD_IPS", "status.podIPs"), fieldEnv("HOST_IP", "status.hostIP"), fieldEnv("HOST_IPS", "status.hostIPs")},
		Command: []string{"sh", "-c", `mkdir -p /tmp/www && echo "$POD_IP|$POD_IPS|$HOST_IP|$HOST_IPS" > /tmp/www/env && cp /etc/hosts /tmp/www/hosts && exec httpd -f -p 80 -h /tmp/www`},
		Ports:   []corev1.ContainerPort{{ContainerPort: 80, HostPort: hostPort}},
	})
	if err := rt.StartPod(t.Context(), server); err != nil {
		t.Fatal(err)
	}
	st := podStatus(t, rt, server.UID, 20*time.Second, func(st corev1.PodStatus) bool { return st.PodIP != "" })
	ip := st.PodIP
	if !strings.HasPrefix(ip, netw.Prefix) || len(st.PodIPs) != 1 || st.PodIPs[0].IP != ip {
		t.Fatalf("podIP %q podIPs %v: want one address in %s", ip, st.PodIPs, netw.Subnet)
	}
	if st.HostIP != netw.Gateway || len(st.HostIPs) != 1 || st.HostIPs[0].IP != netw.Gateway {
		t.Errorf("hostIP %q hostIPs %v: want the node IP %s", st.HostIP, st.HostIPs, netw.Gateway)
	}
	if got := netw.AllocatedIPs(t); !slices.Equal(got, []string{ip}) {
		t.Errorf("host-local holds %v, want [%s]", got, ip)
	}

	// The hostPort, on the node's address and on localhost, reaches the
	// pod's env and /etc/hosts.
	for _, host := range []string{netw.Gateway, "127.0.0.1"} {
		env := httpGet(t, fmt.Sprintf("http://%s:%d/env", host, hostPort), 20*time.Second)
		if want := fmt.Sprintf("%s|%s|%s|%s\n", ip, ip, netw.Gateway, netw.Gateway); env != want {
			t.Errorf("env through %s:%d: got %q, want %q", host, hostPort, env, want)
		}
	}
	if hosts := httpGet(t, fmt.Sprintf("http://%s/hosts", ip), 5*time.Second); !strings.Contains(hosts, ip+"\tweb-node1\n") {
		t.Errorf("the pod's /etc/hosts does not map its hostname to %s:\n%s", ip, hosts)
	}

	// Pod to pod over the bridge.
	client := pod("client-node1", "uid-cni-client", corev1.RestartPolicyNever, corev1.Container{
		Name: "wget", Image: e.image,
		Command: []string{"sh", "-c", fmt.Sprintf(`for i in $(seq 50); do wget -q -O- http://%s/env && exit 0; sleep 0.2; done; exit 1`, ip)},
	})
	if err := rt.StartPod(t.Context(), client); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, client.UID, "wget", 30*time.Second, terminated)
	if cs.State.Terminated.ExitCode != 0 {
		t.Errorf("the client pod could not reach %s: exit %d", ip, cs.State.Terminated.ExitCode)
	}
	if logs := readLog(t, opts, client, "wget", 0); !strings.Contains(logs, ip+"|") {
		t.Errorf("client log lacks the server's env: %q", logs)
	}
	clientIP := podIPOf(podStatus(t, rt, client.UID, 5*time.Second, func(st corev1.PodStatus) bool { return st.PodIP != "" }))

	hostNet := pod("hostnet-node1", "uid-cni-hostnet", corev1.RestartPolicyAlways, corev1.Container{Name: "sleep", Image: e.image, Command: []string{"sleep", "3600"}})
	hostNet.Spec.HostNetwork = true
	if err := rt.StartPod(t.Context(), hostNet); err != nil {
		t.Fatal(err)
	}
	if st, _ := rt.PodStatus(hostNet.UID); st.PodIP != netw.Gateway {
		t.Errorf("host-network pod's podIP %q, want the node IP %s", st.PodIP, netw.Gateway)
	}
	if n := cnitest.Calls(t, calls, "ADD"); n != 2 {
		t.Errorf("%d ADDs for two pods on the pod network and one on the host's", n)
	}

	// A new agent over the same state adopts the pods: same IP, no ADD.
	rt.Close()
	rt2 := newRuntime(t, opts)
	if _, err := rt2.ListPods(t.Context()); err != nil {
		t.Fatal(err)
	}
	// PodStatus says nothing of a pod until its adoption is done.
	if st := podStatus(t, rt2, server.UID, 10*time.Second, func(corev1.PodStatus) bool { return true }); st.PodIP != ip {
		t.Errorf("adopted pod's podIP %q, want %s", st.PodIP, ip)
	}
	if n := cnitest.Calls(t, calls, "ADD"); n != 2 {
		t.Errorf("%d ADDs after adoption, want still 2", n)
	}
	if env := httpGet(t, fmt.Sprintf("http://%s:%d/env", netw.Gateway, hostPort), 10*time.Second); !strings.HasPrefix(env, ip+"|") {
		t.Errorf("hostPort after adoption: %q", env)
	}

	// Stopping releases the IP, the veth and the hostPort's rules.
	ports := netw.BridgePorts(t)
	if err := rt2.StopPod(t.Context(), server.UID, 0); err != nil {
		t.Fatal(err)
	}
	if got := netw.AllocatedIPs(t); !slices.Equal(got, []string{clientIP}) {
		t.Errorf("host-local holds %v after the stop, want only the client's %s", got, clientIP)
	}
	if got := netw.BridgePorts(t); got != ports-1 {
		t.Errorf("bridge has %d ports after the stop, want %d", got, ports-1)
	}
	if rules := cnitest.NATRules(t); strings.Contains(rules, fmt.Sprintf("--dports %d", hostPort)) {
		t.Errorf("portmap rules for hostPort %d left after the stop:\n%s", hostPort, rules)
	}
	if n := cnitest.Calls(t, calls, "DEL "+string(server.UID)); n != 1 {
		t.Errorf("%d DELs for the stopped pod, want 1", n)
	}
	if err := rt2.StopPod(t.Context(), client.UID, 0); err != nil {
		t.Fatal(err)
	}
	if got := netw.AllocatedIPs(t); len(got) != 0 {
		t.Errorf("host-local holds %v with no pod left", got)
	}
}

// TestCNINoConfigLoopbackOnly: with an empty conf dir a pod runs with
// loopback only, its status says why, and the warning is logged once; a
// config dropped in later serves the next pod without a restart.
func TestCNINoConfigLoopbackOnly(t *testing.T) {
	netw := cnitest.New(t, cniOctet)
	conf := filepath.Join(netw.ConfDir, "10-test.conflist")
	saved, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(conf); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t)
	opts, calls := cniOptions(t, e, netw)
	var logs testenv.SyncBuffer
	opts.Logger = hclog.New(&hclog.LoggerOptions{Level: hclog.Warn, Output: &logs})
	rt := newRuntime(t, opts)

	lonely := pod("lonely-node1", "uid-cni-lonely", corev1.RestartPolicyAlways, corev1.Container{
		Name: "sh", Image: e.image, Command: []string{"sh", "-c", "ls /sys/class/net; sleep 3600"},
	})
	if err := rt.StartPod(t.Context(), lonely); err != nil {
		t.Fatal(err)
	}
	st := podStatus(t, rt, lonely.UID, 20*time.Second, func(st corev1.PodStatus) bool { return st.Phase == corev1.PodRunning })
	var cond *corev1.PodCondition
	for i := range st.Conditions {
		if st.Conditions[i].Type == containerd.PodNetworkCondition {
			cond = &st.Conditions[i]
		}
	}
	if cond == nil || cond.Status != corev1.ConditionFalse || cond.Reason != containerd.ReasonNoCNIConfig || !strings.Contains(cond.Message, netw.ConfDir) {
		t.Errorf("condition %+v: want %s False %s naming %s", cond, containerd.PodNetworkCondition, containerd.ReasonNoCNIConfig, netw.ConfDir)
	}
	if st.PodIP != "" || len(st.PodIPs) != 0 {
		t.Errorf("a loopback-only pod has podIP %q %v", st.PodIP, st.PodIPs)
	}
	time.Sleep(300 * time.Millisecond)
	if out := readLog(t, opts, lonely, "sh", 0); out != "lo\n" {
		t.Errorf("interfaces in the pod: %q, want lo only", out)
	}
	if n := strings.Count(logs.String(), "no CNI network config: the pod runs with loopback only"); n != 1 {
		t.Errorf("warning logged %d times, want once:\n%s", n, logs.String())
	}

	// A config dropped in later serves the next pod.
	if err := os.WriteFile(conf, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	later := pod("later-node1", "uid-cni-later", corev1.RestartPolicyAlways, corev1.Container{Name: "sleep", Image: e.image, Command: []string{"sleep", "3600"}})
	if err := rt.StartPod(t.Context(), later); err != nil {
		t.Fatal(err)
	}
	if st, _ := rt.PodStatus(later.UID); !strings.HasPrefix(st.PodIP, netw.Prefix) || condition(st, containerd.PodNetworkCondition) != "" {
		t.Errorf("pod started after the config appeared: podIP %q, conditions %+v", st.PodIP, st.Conditions)
	}
	if st, _ := rt.PodStatus(lonely.UID); condition(st, containerd.PodNetworkCondition) != corev1.ConditionFalse {
		t.Errorf("the loopback-only pod lost its condition: %+v", st.Conditions)
	}
	// Stopping the loopback-only pod runs no DEL.
	if err := rt.StopPod(t.Context(), lonely.UID, 0); err != nil {
		t.Fatal(err)
	}
	if n := cnitest.Calls(t, calls, "DEL "+string(lonely.UID)); n != 0 {
		t.Errorf("%d DELs for a pod never attached", n)
	}
}

// TestCNIFailingPlugin: a config whose chain names a plugin that is not
// installed fails the pod's start with the plugin's error and leaves no IP,
// veth or pod folder behind; a broken file ahead of a good one is skipped
// and the runtime goes on starting pods.
func TestCNIFailingPlugin(t *testing.T) {
	netw := cnitest.New(t, cniOctet)
	good, err := os.ReadFile(filepath.Join(netw.ConfDir, "10-test.conflist"))
	if err != nil {
		t.Fatal(err)
	}
	netw.WriteConf(t, "10-test.conflist", map[string]any{
		"cniVersion": "1.0.0", "name": netw.Name,
		"plugins": []any{
			map[string]any{"type": "bridge", "bridge": netw.Bridge, "isGateway": true, "ipam": map[string]any{
				"type": "host-local", "dataDir": netw.DataDir, "ranges": [][]map[string]string{{{"subnet": netw.Subnet}}},
			}},
			map[string]any{"type": "staticlet-missing-plugin"},
		},
	})
	e := newEnv(t)
	opts, _ := cniOptions(t, e, netw)
	rt := newRuntime(t, opts)
	p := pod("broken-node1", "uid-cni-broken", corev1.RestartPolicyAlways, corev1.Container{Name: "sleep", Image: e.image, Command: []string{"sleep", "3600"}})
	err = rt.StartPod(t.Context(), p)
	if !errors.Is(err, cni.ErrSetup) || !strings.Contains(err.Error(), "staticlet-missing-plugin") {
		t.Fatalf("start: got %v, want ErrSetup naming the missing plugin", err)
	}
	if got := netw.AllocatedIPs(t); len(got) != 0 {
		t.Errorf("host-local holds %v after the failed start", got)
	}
	if n := netw.BridgePorts(t); n != 0 {
		t.Errorf("%d veths left on the bridge after the failed start", n)
	}
	if _, err := os.Stat(filepath.Join(opts.StateDir, "pods", string(p.UID))); !os.IsNotExist(err) {
		t.Errorf("pod folder left after the failed start: %v", err)
	}
	if _, ok := rt.PodStatus(p.UID); ok {
		t.Error("the runtime holds the pod that failed to start")
	}

	if err := os.WriteFile(filepath.Join(netw.ConfDir, "05-broken.conflist"), []byte(`{"name": `), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(netw.ConfDir, "10-test.conflist"), good, 0o644); err != nil {
		t.Fatal(err)
	}
	// The same pod, retried as the agent would, now starts.
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	if st, _ := rt.PodStatus(types.UID(p.UID)); !strings.HasPrefix(st.PodIP, netw.Prefix) {
		t.Errorf("podIP %q after the config was fixed", st.PodIP)
	}
}
