package agent

import "github.com/staticlet/staticlet/host/desired"

// StateSnapshot is what Config.OnState receives: the desired pods (with their manifests) and the agent's
// status report, consistent with each other. Observers must treat it as read-only.
type StateSnapshot struct {
	Desired desired.Snapshot
	Status  Status
}
