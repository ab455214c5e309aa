package plugin

import (
	"encoding/json"
	"fmt"
	"path"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// podFacts is what match rules look at.
type podFacts struct {
	Metadata struct {
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
}

func readPodFacts(manifest []byte) (podFacts, error) {
	var f podFacts
	if err := json.Unmarshal(manifest, &f); err != nil {
		return f, fmt.Errorf("manifest is not a JSON object: %w", err)
	}
	if f.Metadata.Namespace == "" {
		f.Metadata.Namespace = metav1.NamespaceDefault
	}
	return f, nil
}

func (p *loaded) matches(facts podFacts, file string) bool {
	m := p.spec.Match
	if len(m.Namespaces) > 0 && !contains(m.Namespaces, facts.Metadata.Namespace) {
		return false
	}
	if m.LabelSelector != nil {
		sel, err := metav1.LabelSelectorAsSelector(m.LabelSelector)
		if err != nil || !sel.Matches(labels.Set(facts.Metadata.Labels)) {
			return false
		}
	}
	if len(m.Files) > 0 {
		ok := false
		for _, g := range m.Files {
			if a, _ := path.Match(g, path.Base(file)); a {
				ok = true
			} else if b, _ := path.Match(g, file); b {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// selected lists the plugins offering op whose match rules take the
// request's manifest as read.
func (c *Chain) selected(op Operation, req Request) ([]*loaded, error) {
	facts, err := readPodFacts(req.matchManifest())
	if err != nil {
		return nil, err
	}
	var out []*loaded
	for _, p := range c.plugins {
		if p.ops[op] && p.matches(facts, req.File) {
			out = append(out, p)
		}
	}
	return out, nil
}
