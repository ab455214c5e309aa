package validation

import (
	"encoding/json"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidatePod returns every problem of a defaulted static pod at once, each
// with its field path (e.g. spec.containers[0].ports[1].containerPort) and
// reason: the API server's pod-create validation plus
// ValidateStaticPodRestrictions. An empty list means the pod may run. A nil
// pod is validated as an empty one.
func ValidatePod(pod *corev1.Pod) field.ErrorList {
	if pod == nil {
		pod = &corev1.Pod{}
	}
	metaPath := field.NewPath("metadata")
	specPath := field.NewPath("spec")

	// The name already carries the "-<node>" suffix, so the full name must be
	// a DNS subdomain, as the mirror pod's name will be.
	errs := apivalidation.ValidateObjectMeta(&pod.ObjectMeta, true, apivalidation.NameIsDNSSubdomain, metaPath)
	errs = append(errs, validatePodAnnotations(pod, metaPath.Child("annotations"))...)
	errs = append(errs, validatePodSpec(&pod.Spec, specPath)...)
	errs = append(errs, validateSeccompAnnotationsMatchFields(pod, specPath)...)
	errs = append(errs, validateAppArmorAnnotationsMatchFields(pod, specPath)...)
	errs = append(errs, ValidateStaticPodRestrictions(pod)...)
	return errs
}

// validatePodAnnotations checks the annotations the API server gives a
// meaning on pods.
func validatePodAnnotations(pod *corev1.Pod, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	annotations := pod.Annotations
	if len(annotations) == 0 {
		return nil
	}
	if value, isMirror := annotations[corev1.MirrorPodAnnotationKey]; isMirror && pod.Spec.NodeName == "" {
		errs = append(errs, field.Invalid(fldPath.Key(corev1.MirrorPodAnnotationKey), value, "must set spec.nodeName if mirror pod annotation is set"))
	}
	if raw := annotations[corev1.TolerationsAnnotationKey]; raw != "" {
		var tolerations []corev1.Toleration
		tolerationsPath := fldPath.Key(corev1.TolerationsAnnotationKey)
		if err := json.Unmarshal([]byte(raw), &tolerations); err != nil {
			errs = append(errs, field.Invalid(tolerationsPath, raw, err.Error()))
		} else {
			errs = append(errs, validateTolerations(tolerations, tolerationsPath)...)
		}
	}
	if value, ok := annotations[corev1.PodDeletionCost]; ok && !isInt32Decimal(value) {
		errs = append(errs, field.Invalid(fldPath.Key(corev1.PodDeletionCost), value, "must be a 32bit integer"))
	}
	for key, value := range annotations {
		switch {
		case key == corev1.SeccompPodAnnotationKey, strings.HasPrefix(key, corev1.SeccompContainerAnnotationKeyPrefix):
			errs = append(errs, validateSeccompAnnotationValue(value, fldPath.Key(key))...)
		case strings.HasPrefix(key, corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix):
			containerName := strings.TrimPrefix(key, corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix)
			if !hasContainerNamed(&pod.Spec, containerName) {
				errs = append(errs, field.Invalid(fldPath.Key(key), containerName, "container not found"))
			}
			if !isAppArmorAnnotationValue(value) {
				errs = append(errs, field.Invalid(fldPath.Key(key), value, "invalid AppArmor profile name: "+strconv.Quote(value)))
			}
		}
	}
	return errs
}

// isInt32Decimal is the API server's pod-deletion-cost rule: a base-10 int32
// with no plus sign and no leading zeros.
func isInt32Decimal(value string) bool {
	if value == "" || value[0] == '+' || (value[0] == '0' && value != "0") {
		return false
	}
	_, err := strconv.ParseInt(value, 10, 32)
	return err == nil
}

func validateSeccompAnnotationValue(value string, fldPath *field.Path) field.ErrorList {
	switch {
	case value == corev1.SeccompProfileRuntimeDefault, value == corev1.DeprecatedSeccompProfileDockerDefault,
		value == corev1.SeccompProfileNameUnconfined:
		return nil
	case strings.HasPrefix(value, corev1.SeccompLocalhostProfileNamePrefix):
		return validateLocalDescendingPath(strings.TrimPrefix(value, corev1.SeccompLocalhostProfileNamePrefix), fldPath)
	}
	return field.ErrorList{field.Invalid(fldPath, value, "must be a valid seccomp profile")}
}

func isAppArmorAnnotationValue(value string) bool {
	return value == "" || value == corev1.DeprecatedAppArmorBetaProfileRuntimeDefault ||
		value == corev1.DeprecatedAppArmorBetaProfileNameUnconfined ||
		strings.HasPrefix(value, corev1.DeprecatedAppArmorBetaProfileNamePrefix)
}

// validateSeccompAnnotationsMatchFields refuses a pod whose deprecated seccomp
// annotations contradict its seccompProfile fields.
func validateSeccompAnnotationsMatchFields(pod *corev1.Pod, specPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if sc := pod.Spec.SecurityContext; sc != nil && sc.SeccompProfile != nil {
		if annotation, ok := pod.Annotations[corev1.SeccompPodAnnotationKey]; ok {
			errs = append(errs, seccompAnnotationMatchesField(annotation, sc.SeccompProfile, specPath.Child("securityContext", "seccompProfile"))...)
		}
	}
	visitContainers(&pod.Spec, specPath, func(c *corev1.Container, cPath *field.Path) {
		if c.SecurityContext == nil || c.SecurityContext.SeccompProfile == nil {
			return
		}
		if annotation, ok := pod.Annotations[corev1.SeccompContainerAnnotationKeyPrefix+c.Name]; ok {
			errs = append(errs, seccompAnnotationMatchesField(annotation, c.SecurityContext.SeccompProfile, cPath.Child("securityContext", "seccompProfile"))...)
		}
	})
	return errs
}

func seccompAnnotationMatchesField(annotation string, profile *corev1.SeccompProfile, fldPath *field.Path) field.ErrorList {
	const mismatch = "seccomp type in annotation and field must match"
	switch profile.Type {
	case corev1.SeccompProfileTypeUnconfined:
		if annotation != corev1.SeccompProfileNameUnconfined {
			return field.ErrorList{field.Forbidden(fldPath.Child("type"), mismatch)}
		}
	case corev1.SeccompProfileTypeRuntimeDefault:
		if annotation != corev1.SeccompProfileRuntimeDefault && annotation != corev1.DeprecatedSeccompProfileDockerDefault {
			return field.ErrorList{field.Forbidden(fldPath.Child("type"), mismatch)}
		}
	case corev1.SeccompProfileTypeLocalhost:
		if !strings.HasPrefix(annotation, corev1.SeccompLocalhostProfileNamePrefix) {
			return field.ErrorList{field.Forbidden(fldPath.Child("type"), mismatch)}
		}
		if profile.LocalhostProfile == nil || strings.TrimPrefix(annotation, corev1.SeccompLocalhostProfileNamePrefix) != *profile.LocalhostProfile {
			return field.ErrorList{field.Forbidden(fldPath.Child("localhostProfile"), "seccomp profile in annotation and field must match")}
		}
	}
	return nil
}

// validateAppArmorAnnotationsMatchFields refuses a pod whose deprecated
// AppArmor annotations contradict the effective appArmorProfile of a
// container (its own, or else the pod's).
func validateAppArmorAnnotationsMatchFields(pod *corev1.Pod, specPath *field.Path) field.ErrorList {
	if pod.Spec.OS != nil && pod.Spec.OS.Name == corev1.Windows {
		return nil
	}
	var podProfile *corev1.AppArmorProfile
	if pod.Spec.SecurityContext != nil {
		podProfile = pod.Spec.SecurityContext.AppArmorProfile
	}
	var errs field.ErrorList
	visitContainers(&pod.Spec, specPath, func(c *corev1.Container, cPath *field.Path) {
		profile := podProfile
		if c.SecurityContext != nil && c.SecurityContext.AppArmorProfile != nil {
			profile = c.SecurityContext.AppArmorProfile
		}
		if profile == nil {
			return
		}
		annotation, ok := pod.Annotations[corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix+c.Name]
		if !ok {
			return
		}
		const mismatch = "apparmor type in annotation and field must match"
		fldPath := cPath.Child("securityContext", "appArmorProfile")
		switch profile.Type {
		case corev1.AppArmorProfileTypeUnconfined:
			if annotation != corev1.DeprecatedAppArmorBetaProfileNameUnconfined {
				errs = append(errs, field.Forbidden(fldPath.Child("type"), mismatch))
			}
		case corev1.AppArmorProfileTypeRuntimeDefault:
			if annotation != corev1.DeprecatedAppArmorBetaProfileRuntimeDefault {
				errs = append(errs, field.Forbidden(fldPath.Child("type"), mismatch))
			}
		case corev1.AppArmorProfileTypeLocalhost:
			if !strings.HasPrefix(annotation, corev1.DeprecatedAppArmorBetaProfileNamePrefix) {
				errs = append(errs, field.Forbidden(fldPath.Child("type"), mismatch))
			} else if profile.LocalhostProfile == nil || strings.TrimPrefix(annotation, corev1.DeprecatedAppArmorBetaProfileNamePrefix) != *profile.LocalhostProfile {
				errs = append(errs, field.Forbidden(fldPath.Child("localhostProfile"), "apparmor profile in annotation and field must match"))
			}
		}
	})
	return errs
}

// visitContainers calls visit for every init container, then every regular
// container, with its path. Ephemeral containers are left out: static pods
// may not have any (see ValidateStaticPodRestrictions).
func visitContainers(spec *corev1.PodSpec, specPath *field.Path, visit func(*corev1.Container, *field.Path)) {
	if len(spec.InitContainers) > 0 {
		initPath := specPath.Child("initContainers")
		for i := range spec.InitContainers {
			visit(&spec.InitContainers[i], initPath.Index(i))
		}
	}
	if len(spec.Containers) > 0 {
		containersPath := specPath.Child("containers")
		for i := range spec.Containers {
			visit(&spec.Containers[i], containersPath.Index(i))
		}
	}
}

func hasContainerNamed(spec *corev1.PodSpec, name string) bool {
	for i := range spec.InitContainers {
		if spec.InitContainers[i].Name == name {
			return true
		}
	}
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return true
		}
	}
	return false
}
