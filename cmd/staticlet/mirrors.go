package main

import (
	"context"
	"fmt"
	"net"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/config"
	"github.com/staticlet/staticlet/host/mirror"
	"github.com/staticlet/staticlet/host/runtime/containerd"
)

// apiClient is the client for the configured kubeconfig, nil without one.
func apiClient(s config.Settings) (kubernetes.Interface, error) {
	if s.Kubeconfig == "" {
		return nil, nil
	}
	restConfig, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s: %w", s.Kubeconfig, err)
	}
	restConfig.UserAgent = "staticlet/" + version
	client, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: %s: %w", s.Kubeconfig, err)
	}
	return client, nil
}

// nodeOptions is what the Node says of this host (its addresses, and with registerNode its capacity and
// system info), and the address pods report as their hostIP.
func nodeOptions(s config.Settings, log hclog.Logger) (mirror.NodeOptions, string, error) {
	opts := mirror.NodeOptions{Labels: s.NodeLabels, AgentVersion: "staticlet/" + version, Taints: s.RegisterWithTaints, KubeletPort: s.KubeletPort}
	if s.NodeIP != "" {
		if err := mirror.CheckNodeIP(s.NodeIP); err != nil {
			log.Warn("nodeIP may not be reachable from the API server", "error", err)
		}
		opts.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: s.NodeIP}, {Type: corev1.NodeHostName, Address: s.NodeName}}
	}
	if s.RegisterNode {
		var err error
		if opts, err = mirror.HostNodeOptions(s.NodeName, opts); err != nil {
			return opts, "", fmt.Errorf("register node %s: %w", s.NodeName, err)
		}
	}
	hostIP := s.NodeIP
	if hostIP == "" && len(opts.Addresses) > 0 && net.ParseIP(opts.Addresses[0].Address) != nil {
		hostIP = opts.Addresses[0].Address
	}
	return opts, hostIP, nil
}

// startMirrors starts the mirror pod manager when a kubeconfig is configured (client is not nil) and
// returns the hook to set as agent.Config.OnState, a function that records a Warning Event on the Node
// (nil when standalone), and a channel closed when the manager has stopped. Without a kubeconfig
// staticlet runs standalone, as the kubelet does: the hook is nil and the channel is already closed. Pod
// status reaches the mirrors through the agent's state alone: the agent publishes it whenever the runtime
// signals a change (a restart, a probe's verdict), so nothing polls the runtime beside the agent.
func startMirrors(ctx context.Context, s config.Settings, client kubernetes.Interface, opts mirror.NodeOptions, hostIP string, rt agent.Runtime, countCall func(verb, outcome string), log hclog.Logger) (func(agent.StateSnapshot), func(reason, message string), <-chan struct{}) {
	done := make(chan struct{})
	// In mode kubeletFront the kubelet keeps the mirror pods.
	if client == nil || s.Mode == config.ModeKubeletFront {
		close(done)
		return nil, nil, done
	}
	cfg := mirror.Config{
		Client: client, NodeName: s.NodeName, RegisterNode: s.RegisterNode, Node: opts, HostIP: hostIP,
		CountCall: countCall, Logger: log.Named("mirror"),
	}
	// A registered Node is Ready only while containerd answers, and names its version (nodestatus.go).
	if probe, ok := rt.(runtimeProbe); ok {
		cfg.RuntimeHealth, cfg.RuntimeVersion = probe.Ping, probe.RuntimeVersion
	}
	m := mirror.New(cfg)
	go func() {
		defer close(done)
		_ = m.Run(ctx)
	}()
	return mirror.Hook(m), m.WarnNode, done
}

// runtimeProbe is what the containerd runtime offers a registered Node: its health and its version.
type runtimeProbe interface {
	Ping(context.Context) error
	RuntimeVersion(context.Context) (string, error)
}

// A containerd runtime that stopped offering them would leave the Node Ready while containerd is down.
var _ runtimeProbe = (*containerd.Runtime)(nil)
