// Package template expands the small placeholder language staticlet's
// reference plugins share: {name}, {namespace}, {node}, {file},
// {label:KEY} (a pod label) and {nodeLabel:KEY} (a node label). It is pure.
package template

import (
	"fmt"
	"strings"
)

// Facts are the values placeholders expand to.
type Facts struct {
	Name, Namespace, Node, File string
	Labels, NodeLabels          map[string]string
}

// Check reports the first unknown or unterminated placeholder.
func Check(tmpl string) error {
	_, err := expand(tmpl, nil)
	return err
}

// Expand replaces every placeholder; a missing label is an error.
func Expand(tmpl string, f Facts) (string, error) {
	return expand(tmpl, &f)
}

func expand(tmpl string, f *Facts) (string, error) {
	var b strings.Builder
	rest := tmpl
	for {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			b.WriteString(rest)
			return b.String(), nil
		}
		b.WriteString(rest[:i])
		j := strings.IndexByte(rest[i:], '}')
		if j < 0 {
			return "", fmt.Errorf("template %q: unterminated placeholder at %q", tmpl, rest[i:])
		}
		key := rest[i+1 : i+j]
		rest = rest[i+j+1:]
		value, err := lookup(key, f)
		if err != nil {
			return "", fmt.Errorf("template %q: %w", tmpl, err)
		}
		b.WriteString(value)
	}
}

func lookup(key string, f *Facts) (string, error) {
	kind, arg, hasArg := strings.Cut(key, ":")
	if hasArg && arg == "" {
		return "", fmt.Errorf("placeholder {%s} needs a label key", key)
	}
	if hasArg != (kind == "label" || kind == "nodeLabel") {
		return "", fmt.Errorf("unknown placeholder {%s}", key)
	}
	if f == nil {
		switch kind {
		case "name", "namespace", "node", "file", "label", "nodeLabel":
			return "", nil
		}
		return "", fmt.Errorf("unknown placeholder {%s}", key)
	}
	switch kind {
	case "name":
		return f.Name, nil
	case "namespace":
		return f.Namespace, nil
	case "node":
		return f.Node, nil
	case "file":
		return f.File, nil
	case "label":
		v, ok := f.Labels[arg]
		if !ok {
			return "", fmt.Errorf("the pod has no label %q", arg)
		}
		return v, nil
	case "nodeLabel":
		v, ok := f.NodeLabels[arg]
		if !ok {
			return "", fmt.Errorf("the node has no label %q", arg)
		}
		return v, nil
	}
	return "", fmt.Errorf("unknown placeholder {%s}", key)
}
