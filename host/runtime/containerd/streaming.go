package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/containerd/containerd/v2/client"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/probe"
)

// The kubelet API's exec and port-forward (package cri-streaming's
// remotecommand.ServeExec and portforward.ServePortForward) call these.
var (
	_ remotecommand.Executor    = (*Runtime)(nil)
	_ portforward.PortForwarder = (*Runtime)(nil)
)

// Sentinel kinds of a failed exec or port-forward, checked with errors.Is.
var (
	// ErrPodNotFound is agent.ErrPodNotFound: the runtime holds no pod of
	// that UID.
	ErrPodNotFound = agent.ErrPodNotFound
	// ErrContainerNotFound: the pod has no container of that name.
	ErrContainerNotFound = errors.New("container not found")
	// ErrContainerNotRunning: the container's current run is not running
	// (waiting, exited, or never started).
	ErrContainerNotRunning = errors.New("container not running")
)

// podTargets is what exec and port-forward reach in a pod, published by its
// worker with each status: a stream never waits for the worker, which may be
// busy for minutes (a pull), and never reads the worker's fields.
type podTargets struct {
	containers map[string]targetContainer
	// dial connects from the pod's network view (worker.dialer).
	dial probe.Dial
}

type targetContainer struct {
	ctr     client.Container // the current run's, nil when none
	running bool
}

// streamTargets builds the snapshot publish stores; it runs in the worker's
// goroutine.
func (w *worker) streamTargets() *podTargets {
	t := &podTargets{containers: make(map[string]targetContainer, len(w.containers))}
	for _, cs := range w.containers {
		t.containers[cs.name] = targetContainer{ctr: cs.ctr, running: cs.running && cs.ctr != nil}
	}
	if w.pod != nil {
		t.dial = w.dialer()
	} else {
		// Adopted without a record: whether it has the host's network is
		// unknown, so nothing is dialled.
		t.dial = func(context.Context, string, string) (net.Conn, error) { return nil, errNoSandbox }
	}
	return t
}

// targetsOf returns the published targets of the pod uid. An adopted pod's
// are waited for until its worker has looked at what runs, as PodStatus
// does, so an exec right after an agent restart finds its container.
func (r *Runtime) targetsOf(ctx context.Context, what, uid string) (*podTargets, error) {
	r.mu.Lock()
	w := r.workers[types.UID(uid)]
	r.mu.Unlock()
	if w == nil {
		return nil, fmt.Errorf("%s: uid %s: %w", what, uid, ErrPodNotFound)
	}
	if w.adopting {
		select {
		case <-w.ready:
		case <-w.done:
			return nil, fmt.Errorf("%s: %w", what, errClosing)
		case <-ctx.Done():
			return nil, fmt.Errorf("%s: %w", what, ctx.Err())
		}
	}
	return w.targets.Load(), nil
}
