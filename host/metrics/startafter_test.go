package metrics

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/agent"
)

// TestWaitingVersionBesideRunningOne: while a changed pod waits for its
// start-after dependencies, its older version runs under the same name; the
// scrape must not report that pod's restart counter twice (the registry
// refuses duplicate series), and the waiting version counts as Pending.
func TestWaitingVersionBesideRunningOne(t *testing.T) {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main"}}}}
	waiting := agent.WaitingStatus(p, "WaitingForDependencies", "waiting for default/db-n1")
	running := corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "main", RestartCount: 2}}}
	st := agent.Status{Pods: []agent.PodStatus{
		{Key: "default/web-n1", UID: "old", Phase: "Active", Runtime: &running},
		{Key: "default/web-n1", UID: "new", Phase: agent.PhaseWaiting, Runtime: &waiting},
	}}
	fams := scrape(t, (&Server{Metrics: New(fixedStatus{st})}).Handler())
	if got := value(t, fams, "staticlet_container_restarts_total", map[string]string{"pod": "web-n1", "container": "main"}); got != 2 {
		t.Fatalf("restarts = %v, want the running version's 2", got)
	}
	if got := value(t, fams, "staticlet_pods", map[string]string{"phase": "Pending"}); got != 1 {
		t.Fatalf("pending pods = %v, want 1", got)
	}
}
