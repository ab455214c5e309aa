package agent

import (
	"context"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/desired"
)

// Status is the agent's report: per file the verdict, per pod what the agent
// is doing with it.
type Status struct {
	Files []desired.FileStatus
	Pods  []PodStatus
	// Synced is true once every source has delivered a complete listing and
	// the runtime's pods were adopted.
	Synced bool
}

// PodStatus is the agent-level state of one pod, with the runtime's view of
// it when the runtime holds it.
type PodStatus struct {
	Key  string
	UID  string
	File string
	// Phase is the agent's phase (Starting, Active, Stopping, ...), not the
	// Kubernetes pod phase, which is in Runtime.
	Phase     string
	Since     time.Time
	LastError string
	// Runtime is the runtime's status of the pod; nil while it holds none
	// (a start not yet begun or a failed start).
	Runtime *corev1.PodStatus
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

func (a *Agent) status() Status {
	s := Status{Synced: a.adopted && a.allSourcesComplete()}
	s.Files = append(s.Files, a.snapshot.Files...)
	for _, st := range a.observed {
		ps := PodStatus{Key: st.obs.Key, UID: string(st.obs.UID), File: st.file, Phase: string(st.obs.Phase), Since: st.since}
		if st.lastErr != nil {
			ps.LastError = st.lastErr.Error()
		}
		if rs, ok := a.cfg.Runtime.PodStatus(st.obs.UID); ok {
			ps.Runtime = &rs
		}
		s.Pods = append(s.Pods, ps)
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
