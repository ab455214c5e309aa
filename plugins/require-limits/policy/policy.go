// Package policy is the require-limits plugin's logic: every container must
// declare limits (and optionally requests) for the configured resources, so a
// static pod cannot starve the node it runs on. It does no IO.
package policy

import (
	"fmt"

	"github.com/staticlet/staticlet/sdk"
)

// Settings configure the plugin.
type Settings struct {
	// Resources whose limits are required; default ["cpu", "memory"].
	Resources []string `json:"resources"`
	// RequireRequests also requires requests for the same resources.
	RequireRequests bool `json:"requireRequests"`
	// IncludeInitContainers checks init containers too (default false:
	// they run before the main containers and are usually short-lived).
	IncludeInitContainers bool `json:"includeInitContainers"`
}

// Plugin is the require-limits plugin.
var Plugin = sdk.Plugin[Settings]{
	Name:        "require-limits",
	Version:     "0.1.0",
	Description: "Denies containers without resource limits.",
	SettingsSchema: []byte(`{"type":"object","additionalProperties":false,"properties":{` +
		`"resources":{"type":"array","items":{"type":"string"}},` +
		`"requireRequests":{"type":"boolean"},"includeInitContainers":{"type":"boolean"}}}`),
	CheckSettings: func(s Settings) error {
		for i, r := range s.Resources {
			if r == "" {
				return fmt.Errorf("resources[%d]: must not be empty", i)
			}
		}
		return nil
	},
	Validate: validate,
}

func validate(req *sdk.Request, s Settings) (sdk.Validation, error) {
	var v sdk.Validation
	pod, err := req.Pod()
	if err != nil {
		return v, err
	}
	resources := s.Resources
	if len(resources) == 0 {
		resources = []string{"cpu", "memory"}
	}
	check := func(field string, c *sdk.Container) {
		for _, r := range resources {
			if _, ok := c.Resources.Limits[r]; !ok {
				v.Deny("MissingLimit", fmt.Sprintf("%s.resources.limits.%s", field, r), "container %q has no %s limit", c.Name, r)
			}
			if _, ok := c.Resources.Requests[r]; s.RequireRequests && !ok {
				v.Deny("MissingRequest", fmt.Sprintf("%s.resources.requests.%s", field, r), "container %q has no %s request", c.Name, r)
			}
		}
	}
	for i := range pod.Spec.Containers {
		check(fmt.Sprintf("spec.containers[%d]", i), &pod.Spec.Containers[i])
	}
	if s.IncludeInitContainers {
		for i := range pod.Spec.InitContainers {
			check(fmt.Sprintf("spec.initContainers[%d]", i), &pod.Spec.InitContainers[i])
		}
	}
	return v, nil
}
