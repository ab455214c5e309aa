// Package policy is the name-template plugin's logic: it names static pods
// from a template such as "{name}-{node}" (the kubelet's rule) or
// "{name}-{node}-{label:zone}". It does no IO.
package policy

import (
	"errors"
	"path"
	"strings"

	"github.com/staticlet/staticlet/sdk"
	"github.com/staticlet/staticlet/sdk/template"
)

// Settings configure the plugin.
type Settings struct {
	// Template is the pod name; placeholders are {name}, {namespace},
	// {node}, {file} (base name without extension), {label:KEY} and
	// {nodeLabel:KEY}. The result is lowercased.
	Template string `json:"template"`
}

// Plugin is the name-template plugin.
var Plugin = sdk.Plugin[Settings]{
	Name:        "name-template",
	Version:     "0.1.0",
	Description: "Names static pods from a template such as {name}-{node}-{label:zone}.",
	SettingsSchema: []byte(`{"type":"object","additionalProperties":false,"required":["template"],"properties":{` +
		`"template":{"type":"string","minLength":1}}}`),
	CheckSettings: func(s Settings) error {
		if s.Template == "" {
			return errors.New("template: must not be empty")
		}
		return template.Check(s.Template)
	},
	PodName: name,
}

func name(req *sdk.Request, s Settings) (string, error) {
	pod, err := req.Pod()
	if err != nil {
		return "", err
	}
	ns := pod.Metadata.Namespace
	if ns == "" {
		ns = "default"
	}
	base := path.Base(req.File)
	base = strings.TrimSuffix(base, path.Ext(base))
	out, err := template.Expand(s.Template, template.Facts{
		Name: pod.Metadata.Name, Namespace: ns, Node: req.Node.Name, File: base,
		Labels: pod.Metadata.Labels, NodeLabels: req.Node.Labels,
	})
	if err != nil {
		return "", err
	}
	return strings.ToLower(out), nil
}
