package validation

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/staticlet/staticlet/host/pod"
)

// ValidateStartAfter checks the staticlet.dev/start-after annotation of a
// defaulted static pod whose manifest calls it manifestName (its
// metadata.name before the node-name suffix, which references use): every
// entry must be a well-formed `name` or `namespace/name`, named once, and
// not the pod itself. Whether the named pods exist, and whether the
// references form a cycle, depends on the other manifests; the planner
// decides that (package plan). The admission pipeline applies this next to
// ValidatePod, which does not know the manifest name.
func ValidateStartAfter(p *corev1.Pod, manifestName string) field.ErrorList {
	if p == nil {
		return nil
	}
	refs, problems, present := pod.StartAfter(p)
	if !present {
		return nil
	}
	path := field.NewPath("metadata", "annotations").Key(pod.AnnotationStartAfter)
	value := p.Annotations[pod.AnnotationStartAfter]
	var errs field.ErrorList
	for _, problem := range problems {
		errs = append(errs, field.Invalid(path, value, problem))
	}
	self := pod.StartAfterRef{Namespace: p.Namespace, ManifestName: manifestName}
	for _, ref := range refs {
		if ref == self {
			errs = append(errs, field.Invalid(path, value, "names the pod itself ("+ref.String()+"); a pod cannot wait for its own readiness"))
		}
	}
	return errs
}
