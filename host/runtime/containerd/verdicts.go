package containerd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"time"

	"github.com/staticlet/staticlet/host/probe"
)

// verdictsFile, in the pod's folder, keeps what the probes said about each
// container's current run, so a restarted agent that adopts the same run
// goes on from those verdicts (started, ready) instead of from "not started",
// as the kubelet does across its restarts. Without it every agent restart
// turned running, ready containers unready until their probes passed again.
const verdictsFile = "probe-verdicts.json"

// runVerdict is the probes' verdict on one run, named by its container ID,
// with the time the run started as its status reports it (containerd keeps
// only the container's creation time, a little earlier).
type runVerdict struct {
	Run       string    `json:"run"`
	Started   bool      `json:"started"`
	Ready     bool      `json:"ready"`
	StartedAt time.Time `json:"startedAt"`
}

// saveVerdicts records the verdicts of the running containers when they
// differ from what was last recorded. A failure is logged: the cost is a
// blip of unreadiness after the next agent restart, not a wrong status.
func (w *worker) saveVerdicts() {
	if w.pod == nil {
		return // no folder of ours to write in
	}
	verdicts := map[string]runVerdict{}
	for _, cs := range w.containers {
		if cs.ctr != nil && cs.running && cs.kind != initContainer {
			verdicts[cs.name] = runVerdict{Run: cs.ctr.ID(), Started: cs.started, Ready: cs.ready, StartedAt: cs.startedAt}
		}
	}
	data, err := json.Marshal(verdicts)
	if err != nil || string(data) == w.savedVerdicts {
		return
	}
	if err := writeFileAtomic(filepath.Join(w.rt.podDir(string(w.uid)), verdictsFile), data, 0o600); err != nil {
		w.log.Warn("cannot record the probes' verdicts; an agent restart will probe the containers afresh", "error", err)
		return
	}
	w.savedVerdicts = string(data)
}

// loadVerdicts reads what an earlier agent recorded; nothing when there is
// no record or it cannot be read.
func (w *worker) loadVerdicts() map[string]runVerdict {
	data, err := os.ReadFile(filepath.Join(w.rt.podDir(string(w.uid)), verdictsFile))
	if err != nil {
		return nil
	}
	var verdicts map[string]runVerdict
	if err := json.Unmarshal(data, &verdicts); err != nil {
		w.log.Warn("unreadable probe verdicts; probing the containers afresh", "error", err)
		return nil
	}
	w.savedVerdicts = string(data)
	return verdicts
}

// resumeRun takes over what was recorded of the adopted run of cs, when it
// is that very run: its start time, and the probes' verdict for
// startProbes to go on from.
func resumeRun(verdicts map[string]runVerdict, cs *containerState) {
	v, ok := verdicts[cs.name]
	if !ok || cs.ctr == nil || v.Run != cs.ctr.ID() {
		return
	}
	if !v.StartedAt.IsZero() {
		cs.startedAt = v.StartedAt
	}
	cs.resume = &probe.State{Started: v.Started, Ready: v.Ready}
}
