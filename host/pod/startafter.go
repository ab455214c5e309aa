package pod

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// AnnotationStartAfter makes a static pod wait, before it starts, until
// every static pod it names is Running and Ready (see docs/ordering.md).
// The value is a comma-separated list of `name` or `namespace/name`, where
// name is another manifest's metadata.name as written in its file (before
// the node-name suffix) and namespace defaults to this pod's namespace.
const AnnotationStartAfter = "staticlet.dev/start-after"

// StartAfterRef is one static pod named by the start-after annotation.
type StartAfterRef struct {
	Namespace string
	// ManifestName is the metadata.name written in the other pod's manifest,
	// without the node-name suffix.
	ManifestName string
}

func (r StartAfterRef) String() string { return r.Namespace + "/" + r.ManifestName }

// StartAfter returns the pods p's start-after annotation names, with the
// namespace filled in from p. present is false when p has no such
// annotation. Each problem describes one malformed entry (empty value,
// empty entry, bad namespace or name, duplicate); refs then holds only the
// well-formed entries.
func StartAfter(p *corev1.Pod) (refs []StartAfterRef, problems []string, present bool) {
	value, ok := p.Annotations[AnnotationStartAfter]
	if !ok {
		return nil, nil, false
	}
	refs, problems = ParseStartAfter(value, p.Namespace)
	return refs, problems, true
}

// ParseStartAfter parses an annotation value; references without a
// namespace get defaultNamespace. Whitespace around entries is ignored, so
// a YAML folded list reads as written.
func ParseStartAfter(value, defaultNamespace string) (refs []StartAfterRef, problems []string) {
	if strings.TrimSpace(value) == "" {
		return nil, []string{"must name at least one static pod (remove the annotation to start without waiting)"}
	}
	seen := map[StartAfterRef]bool{}
	for i, raw := range strings.Split(value, ",") {
		entry := strings.TrimSpace(raw)
		where := fmt.Sprintf("entry %d", i+1)
		if entry == "" {
			problems = append(problems, where+" is empty (a stray comma?)")
			continue
		}
		where += fmt.Sprintf(" %q", entry)
		ref := StartAfterRef{Namespace: defaultNamespace, ManifestName: entry}
		if ns, name, qualified := strings.Cut(entry, "/"); qualified {
			if strings.Contains(name, "/") {
				problems = append(problems, where+": must be name or namespace/name")
				continue
			}
			ref = StartAfterRef{Namespace: ns, ManifestName: name}
			if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
				problems = append(problems, where+": invalid namespace: "+strings.Join(msgs, "; "))
				continue
			}
		}
		if msgs := validation.IsDNS1123Subdomain(ref.ManifestName); len(msgs) > 0 {
			problems = append(problems, where+": invalid name: "+strings.Join(msgs, "; "))
			continue
		}
		if seen[ref] {
			problems = append(problems, where+": names "+ref.String()+" again")
			continue
		}
		seen[ref] = true
		refs = append(refs, ref)
	}
	return refs, problems
}
