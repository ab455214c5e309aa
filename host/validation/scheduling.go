package validation

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/validate/content"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The scheduler never sees a static pod, but the API server still checks
// these fields on the mirror pod, so a manifest with bad ones would never
// get a mirror.

var (
	tolerationOperators   = []corev1.TolerationOperator{corev1.TolerationOpEqual, corev1.TolerationOpExists}
	taintEffects          = []corev1.TaintEffect{corev1.TaintEffectNoExecute, corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule}
	unsatisfiableActions  = []corev1.UnsatisfiableConstraintAction{corev1.DoNotSchedule, corev1.ScheduleAnyway}
	nodeInclusionPolicies = []corev1.NodeInclusionPolicy{corev1.NodeInclusionPolicyHonor, corev1.NodeInclusionPolicyIgnore}
	strictSelector        = metav1validation.LabelSelectorValidationOptions{}
)

// validateTolerations: an empty key needs operator Exists (match every
// taint); Exists takes no value; tolerationSeconds only for NoExecute. The
// comparison operators Lt and Gt are alpha in v1.37 and refused.
func validateTolerations(tolerations []corev1.Toleration, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, t := range tolerations {
		tPath := fldPath.Index(i)
		if t.Key != "" {
			errs = append(errs, metav1validation.ValidateLabelName(t.Key, tPath.Child("key"))...)
		}
		if t.Key == "" && t.Operator != corev1.TolerationOpExists {
			errs = append(errs, field.Invalid(tPath.Child("operator"), t.Operator,
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			errs = append(errs, field.Invalid(tPath.Child("effect"), t.Effect, "effect must be 'NoExecute' when `tolerationSeconds` is set"))
		}
		switch t.Operator {
		case corev1.TolerationOpEqual, "":
			if msgs := content.IsLabelValue(t.Value); len(msgs) > 0 {
				errs = append(errs, field.Invalid(tPath.Child("operator"), t.Value, strings.Join(msgs, ";")))
			}
		case corev1.TolerationOpExists:
			if t.Value != "" {
				errs = append(errs, field.Invalid(tPath.Child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
			}
		default:
			errs = append(errs, field.NotSupported(tPath.Child("operator"), t.Operator, tolerationOperators))
		}
		switch t.Effect {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			errs = append(errs, field.NotSupported(tPath.Child("effect"), t.Effect, taintEffects))
		}
	}
	return errs
}

func validateAffinity(affinity *corev1.Affinity, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if na := affinity.NodeAffinity; na != nil {
		naPath := fldPath.Child("nodeAffinity")
		if required := na.RequiredDuringSchedulingIgnoredDuringExecution; required != nil {
			termsPath := naPath.Child("requiredDuringSchedulingIgnoredDuringExecution", "nodeSelectorTerms")
			if len(required.NodeSelectorTerms) == 0 {
				errs = append(errs, field.Required(termsPath, "must have at least one node selector term"))
			}
			for i := range required.NodeSelectorTerms {
				errs = append(errs, validateNodeSelectorTerm(&required.NodeSelectorTerms[i], true, termsPath.Index(i))...)
			}
		}
		preferredPath := naPath.Child("preferredDuringSchedulingIgnoredDuringExecution")
		for i := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			term := &na.PreferredDuringSchedulingIgnoredDuringExecution[i]
			termPath := preferredPath.Index(i)
			errs = append(errs, validateWeight(term.Weight, termPath.Child("weight"))...)
			// Preferred terms tolerate invalid label values, as upstream.
			errs = append(errs, validateNodeSelectorTerm(&term.Preference, false, termPath.Child("preference"))...)
		}
	}
	if pa := affinity.PodAffinity; pa != nil {
		paPath := fldPath.Child("podAffinity")
		errs = append(errs, validatePodAffinityTerms(pa.RequiredDuringSchedulingIgnoredDuringExecution, paPath.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		errs = append(errs, validateWeightedPodAffinityTerms(pa.PreferredDuringSchedulingIgnoredDuringExecution, paPath.Child("preferredDuringSchedulingIgnoredDuringExecution"))...)
	}
	if paa := affinity.PodAntiAffinity; paa != nil {
		paaPath := fldPath.Child("podAntiAffinity")
		errs = append(errs, validatePodAffinityTerms(paa.RequiredDuringSchedulingIgnoredDuringExecution, paaPath.Child("requiredDuringSchedulingIgnoredDuringExecution"))...)
		errs = append(errs, validateWeightedPodAffinityTerms(paa.PreferredDuringSchedulingIgnoredDuringExecution, paaPath.Child("preferredDuringSchedulingIgnoredDuringExecution"))...)
	}
	return errs
}

func validateWeight(weight int32, fldPath *field.Path) field.ErrorList {
	if weight <= 0 || weight > 100 {
		return field.ErrorList{field.Invalid(fldPath, weight, "must be in the range 1-100")}
	}
	return nil
}

func validateNodeSelectorTerm(term *corev1.NodeSelectorTerm, strictValues bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, req := range term.MatchExpressions {
		reqPath := fldPath.Child("matchExpressions").Index(i)
		switch req.Operator {
		case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
			if len(req.Values) == 0 {
				errs = append(errs, field.Required(reqPath.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
			}
		case corev1.NodeSelectorOpExists, corev1.NodeSelectorOpDoesNotExist:
			if len(req.Values) > 0 {
				errs = append(errs, field.Forbidden(reqPath.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
			}
		case corev1.NodeSelectorOpGt, corev1.NodeSelectorOpLt:
			if len(req.Values) != 1 {
				errs = append(errs, field.Required(reqPath.Child("values"), "must be specified single value when `operator` is 'Lt' or 'Gt'"))
			}
		default:
			errs = append(errs, field.Invalid(reqPath.Child("operator"), req.Operator, "not a valid selector operator"))
		}
		errs = append(errs, metav1validation.ValidateLabelName(req.Key, reqPath.Child("key"))...)
		if strictValues {
			for j, value := range req.Values {
				for _, msg := range content.IsLabelValue(value) {
					errs = append(errs, field.Invalid(reqPath.Child("values").Index(j), value, msg))
				}
			}
		}
	}
	for i, req := range term.MatchFields {
		reqPath := fldPath.Child("matchFields").Index(i)
		switch req.Operator {
		case corev1.NodeSelectorOpIn, corev1.NodeSelectorOpNotIn:
			if len(req.Values) != 1 {
				errs = append(errs, field.Required(reqPath.Child("values"), "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"))
			}
		default:
			errs = append(errs, field.Invalid(reqPath.Child("operator"), req.Operator, "not a valid selector operator"))
		}
		if req.Key != metav1.ObjectNameField {
			errs = append(errs, field.Invalid(reqPath.Child("key"), req.Key, "not a valid field selector key"))
			continue
		}
		for j, value := range req.Values {
			errs = append(errs, validateObjectName(value, false, reqPath.Child("values").Index(j))...)
		}
	}
	return errs
}

func validatePodAffinityTerms(terms []corev1.PodAffinityTerm, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range terms {
		errs = append(errs, validatePodAffinityTerm(&terms[i], fldPath.Index(i))...)
	}
	return errs
}

func validateWeightedPodAffinityTerms(terms []corev1.WeightedPodAffinityTerm, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range terms {
		termPath := fldPath.Index(i)
		errs = append(errs, validateWeight(terms[i].Weight, termPath.Child("weight"))...)
		errs = append(errs, validatePodAffinityTerm(&terms[i].PodAffinityTerm, termPath.Child("podAffinityTerm"))...)
	}
	return errs
}

func validatePodAffinityTerm(term *corev1.PodAffinityTerm, fldPath *field.Path) field.ErrorList {
	errs := metav1validation.ValidateLabelSelector(term.LabelSelector, strictSelector, fldPath.Child("labelSelector"))
	errs = append(errs, metav1validation.ValidateLabelSelector(term.NamespaceSelector, strictSelector, fldPath.Child("namespaceSelector"))...)
	for _, namespace := range term.Namespaces {
		errs = append(errs, validateDNSLabel(namespace, fldPath.Child("namespace"))...)
	}
	errs = append(errs, validateLabelKeys(term.MatchLabelKeys, term.LabelSelector, fldPath.Child("matchLabelKeys"))...)
	errs = append(errs, validateLabelKeys(term.MismatchLabelKeys, term.LabelSelector, fldPath.Child("mismatchLabelKeys"))...)
	for i, key := range term.MatchLabelKeys {
		for _, other := range term.MismatchLabelKeys {
			if key == other {
				errs = append(errs, field.Invalid(fldPath.Child("matchLabelKeys").Index(i), key, "exists in both matchLabelKeys and mismatchLabelKeys"))
				break
			}
		}
	}
	if term.TopologyKey == "" {
		errs = append(errs, field.Required(fldPath.Child("topologyKey"), "can not be empty"))
	}
	return append(errs, metav1validation.ValidateLabelName(term.TopologyKey, fldPath.Child("topologyKey"))...)
}

// validateLabelKeys checks matchLabelKeys/mismatchLabelKeys, which refine a
// label selector and so need one.
func validateLabelKeys(keys []string, selector *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	if len(keys) == 0 {
		return nil
	}
	if selector == nil {
		return field.ErrorList{field.Forbidden(fldPath, "must not be specified when labelSelector is not set")}
	}
	var errs field.ErrorList
	for i, key := range keys {
		errs = append(errs, metav1validation.ValidateLabelName(key, fldPath.Index(i))...)
	}
	return errs
}

func validateTopologySpreadConstraints(constraints []corev1.TopologySpreadConstraint, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range constraints {
		c := &constraints[i]
		cPath := fldPath.Index(i)
		errs = append(errs, validatePositive(int64(c.MaxSkew), cPath.Child("maxSkew"))...)
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(cPath.Child("topologyKey"), "can not be empty"))
		}
		if c.WhenUnsatisfiable != corev1.DoNotSchedule && c.WhenUnsatisfiable != corev1.ScheduleAnyway {
			errs = append(errs, field.NotSupported(cPath.Child("whenUnsatisfiable"), c.WhenUnsatisfiable, unsatisfiableActions))
		}
		for _, later := range constraints[i+1:] {
			if later.TopologyKey == c.TopologyKey && later.WhenUnsatisfiable == c.WhenUnsatisfiable {
				errs = append(errs, field.Duplicate(cPath.Child("{topologyKey, whenUnsatisfiable}"), fmt.Sprintf("{%v, %v}", c.TopologyKey, c.WhenUnsatisfiable)))
				break
			}
		}
		if c.MinDomains != nil {
			errs = append(errs, validatePositive(int64(*c.MinDomains), cPath.Child("minDomains"))...)
			if c.WhenUnsatisfiable != corev1.DoNotSchedule {
				errs = append(errs, field.Invalid(cPath.Child("minDomains"), *c.MinDomains,
					fmt.Sprintf("can only use minDomains if whenUnsatisfiable=%s, not %s", corev1.DoNotSchedule, c.WhenUnsatisfiable)))
			}
		}
		errs = append(errs, validateNodeInclusionPolicy(c.NodeAffinityPolicy, cPath.Child("nodeAffinityPolicy"))...)
		errs = append(errs, validateNodeInclusionPolicy(c.NodeTaintsPolicy, cPath.Child("nodeTaintsPolicy"))...)
		errs = append(errs, validateMatchLabelKeys(c.MatchLabelKeys, c.LabelSelector, cPath.Child("matchLabelKeys"))...)
		errs = append(errs, metav1validation.ValidateLabelSelector(c.LabelSelector, strictSelector, cPath.Child("labelSelector"))...)
	}
	return errs
}

func validateNodeInclusionPolicy(policy *corev1.NodeInclusionPolicy, fldPath *field.Path) field.ErrorList {
	if policy != nil && *policy != corev1.NodeInclusionPolicyHonor && *policy != corev1.NodeInclusionPolicyIgnore {
		return field.ErrorList{field.NotSupported(fldPath, *policy, nodeInclusionPolicies)}
	}
	return nil
}

// validateMatchLabelKeys: keys refine labelSelector, so they need one and
// must not repeat its keys.
func validateMatchLabelKeys(keys []string, selector *metav1.LabelSelector, fldPath *field.Path) field.ErrorList {
	if len(keys) == 0 {
		return nil
	}
	var errs field.ErrorList
	if selector == nil {
		errs = append(errs, field.Forbidden(fldPath, "must not be specified when labelSelector is not set"))
	}
	for i, key := range keys {
		errs = append(errs, metav1validation.ValidateLabelName(key, fldPath.Index(i))...)
		if selector != nil && selectorHasKey(selector, key) {
			errs = append(errs, field.Invalid(fldPath.Index(i), key, "exists in both matchLabelKeys and labelSelector"))
		}
	}
	return errs
}

func selectorHasKey(selector *metav1.LabelSelector, key string) bool {
	if _, ok := selector.MatchLabels[key]; ok {
		return true
	}
	for _, expr := range selector.MatchExpressions {
		if expr.Key == key {
			return true
		}
	}
	return false
}
