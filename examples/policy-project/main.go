// Command policy-project is an example policy author's plugin, written from
// scratch against the staticlet SDK: it requires a team label on every
// static pod, bounds the number of containers, and names pods
// "<team>-<name>-<node>". Build: make (see Makefile).
package main

import (
	"fmt"

	"github.com/staticlet/staticlet/sdk"
)

// Settings are the plugin's `settings:` in the agent configuration.
type Settings struct {
	// TeamLabel is the label every pod must carry; default "team".
	TeamLabel string `json:"teamLabel"`
	// MaxContainers bounds spec.containers; 0 means no bound.
	MaxContainers int `json:"maxContainers"`
}

func (s Settings) teamLabel() string {
	if s.TeamLabel == "" {
		return "team"
	}
	return s.TeamLabel
}

// Plugin is the plugin; tests use it natively.
var Plugin = sdk.Plugin[Settings]{
	Name:        "team-policy",
	Version:     "1.0.0",
	Description: "Requires a team label, bounds containers, names pods after their team.",
	CheckSettings: func(s Settings) error {
		if s.MaxContainers < 0 {
			return fmt.Errorf("maxContainers: %d is negative", s.MaxContainers)
		}
		return nil
	},
	Validate: func(req *sdk.Request, s Settings) (sdk.Validation, error) {
		var v sdk.Validation
		pod, err := req.Pod()
		if err != nil {
			return v, err
		}
		if pod.Metadata.Labels[s.teamLabel()] == "" {
			v.Deny("MissingTeam", "metadata.labels", "the pod must have a %q label", s.teamLabel())
		}
		if n := len(pod.Spec.Containers); s.MaxContainers > 0 && n > s.MaxContainers {
			v.Deny("TooManyContainers", "spec.containers", "%d containers, at most %d allowed", n, s.MaxContainers)
		}
		return v, nil
	},
	PodName: func(req *sdk.Request, s Settings) (string, error) {
		pod, err := req.Pod()
		if err != nil {
			return "", err
		}
		team := pod.Metadata.Labels[s.teamLabel()]
		if team == "" {
			return "", nil // the validator reports it; keep the default name
		}
		sdk.Logf(sdk.LevelDebug, "naming %s after team %s", pod.Metadata.Name, team)
		return fmt.Sprintf("%s-%s-%s", team, pod.Metadata.Name, req.Node.Name), nil
	},
}

func init() { sdk.Register(Plugin) }

func main() { sdk.Main() }
