package agent

import (
	"context"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/plan"
)

// Status is the agent's report: per file the verdict, per pod what the agent
// is doing with it.
type Status struct {
	Files []desired.FileStatus
	Pods  []PodStatus
	// Synced is true once every source has delivered a complete listing,
	// admitted, and the runtime's pods were adopted.
	Synced bool
	// Sources reports each source's listings and any admission in progress.
	Sources []SourceStatus
}

// SourceStatus is what the agent has from one source.
type SourceStatus struct {
	Name string
	// Complete is true once a complete listing of the source was admitted.
	Complete bool
	// Listings counts the listings the source delivered, complete or not.
	Listings uint64
	// Admitting is set while the source's newest listing waits for its
	// admission results (plugins may take long); until they come, the
	// results of the listing before stay in force.
	Admitting *Admitting
}

// Admitting describes a listing waiting for admission.
type Admitting struct {
	Files int
	// Since is when the listing (or the policy change) asked for it.
	Since time.Time
}

// PodStatus is the agent-level state of one pod, with the runtime's view of
// it when the runtime holds it.
type PodStatus struct {
	Key  string
	UID  string
	File string
	// Phase is the agent's phase (Waiting, Starting, Active, Stopping,
	// ...), not the Kubernetes pod phase, which is in Runtime.
	Phase     string
	Since     time.Time
	LastError string
	// Runtime is the runtime's status of the pod; nil while it holds none
	// (a start not yet begun or a failed start). For a pod Waiting on its
	// start-after dependencies it is the status the agent reports instead
	// (see WaitingStatus), so mirror pods and `staticlet status` show why.
	Runtime *corev1.PodStatus
	// WaitingFor lists what a Waiting pod waits for (plan.Waiting.Pending).
	WaitingFor []string
}

// PhaseWaiting is the agent phase of a desired pod its start-after
// annotation holds back; it has not been started.
const PhaseWaiting = "Waiting"

// ConditionDependenciesReady is the pod condition a pod held back by its
// start-after annotation carries, False with the reason
// (WaitingForDependencies, DependencyCycle) and message. It is staticlet's
// own, like staticlet.dev/PodNetwork; pods that start do not carry it.
const ConditionDependenciesReady corev1.PodConditionType = "staticlet.dev/DependenciesReady"

// WaitingStatus is the status of a pod that waits for its start-after
// dependencies: Pending with the reason and message, the condition above,
// not ready to start containers, and each container waiting with the same
// reason, so `kubectl get pods` shows WaitingForDependencies (or
// DependencyCycle) as the kubelet shows ContainerCreating.
func WaitingStatus(p *corev1.Pod, reason, message string) corev1.PodStatus {
	st := corev1.PodStatus{
		Phase: corev1.PodPending, Reason: reason, Message: message,
		Conditions: []corev1.PodCondition{
			{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionFalse},
			{Type: ConditionDependenciesReady, Status: corev1.ConditionFalse, Reason: reason, Message: message},
		},
	}
	waiting := func(cs []corev1.Container) []corev1.ContainerStatus {
		var out []corev1.ContainerStatus
		for _, c := range cs {
			out = append(out, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}})
		}
		return out
	}
	if p != nil {
		st.InitContainerStatuses = waiting(p.Spec.InitContainers)
		st.ContainerStatuses = waiting(p.Spec.Containers)
	}
	return st
}

// Status asks the loop for a consistent copy of its state.
func (a *Agent) Status(ctx context.Context) (Status, error) {
	reply := make(chan Status, 1)
	select {
	case a.statusCh <- reply:
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
	select {
	case s := <-reply:
		return s, nil
	case <-ctx.Done():
		return Status{}, ctx.Err()
	}
}

// Status is the core's report. Pods the runtime holds carry no Runtime
// status: the loop adds it from the runtime's memory (Agent.Status).
func (c *Core) Status() Status {
	s := Status{Synced: c.adopted && c.allSourcesComplete()}
	s.Files = append(s.Files, c.snapshot.Files...)
	for _, name := range c.sources {
		ss := SourceStatus{Name: name, Complete: c.complete[name], Listings: c.listingsSeen[name]}
		if ad, ok := c.admitting[name]; ok {
			ss.Admitting = &Admitting{Files: ad.files, Since: ad.since}
		}
		s.Sources = append(s.Sources, ss)
	}
	for _, st := range c.observed {
		ps := PodStatus{Key: st.obs.Key, UID: string(st.obs.UID), File: st.file, Phase: string(st.obs.Phase), Since: st.since}
		if st.lastErr != nil {
			ps.LastError = st.lastErr.Error()
		}
		s.Pods = append(s.Pods, ps)
	}
	if len(c.waiting) > 0 {
		pods := make(map[types.UID]*corev1.Pod, len(c.snapshot.Pods))
		for _, d := range c.snapshot.Pods {
			pods[d.UID] = d.Pod
		}
		for uid, w := range c.waiting {
			rs := WaitingStatus(pods[uid], w.Reason, w.Message)
			ps := PodStatus{Key: w.Key, UID: string(uid), File: w.file, Phase: PhaseWaiting, Since: w.since, Runtime: &rs,
				WaitingFor: append([]string(nil), w.Pending...)}
			if w.Reason != plan.ReasonWaitingForDependencies {
				ps.LastError = w.Message // a cycle does not heal by itself
			}
			s.Pods = append(s.Pods, ps)
		}
	}
	sort.Slice(s.Pods, func(i, j int) bool {
		if s.Pods[i].Key != s.Pods[j].Key {
			return s.Pods[i].Key < s.Pods[j].Key
		}
		return s.Pods[i].UID < s.Pods[j].UID
	})
	return s
}

// Verdicts counts files by verdict, for logs and metrics.
func (s Status) Verdicts() map[admission.Verdict]int {
	out := map[admission.Verdict]int{}
	for _, f := range s.Files {
		out[f.Verdict]++
	}
	return out
}
