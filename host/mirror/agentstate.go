package mirror

import (
	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/plan"
)

// FromAgent converts the agent's snapshot into the manager's input: every desired pod with the agent's
// status of it, and every rejected file.
func FromAgent(s agent.StateSnapshot) State {
	byUID := make(map[string]agent.PodStatus, len(s.Status.Pods))
	for _, p := range s.Status.Pods {
		byUID[p.UID] = p
	}
	out := State{Synced: s.Status.Synced, Pods: make([]Pod, 0, len(s.Desired.Pods))}
	desiredUIDs := make(map[string]bool, len(s.Desired.Pods))
	for _, d := range s.Desired.Pods {
		desiredUIDs[string(d.UID)] = true
		p := Pod{Pod: d.Pod}
		if st, ok := byUID[string(d.UID)]; ok {
			p.Runtime, p.Phase, p.LastError = st.Runtime, st.Phase, st.LastError
		}
		out.Pods = append(out.Pods, p)
	}
	// A pod the agent holds that no manifest wants is on its way out (or is stopped once every source has
	// listed); a dormant one runs nothing, so its mirror has nothing to show.
	for _, p := range s.Status.Pods {
		if desiredUIDs[p.UID] || p.Phase == string(plan.Dormant) || p.Phase == agent.PhaseWaiting {
			continue
		}
		out.Terminating = append(out.Terminating, Terminating{Key: p.Key, UID: p.UID, Runtime: p.Runtime})
	}
	for _, f := range s.Status.Files {
		if f.Verdict != admission.Rejected {
			continue
		}
		r := Rejection{Source: f.Source, File: f.File}
		if f.Stale {
			r.PodKey = f.PodKey
		}
		for _, reason := range f.Reasons {
			r.Reasons = append(r.Reasons, reason.String())
		}
		out.Rejected = append(out.Rejected, r)
	}
	return out
}

// Hook returns the function to set as agent.Config.OnState: it converts each snapshot and offers it to
// sink without blocking.
func Hook(sink Sink) func(agent.StateSnapshot) {
	return func(s agent.StateSnapshot) { sink.Offer(FromAgent(s)) }
}
