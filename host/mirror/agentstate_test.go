package mirror

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
)

func TestFromAgent(t *testing.T) {
	good := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "myapp-pod-worker-1", Namespace: "default", UID: "abc"}}
	rs := &corev1.PodStatus{Phase: corev1.PodRunning}
	snap := agent.StateSnapshot{
		Desired: desired.Snapshot{Pods: []desired.Pod{{Key: "default/myapp-pod-worker-1", UID: good.UID, Pod: good, File: "/m/static.yaml"}}},
		Status: agent.Status{
			Synced: true,
			Pods:   []agent.PodStatus{{Key: "default/myapp-pod-worker-1", UID: "abc", Phase: "Active", Runtime: rs}},
			Files: []desired.FileStatus{
				{Source: "file", File: "/m/static.yaml", Verdict: admission.Rejected, Stale: true, PodKey: "default/myapp-pod-worker-1",
					Reasons: []admission.Reason{{Field: "spec.containers[0].image", Message: "Required value"}}},
				{Source: "file", File: "/m/new.yaml", Verdict: admission.Rejected, Reasons: []admission.Reason{{Message: "denied by policy"}}},
				{Source: "file", File: "/m/ok.yaml", Verdict: admission.Accepted},
			},
		},
	}
	s := FromAgent(snap)
	if !s.Synced || len(s.Pods) != 1 || s.Pods[0].Runtime != rs || s.Pods[0].Phase != "Active" {
		t.Errorf("pods = %+v", s.Pods)
	}
	if len(s.Rejected) != 2 || s.Rejected[0].PodKey != "default/myapp-pod-worker-1" || s.Rejected[1].PodKey != "" ||
		len(s.Rejected[0].Reasons) != 1 || s.Rejected[0].Reasons[0] == "" {
		t.Errorf("rejected = %+v", s.Rejected)
	}
}
