// Package policy is the add-labels plugin's logic: it adds labels and
// annotations to static pods (values may use the template placeholders of
// package template, e.g. "{node}" or "{nodeLabel:topology.kubernetes.io/zone}").
// It does no IO.
package policy

import (
	"fmt"
	"sort"

	"github.com/staticlet/staticlet/sdk"
	"github.com/staticlet/staticlet/sdk/template"
)

// Settings configure the plugin.
type Settings struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	// Overwrite replaces values the manifest already has; by default they
	// are kept and a warning says so.
	Overwrite bool `json:"overwrite"`
}

// Plugin is the add-labels plugin.
var Plugin = sdk.Plugin[Settings]{
	Name:        "add-labels",
	Version:     "0.1.0",
	Description: "Adds labels and annotations to static pods.",
	SettingsSchema: []byte(`{"type":"object","additionalProperties":false,"properties":{` +
		`"labels":{"type":"object","additionalProperties":{"type":"string"}},` +
		`"annotations":{"type":"object","additionalProperties":{"type":"string"}},` +
		`"overwrite":{"type":"boolean"}}}`),
	CheckSettings: func(s Settings) error {
		if len(s.Labels)+len(s.Annotations) == 0 {
			return fmt.Errorf("labels, annotations: at least one is required")
		}
		for k, v := range s.Labels {
			if err := template.Check(v); err != nil {
				return fmt.Errorf("labels[%s]: %w", k, err)
			}
		}
		for k, v := range s.Annotations {
			if err := template.Check(v); err != nil {
				return fmt.Errorf("annotations[%s]: %w", k, err)
			}
		}
		return nil
	},
	Mutate: mutate,
}

func mutate(req *sdk.Request, s Settings) (sdk.Mutation, error) {
	obj, err := req.Object()
	if err != nil {
		return sdk.Mutation{}, err
	}
	pod, err := req.Pod()
	if err != nil {
		return sdk.Mutation{}, err
	}
	facts := template.Facts{Name: pod.Metadata.Name, Namespace: pod.Metadata.Namespace, Node: req.Node.Name,
		File: req.File, Labels: pod.Metadata.Labels, NodeLabels: req.Node.Labels}
	var warnings []string
	changed := false
	apply := func(field string, want map[string]string) error {
		current, _ := obj.Get("metadata", field)
		existing, _ := current.(map[string]any)
		keys := make([]string, 0, len(want))
		for k := range want {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			value, err := template.Expand(want[k], facts)
			if err != nil {
				return fmt.Errorf("%s[%s]: %w", field, k, err)
			}
			if old, ok := existing[k]; ok {
				if old == value {
					continue
				}
				if !s.Overwrite {
					warnings = append(warnings, fmt.Sprintf("kept %s %s=%v (the plugin would set %q)", field, k, old, value))
					continue
				}
			}
			obj.Set(value, "metadata", field, k)
			changed = true
		}
		return nil
	}
	if err := apply("labels", s.Labels); err != nil {
		return sdk.Mutation{}, err
	}
	if err := apply("annotations", s.Annotations); err != nil {
		return sdk.Mutation{}, err
	}
	if !changed {
		return sdk.Mutation{Warnings: warnings}, nil
	}
	m, err := sdk.Changed(obj)
	m.Warnings = warnings
	return m, err
}
