package kubelete2e_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/runtime/conformance"
	"github.com/staticlet/staticlet/host/runtime/front"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
	"github.com/staticlet/staticlet/internal/testenv/kubeletnode"
)

// TestConformanceThroughTheKubelet runs the runtime suite on the front runtime with the real kubelet
// behind it: the kubelet reads the current runtime's list, runs the pods, and its mirror pods report their
// status back (WatchMirrors). The grace-period case is not run: StopPod returns once the pod is withdrawn,
// and the kubelet stops it afterwards.
func TestConformanceThroughTheKubelet(t *testing.T) {
	kubeletnode.Require(t)
	c := kubeapi.Start(t)
	var current atomic.Pointer[front.Runtime]
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt := current.Load(); rt != nil {
			rt.ServeHTTP(w, r)
			return
		}
		http.Error(w, "no runtime yet", http.StatusServiceUnavailable)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	kubeletnode.Start(t, c, kubeletnode.Options{StaticPodURL: "http://" + ln.Addr().String() + front.PodsPath})

	use := func(t *testing.T, rt *front.Runtime) *front.Runtime {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); front.WatchMirrors(ctx, c.Node(t), c.NodeName, rt) }()
		t.Cleanup(func() { cancel(); <-done })
		current.Store(rt)
		return rt
	}
	pod := func(ns, name string, uid types.UID, args ...string) *corev1.Pod {
		p := conformance.BasicPod(ns, name, uid, "staticlet.test/busybox:latest", args...)
		p.Spec.HostNetwork = true // no CNI on these machines
		return p
	}
	conformance.Run(t, conformance.Harness{
		Timeout:       90 * time.Second,
		CrashLoopBase: 10 * time.Second, // the kubelet's
		New: func(t *testing.T) agent.Runtime {
			rt, err := front.New(front.Options{NodeName: c.NodeName, StateFile: filepath.Join(t.TempDir(), "pods.json"), AwaitStatus: 60 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			rt.MarkSynced()
			return use(t, rt)
		},
		Reopen: func(t *testing.T, old agent.Runtime) agent.Runtime {
			rt, err := front.New(old.(*front.Runtime).Options())
			if err != nil {
				t.Fatal(err)
			}
			return use(t, rt)
		},
		Pod: func(t *testing.T, ns, name string, uid types.UID) *corev1.Pod {
			return pod(ns, name, uid, "sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait")
		},
		ExitingPod: func(t *testing.T, ns, name string, uid types.UID, code int, policy corev1.RestartPolicy) *corev1.Pod {
			p := pod(ns, name, uid, "sh", "-c", fmt.Sprintf("sleep 0.2; exit %d", code))
			p.Spec.RestartPolicy = policy
			return p
		},
	})
}
