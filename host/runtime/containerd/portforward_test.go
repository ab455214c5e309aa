package containerd_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/internal/testenv"
)

// forwardStream is a port-forward's client side: it sends what r holds,
// then ends, and keeps what the pod answers.
type forwardStream struct {
	r io.Reader
	testenv.SyncBuffer
}

func (s *forwardStream) Read(p []byte) (int, error) { return s.r.Read(p) }
func (s *forwardStream) Close() error               { return nil }

// freePort is a TCP port nothing on the host listens on now, outside the ephemeral range
// (testenv.FreePort).
func freePort(t *testing.T) int32 { return int32(testenv.FreePort(t)) }

// echoPod runs busybox nc as an echo server on port: every connection gets
// a cat, which answers what it reads and exits at its end.
func echoPod(image, name string, port int32, hostNetwork bool) *corev1.Pod {
	p := pod(name, types.UID("uid-"+name), corev1.RestartPolicyAlways, corev1.Container{Name: "echo", Image: image,
		Command: []string{"nc", "-ll", "-p", strconv.Itoa(int(port)), "-e", "cat"}})
	p.Spec.HostNetwork = hostNetwork
	return p
}

// forward sends payload through a port-forward, once the server listens.
func forward(t *testing.T, rt *containerd.Runtime, p *corev1.Pod, port int32, payload string) string {
	t.Helper()
	var got string
	testenv.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		s := &forwardStream{r: strings.NewReader(payload)}
		if err := rt.PortForward(ctx, p.Namespace+"/"+p.Name, string(p.UID), port, s); err != nil {
			return err // nc may not listen yet
		}
		got = s.String()
		return nil
	})
	return got
}

// TestPortForward forwards to an echo server in a pod with its own network
// namespace and in a host-network pod: the client's end half-closes the
// connection, so the server still answers all it read. A closed port and an
// unknown pod fail.
func TestPortForward(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	ownPort, hostPort := freePort(t), freePort(t)
	own := echoPod(e.image, "pf-node1", ownPort, false)
	host := echoPod(e.image, "pfhost-node1", hostPort, true)
	for _, p := range []*corev1.Pod{own, host} {
		if err := rt.StartPod(t.Context(), p); err != nil {
			t.Fatal(err)
		}
		waitContainer(t, rt, p.UID, "echo", 20*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	}
	payload := strings.Repeat("0123456789abcdef", 64<<10) // 1 MiB both ways at once

	t.Run("own network namespace", func(t *testing.T) {
		if got := forward(t, rt, own, ownPort, payload); got != payload {
			t.Errorf("echoed %d bytes, want the %d sent", len(got), len(payload))
		}
		// The server is in the pod's namespace, not the host's.
		if c, err := net.Dial("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(ownPort)))); err == nil {
			c.Close()
			t.Errorf("port %d answers on the host too: the test proves nothing", ownPort)
		}
	})

	t.Run("host network", func(t *testing.T) {
		if got := forward(t, rt, host, hostPort, "ping\n"); got != "ping\n" {
			t.Errorf("echoed %q, want ping", got)
		}
	})

	t.Run("closed port", func(t *testing.T) {
		err := rt.PortForward(t.Context(), "default/pf-node1", string(own.UID), 1, &forwardStream{r: strings.NewReader("x")})
		if err == nil || !strings.Contains(err.Error(), "default/pf-node1") || !strings.Contains(err.Error(), "port 1") {
			t.Errorf("forward to a closed port: %v, want an error naming the pod and port", err)
		}
		t.Logf("closed port: %v", err)
	})

	t.Run("unknown pod", func(t *testing.T) {
		err := rt.PortForward(t.Context(), "default/absent", "uid-absent", ownPort, &forwardStream{r: strings.NewReader("x")})
		if !errors.Is(err, containerd.ErrPodNotFound) {
			t.Errorf("forward to an unknown pod: %v, want ErrPodNotFound", err)
		}
	})
}
