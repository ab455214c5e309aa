package statusapi

import (
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/plugin"
)

// Status is the document served at /status.
type Status struct {
	Pods  []Pod  `json:"pods"`
	Files []File `json:"files"`
	// Synced is true once every source listed completely and the runtime's
	// pods were adopted.
	Synced bool `json:"synced"`
	// Plugins is the admission chain in force, in order.
	Plugins []Plugin `json:"plugins,omitempty"`
	// Sources says what the agent has from each source, and which listing
	// waits for admission (plugins may take long; meanwhile the results of
	// the listing before stay in force).
	Sources []SourceState `json:"sources,omitempty"`
	// KubeletAPI is set while staticlet serves the kubelet API.
	KubeletAPI *KubeletAPI `json:"kubeletAPI,omitempty"`
}

// KubeletAPI is what the kubelet API serves with.
type KubeletAPI struct {
	Address string `json:"address"`
	// CertificateSource is files, bootstrap or self-signed.
	CertificateSource string `json:"certificateSource"`
	// CertificateNotAfter is the served certificate's expiry (RFC 3339), empty while none is served.
	CertificateNotAfter string `json:"certificateNotAfter,omitempty"`
	// Waiting says why no certificate is served yet (a CertificateSigningRequest waiting for approval).
	Waiting string `json:"waiting,omitempty"`
}

// SourceState is what the agent has from one source.
type SourceState struct {
	Name     string `json:"name"`
	Complete bool   `json:"complete"`
	Listings uint64 `json:"listings"`
	// AdmittingFiles and AdmittingSince are set while the source's newest
	// listing is being admitted.
	AdmittingFiles int    `json:"admittingFiles,omitempty"`
	AdmittingSince string `json:"admittingSince,omitempty"`
}

// Plugin is one plugin of the chain in force.
type Plugin struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	// QuarantinedUntil is set while repeated timeouts keep the plugin from
	// being called (its failurePolicy decides meanwhile).
	QuarantinedUntil    string `json:"quarantinedUntil,omitempty"`
	ConsecutiveTimeouts int    `json:"consecutiveTimeouts,omitempty"`
}

// FromChain converts the chain's plugin descriptions at now.
func FromChain(plugins []plugin.PluginInfo, now time.Time) []Plugin {
	out := []Plugin{}
	for _, p := range plugins {
		wire := Plugin{Name: p.Name, SHA256: p.Digest, ConsecutiveTimeouts: p.Quarantine.ConsecutiveTimeouts}
		if p.Quarantine.Until.After(now) {
			wire.QuarantinedUntil = p.Quarantine.Until.UTC().Format(time.RFC3339)
		}
		out = append(out, wire)
	}
	return out
}

// Pod is one pod the agent runs or is starting or stopping.
type Pod struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
	File      string `json:"file"`
	// Phase is the Kubernetes pod phase: Pending, Running, Succeeded,
	// Failed.
	Phase      string      `json:"phase"`
	Ready      bool        `json:"ready"`
	Restarts   int32       `json:"restarts"`
	Containers []Container `json:"containers"`
	// AgentState is what the agent is doing: Waiting (held back by its
	// start-after annotation), Starting, Active, StartFailed, Stopping,
	// StopFailed.
	AgentState string `json:"agentState"`
	// Reason and Message are the pod status's (WaitingForDependencies and
	// what it waits for, DeadlineExceeded...).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// WaitingFor lists the start-after dependencies a Waiting pod waits for.
	WaitingFor []string `json:"waitingFor,omitempty"`
	StartTime  string   `json:"startTime,omitempty"`
	LastError  string   `json:"lastError,omitempty"`
}

// Container is one container's state.
type Container struct {
	Name string `json:"name"`
	// State is waiting, running or terminated.
	State string `json:"state"`
	// Ready is the container's readiness (its readiness probe, else
	// running), as the API's containerStatuses[].ready.
	Ready        bool  `json:"ready"`
	RestartCount int32 `json:"restartCount"`
	// ExitCode is the terminated container's, or while it waits to be
	// restarted, the last run's.
	ExitCode *int32 `json:"exitCode,omitempty"`
	// Reason is the waiting or terminated reason: CrashLoopBackOff,
	// ErrImageNeverPull, ImagePullBackOff, Completed, Error, OOMKilled...
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// File is the verdict on one manifest file.
type File struct {
	File    string   `json:"file"`
	Verdict string   `json:"verdict"`
	Reasons []string `json:"reasons"`
}

// ReadyContainers counts the pod's ready containers and all of them, as
// kubectl's READY column shows them (ready/total).
func (p Pod) ReadyContainers() (ready, total int) {
	for _, c := range p.Containers {
		if c.Ready {
			ready++
		}
	}
	return ready, len(p.Containers)
}

// FromAgent converts the agent's status to the wire format.
func FromAgent(s agent.Status) Status {
	out := Status{Synced: s.Synced, Pods: []Pod{}, Files: []File{}}
	for _, f := range s.Files {
		file := File{File: f.File, Verdict: string(f.Verdict), Reasons: []string{}}
		for _, r := range f.Reasons {
			file.Reasons = append(file.Reasons, r.String())
		}
		out.Files = append(out.Files, file)
	}
	sort.Slice(out.Files, func(i, j int) bool { return out.Files[i].File < out.Files[j].File })
	for _, src := range s.Sources {
		wire := SourceState{Name: src.Name, Complete: src.Complete, Listings: src.Listings}
		if ad := src.Admitting; ad != nil {
			wire.AdmittingFiles, wire.AdmittingSince = ad.Files, ad.Since.UTC().Format(time.RFC3339)
		}
		out.Sources = append(out.Sources, wire)
	}
	for _, p := range s.Pods {
		ns, name, _ := strings.Cut(p.Key, "/")
		pod := Pod{Name: name, Namespace: ns, UID: p.UID, File: p.File, Phase: string(corev1.PodPending), AgentState: p.Phase, LastError: p.LastError, WaitingFor: p.WaitingFor, Containers: []Container{}}
		if rs := p.Runtime; rs != nil {
			pod.Phase = string(rs.Phase)
			pod.Reason, pod.Message = rs.Reason, rs.Message
			if rs.StartTime != nil {
				pod.StartTime = rs.StartTime.UTC().Format("2006-01-02T15:04:05Z")
			}
			for _, c := range rs.Conditions {
				if c.Type == corev1.PodReady {
					pod.Ready = c.Status == corev1.ConditionTrue
				}
			}
			for _, cs := range rs.ContainerStatuses {
				pod.Restarts += cs.RestartCount
				pod.Containers = append(pod.Containers, container(cs))
			}
		}
		out.Pods = append(out.Pods, pod)
	}
	return out
}

func container(cs corev1.ContainerStatus) Container {
	c := Container{Name: cs.Name, RestartCount: cs.RestartCount, Ready: cs.Ready}
	switch {
	case cs.State.Running != nil:
		c.State = "running"
	case cs.State.Terminated != nil:
		c.State = "terminated"
		code := cs.State.Terminated.ExitCode
		c.ExitCode, c.Reason, c.Message = &code, cs.State.Terminated.Reason, cs.State.Terminated.Message
	default:
		c.State = "waiting"
		if w := cs.State.Waiting; w != nil {
			c.Reason, c.Message = w.Reason, w.Message
		}
		if last := cs.LastTerminationState.Terminated; last != nil {
			code := last.ExitCode
			c.ExitCode = &code
		}
	}
	return c
}
