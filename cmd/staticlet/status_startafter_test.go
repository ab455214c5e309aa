package main

import (
	"bytes"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/statusapi"
)

// TestStatusShowsWaitingPod: `staticlet status` shows a pod held back by
// its start-after annotation as Pending/Waiting with what it waits for.
func TestStatusShowsWaitingPod(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "busybox"}}}}
	message := "waiting for kube-system/etcd-n1 (not Ready) to be Running and Ready (staticlet.dev/start-after)"
	rs := agent.WaitingStatus(p, "WaitingForDependencies", message)
	st := statusapi.FromAgent(agent.Status{Pods: []agent.PodStatus{{Key: "kube-system/kube-apiserver-n1", UID: "u1", File: "/m/api.yaml",
		Phase: agent.PhaseWaiting, Runtime: &rs, WaitingFor: []string{"kube-system/etcd-n1"}}}})
	if pod := st.Pods[0]; pod.Reason != "WaitingForDependencies" || pod.Message != message || pod.WaitingFor[0] != "kube-system/etcd-n1" || pod.Ready {
		t.Fatalf("status API pod: %+v", pod)
	}
	var out bytes.Buffer
	if err := printStatusTable(&out, st); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kube-system/kube-apiserver-n1", "Pending/Waiting", "main=waiting(WaitingForDependencies)", "WaitingForDependencies: " + message} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}
