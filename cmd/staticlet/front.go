package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"time"

	"github.com/hashicorp/go-hclog"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/config"
	"github.com/staticlet/staticlet/host/runtime/front"
)

// kubeletFront is the runtime of mode kubeletFront and its listener.
type kubeletFront struct {
	rt *front.Runtime
	ln net.Listener
}

// newFront makes the runtime of mode kubeletFront, which publishes the
// admitted pods for the kubelet instead of running them, and listens on
// front.address at once, so a busy address fails the start. With a
// kubeconfig, StartPod waits (one httpCheckFrequency and 10 s) for the
// kubelet's mirror pod to report the pod, so start-after sees the kubelet's
// readiness.
func newFront(s config.Settings, log hclog.Logger) (kubeletFront, error) {
	opts := front.Options{NodeName: s.NodeName, StateFile: filepath.Join(s.StateDir, "kubelet-front", "pods.json"), Logger: log.Named("front")}
	if s.Kubeconfig != "" {
		opts.AwaitStatus = s.HTTPCheckFrequency + 10*time.Second
	}
	rt, err := front.New(opts)
	if err != nil {
		return kubeletFront{}, err
	}
	ln, err := net.Listen("tcp", s.FrontAddress)
	if err != nil {
		return kubeletFront{}, fmt.Errorf("front.address: %s: %w", s.FrontAddress, err)
	}
	return kubeletFront{rt: rt, ln: ln}, nil
}

// serveFront serves the pod list on front.address until ctx is done, lets it
// be served (even empty) once the agent has synced, and with a kubeconfig
// reads the kubelet's mirror pods for the pods' status; it never writes to
// the API server.
func serveFront(ctx context.Context, s config.Settings, f kubeletFront, a *agent.Agent, log hclog.Logger) error {
	rt := f.rt
	if s.Kubeconfig != "" {
		restConfig, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig)
		if err != nil {
			_ = f.ln.Close()
			return fmt.Errorf("kubeconfig: %s: %w", s.Kubeconfig, err)
		}
		restConfig.UserAgent = "staticlet/" + version
		client, err := kubernetes.NewForConfig(restConfig)
		if err != nil {
			_ = f.ln.Close()
			return fmt.Errorf("kubeconfig: %s: %w", s.Kubeconfig, err)
		}
		go front.WatchMirrors(ctx, client, s.NodeName, rt)
	}
	go func() {
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			if st, err := a.Status(ctx); err == nil && st.Synced {
				rt.MarkSynced()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	log.Info("kubelet front: serving the admitted pods", "static_pod_url", "http://"+s.FrontAddress+front.PodsPath)
	return rt.ServeListener(ctx, f.ln)
}
