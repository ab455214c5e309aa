package containerd_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/internal/cnitest"
)

// TestCNIAfterReboot: after what a reboot leaves (the pod's tasks and its
// namespaces gone, the pod folder, host-local's allocation and portmap's
// rules still there), the next agent releases the old attachment from
// libcni's cache (DEL) before attaching the pod's new namespace (ADD):
// the pod runs again, reachable through its hostPort, and holds one IP.
// The network not being ready at first only delays that: the agent retries
// the pod's sandbox with back-off, the pod waiting with the error. Nothing
// of that happens before StartPod: the pod is dormant until then.
func TestCNIAfterReboot(t *testing.T) {
	netw := cnitest.New(t, cniOctet)
	e := newEnv(t)
	opts, calls := cniOptions(t, e, netw)
	rt := newRuntime(t, opts)
	hostPort := int32(30000 + (os.Getpid()+7)%20000)
	server := pod("reboot-node1", "uid-cni-reboot", corev1.RestartPolicyAlways, corev1.Container{
		Name: "httpd", Image: e.image,
		Command: []string{"sh", "-c", `mkdir -p /tmp/www && hostname -i > /tmp/www/ip && exec httpd -f -p 80 -h /tmp/www`},
		Ports:   []corev1.ContainerPort{{ContainerPort: 80, HostPort: hostPort}},
	})
	if err := rt.StartPod(t.Context(), server); err != nil {
		t.Fatal(err)
	}
	before := podStatus(t, rt, server.UID, 20*time.Second, func(st corev1.PodStatus) bool { return st.PodIP != "" }).PodIP
	httpGet(t, fmt.Sprintf("http://%s:%d/ip", netw.Gateway, hostPort), 20*time.Second)
	rt.Close()

	// The "reboot": every task of the pod killed and deleted, its namespace
	// mounts gone (so the kernel destroys the network namespace and the
	// veth in it); containerd's container records and the pod folder stay.
	simulateReboot(t, opts)
	if got := netw.AllocatedIPs(t); !slices.Equal(got, []string{before}) {
		t.Fatalf("before the new agent, host-local holds %v, want the old %s", got, before)
	}

	// The pod network is not ready when the next agent starts (a CNI
	// daemon that is itself a pod, say): the bridge plugin fails. The pod
	// waits with the error, and the agent retries until it works.
	wrapper := filepath.Join(opts.Network.CNIBinDirs[0], "bridge")
	working, err := os.ReadFile(wrapper)
	if err != nil {
		t.Fatal(err)
	}
	notReady := "#!/bin/sh\necho '{\"cniVersion\":\"1.0.0\",\"code\":11,\"msg\":\"network not ready\"}'\nexit 1\n"
	if err := os.WriteFile(wrapper, []byte(notReady), 0o755); err != nil {
		t.Fatal(err)
	}
	rt2 := newRuntime(t, opts)
	listed, err := rt2.ListPods(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	// Found from its record alone: dormant, nothing set up, until the
	// agent asks for it.
	if len(listed) != 1 || listed[0].UID != server.UID || !listed[0].Dormant {
		t.Fatalf("ListPods after the reboot = %+v, want the pod, dormant", listed)
	}
	if n := cnitest.Calls(t, calls, "ADD "+string(server.UID)); n != 1 {
		t.Errorf("%d ADDs for a dormant pod, want only the first start's", n)
	}
	if err := rt2.StartPod(t.Context(), server); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt2, server.UID, "httpd", 10*time.Second, func(cs corev1.ContainerStatus) bool {
		return cs.State.Waiting != nil && cs.State.Waiting.Reason == "ContainerCreating" && strings.Contains(cs.State.Waiting.Message, "network not ready")
	})
	t.Logf("while the network is not ready: %s", cs.State.Waiting.Message)
	if err := os.WriteFile(wrapper, working, 0o755); err != nil {
		t.Fatal(err)
	}
	waitContainer(t, rt2, server.UID, "httpd", 30*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	after := podStatus(t, rt2, server.UID, 10*time.Second, func(st corev1.PodStatus) bool { return st.PodIP != "" }).PodIP
	if got := netw.AllocatedIPs(t); !slices.Equal(got, []string{after}) {
		t.Errorf("host-local holds %v, want only the new attachment's %s (old %s)", got, after, before)
	}
	if got := httpGet(t, fmt.Sprintf("http://%s:%d/ip", netw.Gateway, hostPort), 20*time.Second); !strings.Contains(got, after) {
		t.Errorf("the hostPort reaches a pod saying %q, want %s", got, after)
	}
	if n, d := cnitest.Calls(t, calls, "ADD "+string(server.UID)), cnitest.Calls(t, calls, "DEL "+string(server.UID)); n != 2 || d != 1 {
		t.Errorf("%d ADDs and %d DELs, want 2 and 1 (the old attachment released once)", n, d)
	}
	if after != before {
		if rules := cnitest.NATRules(t); strings.Contains(rules, before+":80") {
			t.Errorf("portmap rules for the old address %s left:\n%s", before, rules)
		}
	}
}
