package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/config"
	"github.com/staticlet/staticlet/host/kubeletapi"
	"github.com/staticlet/staticlet/host/mirror"
	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
	"github.com/staticlet/staticlet/host/statusapi"
)

// agentPods is the kubelet API's view of the node's pods: the agent's latest published state, each
// pod with the status its mirror pod shows. The agent publishes on every runtime status change, so a
// follower of a container's log learns that the container stopped without polling the runtime.
type agentPods struct {
	hostIP string
	state  atomic.Pointer[agent.StateSnapshot]
}

func (p *agentPods) observe(s agent.StateSnapshot) { p.state.Store(&s) }

// Pods implements kubeletapi.Pods.
func (p *agentPods) Pods() []*corev1.Pod {
	s := p.state.Load()
	if s == nil {
		return nil
	}
	now := time.Now()
	st := mirror.FromAgent(*s)
	out := make([]*corev1.Pod, 0, len(st.Pods))
	for _, mp := range st.Pods {
		if mp.Runtime == nil {
			continue // admitted but not (yet) run: nothing to log, exec into or forward to
		}
		pod := mp.Pod.DeepCopy()
		pod.Status = mirrorpod.MirrorStatus(mirrorpod.StatusInput{
			Static: mp.Pod, Runtime: mp.Runtime, AgentPhase: mp.Phase, LastError: mp.LastError, HostIP: p.hostIP, Now: now,
		})
		out = append(out, pod)
	}
	return out
}

// kubeletAPIStatus is the status section of a running kubelet API.
func kubeletAPIStatus(srv *kubeletapi.Server) *statusapi.KubeletAPI {
	st := srv.Status()
	out := &statusapi.KubeletAPI{Address: st.Address, CertificateSource: st.CertificateSource, Waiting: st.Waiting}
	if !st.NotAfter.IsZero() {
		out.CertificateNotAfter = st.NotAfter.UTC().Format(time.RFC3339)
	}
	return out
}

// startKubeletAPI serves the kubelet API on kubeletPort when it is set: TLS (configured files, a
// bootstrapped certificate, or else a self-signed one under <stateDir>/pki, as the kubelet), authentication
// and authorization delegated to the API server, logs from the pod log folder, exec and port-forward
// through the runtime, resource metrics from the runtime's cgroups. It returns a channel closed when the
// server has stopped.
func startKubeletAPI(ctx context.Context, s config.Settings, client kubernetes.Interface, addresses []corev1.NodeAddress,
	pods *agentPods, containers kubeletapi.Containers, stats kubeletapi.ResourceStats, observe func(route string, code int, longRunning bool, took time.Duration),
	log hclog.Logger) (*kubeletapi.Server, <-chan struct{}, error) {
	done := make(chan struct{})
	if s.KubeletPort == 0 {
		close(done)
		return nil, done, nil
	}
	c := s.KubeletServer
	cfg := kubeletapi.Config{
		NodeName: s.NodeName, Address: c.Address, Port: s.KubeletPort,
		TLSCertFile: c.TLSCertFile, TLSPrivateKeyFile: c.TLSPrivateKeyFile,
		ServerTLSBootstrap: c.ServerTLSBootstrap, CertDir: s.KubeletServerCertDir(), NodeAddresses: addresses,
		Authentication: c.Authentication, Authorization: c.Authorization,
		Client: client, PodLogDir: s.PodLogDir, ResourceStats: stats, Logger: log.Named("kubeletapi"), ObserveRequest: observe,
	}
	srv, err := kubeletapi.New(cfg, pods, containers)
	if err != nil {
		return nil, nil, fmt.Errorf("kubelet API: %w", err)
	}
	// Bound now: a taken port stops staticlet at start, as it stops the kubelet, rather than leaving a
	// Node that advertises a port nobody of ours answers on.
	ln, err := srv.Listen()
	if err != nil {
		return nil, nil, err
	}
	go func() {
		defer close(done)
		if err := srv.Serve(ctx, ln); err != nil {
			log.Error("kubelet API failed", "error", err)
		}
	}()
	return srv, done, nil
}
