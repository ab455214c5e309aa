package validation

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/api/validate/content"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/staticlet/staticlet/host/pod"
)

// Resource names the API server knows without a domain prefix.
var (
	standardResourceNames = setOf("cpu", "memory", "ephemeral-storage",
		"requests.cpu", "requests.memory", "requests.ephemeral-storage",
		"limits.cpu", "limits.memory", "limits.ephemeral-storage",
		"pods", "quotas", "services", "replicationcontrollers", "secrets", "configmaps",
		"persistentvolumeclaims", "storage", "requests.storage", "services.nodeports", "services.loadbalancers")
	integerResourceNames = setOf("pods", "quotas", "services", "replicationcontrollers", "secrets",
		"configmaps", "persistentvolumeclaims", "services.nodeports", "services.loadbalancers")
	podLevelResourceNames = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceHugePagesPrefix, corev1.ResourceMemory}
)

type resourceNameValidator func(name corev1.ResourceName, fldPath *field.Path) field.ErrorList

// validateResourceName: a qualified name that, without a domain, is one of
// the standard resources.
func validateResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := validateQualifiedName(string(name), fldPath)
	if len(errs) > 0 {
		return errs
	}
	if !strings.Contains(string(name), "/") && !standardResourceNames.has(string(name)) && !isHugePagesQuotaName(name) {
		return field.ErrorList{field.Invalid(fldPath, name, "must be a standard resource type or fully qualified")}
	}
	return nil
}

// validateContainerResourceName: cpu, memory, ephemeral-storage, hugepages-*
// or an extended resource ("example.com/gpu").
func validateContainerResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	errs := validateResourceName(name, fldPath)
	if !strings.Contains(string(name), "/") {
		if !isStandardContainerResource(name) {
			errs = append(errs, field.Invalid(fldPath, name, "must be a standard resource for containers"))
		}
	} else if !isNativeResource(name) && !isExtendedResource(name) {
		errs = append(errs, field.Invalid(fldPath, name, "doesn't follow extended resource name standard"))
	}
	return errs
}

func validatePodLevelResourceName(name corev1.ResourceName, fldPath *field.Path) field.ErrorList {
	if errs := validateResourceName(name, fldPath); len(errs) > 0 {
		return errs
	}
	if name != corev1.ResourceCPU && name != corev1.ResourceMemory && !isHugePages(name) {
		return field.ErrorList{field.NotSupported(fldPath, name, podLevelResourceNames)}
	}
	return nil
}

func isHugePages(name corev1.ResourceName) bool {
	return strings.HasPrefix(string(name), corev1.ResourceHugePagesPrefix)
}

func isHugePagesQuotaName(name corev1.ResourceName) bool {
	return isHugePages(name) || strings.HasPrefix(string(name), corev1.ResourceRequestsHugePagesPrefix)
}

func isStandardContainerResource(name corev1.ResourceName) bool {
	return name == corev1.ResourceCPU || name == corev1.ResourceMemory || name == corev1.ResourceEphemeralStorage || isHugePages(name)
}

// isNativeResource: unprefixed names and *kubernetes.io/ names belong to
// Kubernetes itself.
func isNativeResource(name corev1.ResourceName) bool {
	return !strings.Contains(string(name), "/") || strings.Contains(string(name), corev1.ResourceDefaultNamespacePrefix)
}

func isExtendedResource(name corev1.ResourceName) bool {
	if isNativeResource(name) || strings.HasPrefix(string(name), corev1.DefaultResourceRequestsPrefix) {
		return false
	}
	// Quota names it as "requests.<name>", which must stay a qualified name.
	return len(content.IsLabelKey(corev1.DefaultResourceRequestsPrefix+string(name))) == 0
}

// isOvercommitAllowed: only native, non-hugepage resources may request less
// than their limit.
func isOvercommitAllowed(name corev1.ResourceName) bool {
	return isNativeResource(name) && !isHugePages(name)
}

func validateQuantity(name corev1.ResourceName, q resource.Quantity, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if q.Sign() < 0 {
		errs = append(errs, field.Invalid(fldPath, q.String(), detailNegative))
	}
	if (integerResourceNames.has(string(name)) || isExtendedResource(name)) && q.MilliValue()%1000 != 0 {
		errs = append(errs, field.Invalid(fldPath, q.String(), "must be an integer"))
	}
	if isHugePages(name) {
		pageSize, err := resource.ParseQuantity(strings.TrimPrefix(string(name), corev1.ResourceHugePagesPrefix))
		if err != nil || pageSize.Sign() <= 0 || pageSize.MilliValue()%1000 != 0 || q.Value()%pageSize.Value() != 0 {
			errs = append(errs, field.Invalid(fldPath, q.String(), fmt.Sprintf("%s is not positive integer multiple of %s", q.String(), name)))
		}
	}
	return errs
}

// validateResourceRequirements checks names and quantities, that requests do
// not exceed limits (and equal them where overcommit is impossible), and
// that hugepages come with cpu or memory. Claims are left to
// ValidateStaticPodRestrictions, which refuses them all.
func validateResourceRequirements(req *corev1.ResourceRequirements, validateName resourceNameValidator, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	limitsPath := fldPath.Child("limits")
	requestsPath := fldPath.Child("requests")
	hasCPUOrMemory, hasHugePages := false, false

	for _, name := range sortedResourceNames(req.Limits) {
		q := req.Limits[name]
		namePath := limitsPath.Key(string(name))
		errs = append(errs, validateName(name, namePath)...)
		errs = append(errs, validateQuantity(name, q, namePath)...)
		hasHugePages = hasHugePages || isHugePages(name)
		hasCPUOrMemory = hasCPUOrMemory || name == corev1.ResourceCPU || name == corev1.ResourceMemory
	}
	for _, name := range sortedResourceNames(req.Requests) {
		q := req.Requests[name]
		namePath := requestsPath.Key(string(name))
		errs = append(errs, validateName(name, namePath)...)
		errs = append(errs, validateQuantity(name, q, namePath)...)
		if limit, ok := req.Limits[name]; ok {
			if q.Cmp(limit) != 0 && !isOvercommitAllowed(name) {
				errs = append(errs, field.Invalid(namePath, q.String(), fmt.Sprintf("must be equal to %s limit of %s", name, limit.String())))
			} else if q.Cmp(limit) > 0 {
				errs = append(errs, field.Invalid(namePath, q.String(), fmt.Sprintf("must be less than or equal to %s limit of %s", name, limit.String())))
			}
		} else if !isOvercommitAllowed(name) {
			errs = append(errs, field.Required(limitsPath.Key(string(name)), "Limit must be set for non overcommitable resources"))
		}
		hasHugePages = hasHugePages || isHugePages(name)
		hasCPUOrMemory = hasCPUOrMemory || name == corev1.ResourceCPU || name == corev1.ResourceMemory
	}
	if hasHugePages && !hasCPUOrMemory {
		errs = append(errs, field.Forbidden(fldPath, "HugePages require cpu or memory"))
	}
	return errs
}

func sortedResourceNames(list corev1.ResourceList) []corev1.ResourceName {
	if len(list) == 0 {
		return nil
	}
	names := make([]corev1.ResourceName, 0, len(list))
	for name := range list {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// validatePodResources checks spec.resources (PodLevelResources, on by
// default in v1.37): the pod's budget must cover what its containers ask.
func validatePodResources(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	if spec.Resources == nil {
		return nil
	}
	resourcesPath := fldPath.Child("resources")
	if isWindows(spec) {
		return field.ErrorList{field.Forbidden(resourcesPath, "may not be set for a windows pod")}
	}
	// Claims are refused by ValidateStaticPodRestrictions.
	errs := validateResourceRequirements(spec.Resources, validatePodLevelResourceName, resourcesPath)

	requests := pod.AggregateResources(spec, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Requests })
	for _, name := range sortedResourceNames(requests) {
		podRequest, ok := spec.Resources.Requests[name]
		if sum := requests[name]; ok && sum.Cmp(podRequest) > 0 {
			errs = append(errs, field.Invalid(resourcesPath.Child("requests").Key(string(name)), podRequest.String(),
				fmt.Sprintf("must be greater than or equal to aggregate container requests of %s", sum.String())))
		}
	}
	limits := pod.AggregateResources(spec, func(c *corev1.Container) corev1.ResourceList { return c.Resources.Limits })
	for _, name := range sortedResourceNames(limits) {
		podLimit, ok := spec.Resources.Limits[name]
		if sum := limits[name]; ok && isHugePages(name) && sum.Cmp(podLimit) > 0 {
			errs = append(errs, field.Invalid(resourcesPath.Child("limits").Key(string(name)), podLimit.String(),
				fmt.Sprintf("must be greater than or equal to aggregate container limits of %s", sum.String())))
		}
	}
	for i := range spec.Containers {
		c := &spec.Containers[i]
		for _, name := range sortedResourceNames(c.Resources.Limits) {
			podLimit, ok := spec.Resources.Limits[name]
			if limit := c.Resources.Limits[name]; ok && limit.Cmp(podLimit) > 0 {
				errs = append(errs, field.Invalid(fldPath.Child("containers").Index(i).Child("resources", "limits").Key(string(name)),
					limit.String(), fmt.Sprintf("must be less than or equal to pod limits of %s", podLimit.String())))
			}
		}
	}
	return errs
}
