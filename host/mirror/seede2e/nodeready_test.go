package seede2e_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/staticlet/staticlet/internal/testenv"
)

// TestNodeReadyFollowsContainerd: with the real containerd, the Node staticlet registers names it
// (containerd://<version>) and turns Ready=False (KubeletNotReady, "container runtime is down") within a
// few seconds of containerd stopping, and Ready=True once it is back. (That mirrors stay meanwhile is
// TestMirrorStaysWhileContainerdIsDownDuringTermination's.)
func TestNodeReadyFollowsContainerd(t *testing.T) {
	if os.Getenv(testenv.EnvAddress) != "" {
		t.Skip("restarts only the private containerd")
	}
	e := newNodeEnv(t)
	e.nodeStatusInterval = time.Second
	n := e.start(t)
	t.Cleanup(func() { n.stop(t) })
	admin := e.cluster.Admin(t)

	ready := func(within time.Duration, want corev1.ConditionStatus) corev1.NodeCondition {
		t.Helper()
		var last corev1.NodeCondition
		for end := time.Now().Add(within); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			node, err := admin.CoreV1().Nodes().Get(context.Background(), e.cluster.NodeName, metav1.GetOptions{})
			if err != nil {
				continue
			}
			if !strings.HasPrefix(node.Status.NodeInfo.ContainerRuntimeVersion, "containerd://") {
				t.Errorf("containerRuntimeVersion = %q", node.Status.NodeInfo.ContainerRuntimeVersion)
			}
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady {
					last = c
				}
			}
			if last.Status == want {
				return last
			}
		}
		t.Fatalf("Ready never %s within %s; last %+v", want, within, last)
		return last
	}
	ready(30*time.Second, corev1.ConditionTrue)
	stateDir := filepath.Dir(e.rtOpts.Address)
	stopContainerd(t, stateDir)
	restart := sync.OnceFunc(func() { startContainerd(t, stateDir) })
	t.Cleanup(restart)
	down := time.Now()
	// One status interval plus the health check's 3 s bound.
	c := ready(6*time.Second, corev1.ConditionFalse)
	t.Logf("Ready=False %s after containerd stopped", time.Since(down).Round(100*time.Millisecond))
	if c.Reason != "KubeletNotReady" || c.Message != "container runtime is down" {
		t.Errorf("Ready condition %s: %q", c.Reason, c.Message)
	}
	restart()
	back := time.Now()
	ready(6*time.Second, corev1.ConditionTrue)
	t.Logf("Ready=True %s after containerd was back", time.Since(back).Round(100*time.Millisecond))
}
