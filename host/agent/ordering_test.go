package agent_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/mirror"
	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
	"github.com/staticlet/staticlet/host/runtime/fake"
	"github.com/staticlet/staticlet/internal/testenv"
)

// podAfter is pod(name, image) with a staticlet.dev/start-after annotation.
func podAfter(name, image, after string) string {
	return strings.Replace(pod(name, image), "  name: "+name+"\n",
		"  name: "+name+"\n  annotations:\n    staticlet.dev/start-after: \""+after+"\"\n", 1)
}

// waitPod waits until the agent reports the pod with key satisfying cond.
func (h *harness) waitPod(key string, cond func(agent.PodStatus) bool) agent.PodStatus {
	h.t.Helper()
	var found agent.PodStatus
	testenv.Eventually(h.t, 5*time.Second, func() error {
		pods := h.status().Pods
		for _, p := range pods {
			if p.Key == key && cond(p) {
				found = p
				return nil
			}
		}
		return fmt.Errorf("pod %s is not in the expected state; pods: %+v", key, pods)
	})
	return found
}

func isWaiting(p agent.PodStatus) bool { return p.Phase == agent.PhaseWaiting }

func TestStartAfterWaitsForReadiness(t *testing.T) {
	rt := fake.New()
	rt.StartUnready("default/db-node1")
	h := start(t, rt, func(dir string) {
		os.WriteFile(dir+"/db.yaml", []byte(pod("db", "busybox:1")), 0o644)
		os.WriteFile(dir+"/web.yaml", []byte(podAfter("web", "busybox:1", "db")), 0o644)
	})
	h.waitRunning("default/db-node1")
	// The message follows db from "starting" to "not Ready" at the next
	// plan after its start returns.
	web := h.waitPod("default/web-node1", func(p agent.PodStatus) bool {
		return isWaiting(p) && p.Runtime != nil && strings.Contains(p.Runtime.Message, "(not Ready)")
	})
	if strings.Join(web.WaitingFor, ",") != "default/db-node1" || web.Runtime == nil ||
		web.Runtime.Phase != corev1.PodPending || web.Runtime.Reason != "WaitingForDependencies" ||
		!strings.Contains(web.Runtime.Message, "waiting for default/db-node1 (not Ready) to be Running and Ready") {
		t.Fatalf("waiting pod status: %+v %+v", web, web.Runtime)
	}
	if !strings.HasSuffix(web.File, "web.yaml") || web.LastError != "" {
		t.Fatalf("waiting pod: file %q, last error %q", web.File, web.LastError)
	}

	// The dependency turns Ready: the fake signals StatusChanged and the
	// waiting pod starts without any other event.
	rt.SetReady("default/db-node1", true)
	h.waitRunning("default/db-node1", "default/web-node1")
	for _, p := range h.status().Pods {
		if p.Phase == agent.PhaseWaiting {
			t.Fatalf("still waiting after start: %+v", p)
		}
	}

	// Ordering is for the start only: the dependency turning unready stops
	// nothing (testdata/start_after.txt shows it step by step).
	rt.SetReady("default/db-node1", false)

	// A changed version waits again, while the running one keeps running.
	h.write("web.yaml", podAfter("web", "busybox:2", "db"))
	h.waitPod("default/web-node1", isWaiting)
	h.quiesce()
	if h.calls("stop") != 0 || h.calls("start") != 2 {
		t.Fatalf("calls = %+v, want the old web running while the new one waits", h.rt.Calls())
	}
	rt.SetReady("default/db-node1", true)
	h.waitPod("default/web-node1", func(p agent.PodStatus) bool {
		return p.Phase == "Active" && p.UID != web.UID && len(h.rt.Running()) == 2
	})
	calls := h.rt.Calls()
	last := calls[len(calls)-2:]
	if last[0].Op != "stop" || last[0].Key != "default/web-node1" || last[1].Op != "start" || last[1].Key != "default/web-node1" {
		t.Fatalf("calls = %+v, want the old web stopped, then the new one started", calls)
	}
}

func TestStartAfterMissingDependencyThenAppears(t *testing.T) {
	h := start(t, fake.New(), nil)
	h.write("web.yaml", podAfter("web", "busybox:1", "kube-system/db"))
	web := h.waitPod("default/web-node1", isWaiting)
	if !strings.Contains(web.Runtime.Message, `kube-system/db (no static pod with manifest name "db" in namespace "kube-system")`) {
		t.Fatalf("message = %q", web.Runtime.Message)
	}
	h.quiesce()
	if h.calls("start") != 0 {
		t.Fatalf("calls = %+v, want nothing started", h.rt.Calls())
	}
	h.write("db.yaml", strings.Replace(pod("db", "busybox:1"), "  name: db\n", "  name: db\n  namespace: kube-system\n", 1))
	h.waitRunning("default/web-node1", "kube-system/db-node1")
	calls := h.rt.Calls()
	if len(calls) != 2 || calls[0].Key != "kube-system/db-node1" || calls[1].Key != "default/web-node1" {
		t.Fatalf("calls = %+v, want db started before web", calls)
	}
}

func TestStartAfterCycleIsReported(t *testing.T) {
	h := start(t, fake.New(), func(dir string) {
		os.WriteFile(dir+"/a.yaml", []byte(podAfter("a", "busybox:1", "b")), 0o644)
		os.WriteFile(dir+"/b.yaml", []byte(podAfter("b", "busybox:1", "a")), 0o644)
		os.WriteFile(dir+"/c.yaml", []byte(pod("c", "busybox:1")), 0o644)
		os.WriteFile(dir+"/d.yaml", []byte(podAfter("d", "busybox:1", "c")), 0o644)
	})
	// Pods off the cycle are unaffected: c starts, then d after it.
	h.waitRunning("default/c-node1", "default/d-node1")
	for _, key := range []string{"default/a-node1", "default/b-node1"} {
		p := h.waitPod(key, isWaiting)
		if p.Runtime.Reason != "DependencyCycle" || !strings.Contains(p.LastError, "forms a cycle: "+key) ||
			strings.Join(p.WaitingFor, ",") != "default/a-node1,default/b-node1" {
			t.Fatalf("%s: %+v, runtime %+v", key, p, p.Runtime)
		}
	}
	// Breaking the cycle starts both, in order.
	h.write("a.yaml", pod("a", "busybox:1"))
	h.waitRunning("default/a-node1", "default/b-node1", "default/c-node1", "default/d-node1")
}

// TestStartAfterMirrorStatus follows a waiting pod's status into the mirror
// pod's, as the mirror manager builds it.
func TestStartAfterMirrorStatus(t *testing.T) {
	rt := fake.New()
	rt.StartUnready("default/db-node1")
	var states = make(chan agent.StateSnapshot, 100)
	dir := t.TempDir()
	os.WriteFile(dir+"/db.yaml", []byte(pod("db", "busybox:1")), 0o644)
	os.WriteFile(dir+"/web.yaml", []byte(podAfter("web", "busybox:1", "db")), 0o644)
	h := startConfigured(t, rt, dir, func(cfg *agent.Config) {
		cfg.OnState = func(s agent.StateSnapshot) {
			select {
			case states <- s:
			default:
			}
		}
	})
	h.waitPod("default/web-node1", isWaiting)
	var mp mirror.Pod
	for s := range states {
		for _, p := range mirror.FromAgent(s).Pods {
			if p.Pod.Name == "web-node1" && p.Phase == agent.PhaseWaiting {
				mp = p
			}
		}
		if mp.Pod != nil {
			break
		}
	}
	st := mirrorpod.MirrorStatus(mirrorpod.StatusInput{Static: mp.Pod, Runtime: mp.Runtime, AgentPhase: mp.Phase, LastError: mp.LastError, Now: time.Now()})
	if st.Phase != corev1.PodPending || st.Reason != "WaitingForDependencies" || !strings.Contains(st.Message, "default/db-node1") {
		t.Fatalf("mirror status: phase %s reason %q message %q", st.Phase, st.Reason, st.Message)
	}
	conditions := map[corev1.PodConditionType]corev1.PodCondition{}
	for _, c := range st.Conditions {
		conditions[c.Type] = c
	}
	if c := conditions[agent.ConditionDependenciesReady]; c.Status != corev1.ConditionFalse || c.Reason != "WaitingForDependencies" {
		t.Fatalf("%s condition: %+v", agent.ConditionDependenciesReady, c)
	}
	if conditions[corev1.PodReady].Status != corev1.ConditionFalse || conditions[corev1.PodReadyToStartContainers].Status != corev1.ConditionFalse {
		t.Fatalf("conditions: %+v", st.Conditions)
	}
	if w := st.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != "WaitingForDependencies" {
		t.Fatalf("container status: %+v", st.ContainerStatuses[0])
	}
}

// notifierless hides the fake's StatusChanged, as a runtime that cannot
// signal readiness changes.
type notifierless struct{ agent.Runtime }

func TestStartAfterPollsARuntimeWithoutNotifier(t *testing.T) {
	rt := fake.New()
	rt.StartUnready("default/db-node1")
	dir := t.TempDir()
	os.WriteFile(dir+"/db.yaml", []byte(pod("db", "busybox:1")), 0o644)
	os.WriteFile(dir+"/web.yaml", []byte(podAfter("web", "busybox:1", "db")), 0o644)
	h := startConfigured(t, rt, dir, func(cfg *agent.Config) { cfg.Runtime = notifierless{rt} })
	h.waitRunning("default/db-node1")
	h.waitPod("default/web-node1", isWaiting)
	rt.SetReady("default/db-node1", true)
	// The agent hears nothing from the runtime: its one-second poll while a
	// pod waits finds the dependency Ready.
	h.waitRunning("default/db-node1", "default/web-node1")
}
