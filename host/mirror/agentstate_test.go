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

// TestFromAgentTerminating: a pod the agent holds that no manifest wants (removed, or an older version of
// an edited one) is reported as terminating, with its runtime status; dormant and desired pods are not.
func TestFromAgentTerminating(t *testing.T) {
	newer := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-worker-1", Namespace: "default", UID: "new"}}
	rs := &corev1.PodStatus{Phase: corev1.PodRunning}
	snap := agent.StateSnapshot{
		Desired: desired.Snapshot{Pods: []desired.Pod{{Key: "default/web-worker-1", UID: newer.UID, Pod: newer}}},
		Status: agent.Status{Pods: []agent.PodStatus{
			{Key: "default/web-worker-1", UID: "old", Phase: "Stopping", Runtime: rs},
			{Key: "default/web-worker-1", UID: "new", Phase: "Starting"},
			{Key: "default/gone-worker-1", UID: "gone", Phase: "Active", Runtime: rs},
			{Key: "default/asleep-worker-1", UID: "asleep", Phase: "Dormant"},
		}},
	}
	got := FromAgent(snap).Terminating
	if len(got) != 2 || got[0] != (Terminating{Key: "default/web-worker-1", UID: "old", Runtime: rs}) ||
		got[1] != (Terminating{Key: "default/gone-worker-1", UID: "gone", Runtime: rs}) {
		t.Errorf("terminating = %+v, want the old version and the removed pod", got)
	}
}
