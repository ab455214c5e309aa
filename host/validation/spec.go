package validation

import (
	"fmt"
	"math"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// podContext is what container rules need to know about the rest of the pod.
type podContext struct {
	spec        *corev1.PodSpec
	volumes     map[string]*corev1.VolumeSource
	gracePeriod *int64
	// hostUsers is false when the pod runs in its own user namespace.
	hostUsers bool
}

// Built-in priority classes and their values; the API server's Priority
// admission plugin resolves these names itself, so a contradicting integer is
// an error we can know about without the cluster.
var builtinPriorityClasses = map[string]int32{
	"system-node-critical":    2000001000,
	"system-cluster-critical": 2000000000,
}

var (
	restartPolicies    = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyNever, corev1.RestartPolicyOnFailure}
	dnsPolicies        = []corev1.DNSPolicy{corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet, corev1.DNSDefault, corev1.DNSNone}
	preemptionPolicies = []corev1.PreemptionPolicy{corev1.PreemptNever, corev1.PreemptLowerPriority}
	osNames            = []corev1.OSName{corev1.Linux, corev1.Windows}
)

// Limits from libc's resolver, as the API server enforces them.
const (
	maxDNSNameservers     = 3
	maxDNSSearchPaths     = 32
	maxDNSSearchListChars = 2048
)

func validatePodSpec(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList

	gracePath := fldPath.Child("terminationGracePeriodSeconds")
	if spec.TerminationGracePeriodSeconds == nil {
		errs = append(errs, field.Required(gracePath, ""))
	} else {
		errs = append(errs, validateNonNegative(*spec.TerminationGracePeriodSeconds, gracePath)...)
	}

	volumes, volumeErrs := validateVolumes(spec.Volumes, fldPath.Child("volumes"))
	errs = append(errs, volumeErrs...)
	pc := &podContext{
		spec:        spec,
		volumes:     volumes,
		gracePeriod: spec.TerminationGracePeriodSeconds,
		hostUsers:   spec.HostUsers == nil || *spec.HostUsers,
	}
	errs = append(errs, validateContainers(pc, fldPath.Child("containers"))...)
	errs = append(errs, validateInitContainers(pc, fldPath.Child("initContainers"))...)
	errs = append(errs, validatePodResources(spec, fldPath)...)
	errs = append(errs, validateHostNetworkPorts(spec, fldPath)...)

	switch spec.RestartPolicy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	case "":
		errs = append(errs, field.Required(fldPath.Child("restartPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("restartPolicy"), spec.RestartPolicy, restartPolicies))
	}
	switch spec.DNSPolicy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet, corev1.DNSDefault, corev1.DNSNone:
	case "":
		errs = append(errs, field.Required(fldPath.Child("dnsPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("dnsPolicy"), spec.DNSPolicy, dnsPolicies))
	}
	if len(spec.NodeSelector) > 0 {
		errs = append(errs, metav1validation.ValidateLabels(spec.NodeSelector, fldPath.Child("nodeSelector"))...)
	}
	errs = append(errs, validatePodSecurityContext(spec, fldPath)...)
	if spec.ShareProcessNamespace != nil && *spec.ShareProcessNamespace && spec.HostPID {
		errs = append(errs, field.Invalid(fldPath.Child("shareProcessNamespace"), true, "ShareProcessNamespace and HostPID cannot both be enabled"))
	}
	if spec.Affinity != nil {
		errs = append(errs, validateAffinity(spec.Affinity, fldPath.Child("affinity"))...)
	}
	errs = append(errs, validateDNSConfig(spec.DNSConfig, spec.DNSPolicy, fldPath.Child("dnsConfig"))...)
	for i, gate := range spec.ReadinessGates {
		errs = append(errs, validateQualifiedName(string(gate.ConditionType), fldPath.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	errs = append(errs, validateSchedulingGates(spec, fldPath)...)
	errs = append(errs, validateTopologySpreadConstraints(spec.TopologySpreadConstraints, fldPath.Child("topologySpreadConstraints"))...)
	errs = append(errs, validateWindowsHostProcess(spec, fldPath)...)
	errs = append(errs, validateHostUsers(spec, fldPath)...)
	errs = append(errs, validateHostnameOverride(spec, fldPath)...)

	if spec.NodeName != "" {
		errs = append(errs, validateObjectName(spec.NodeName, false, fldPath.Child("nodeName"))...)
	}
	if spec.ActiveDeadlineSeconds != nil {
		if v := *spec.ActiveDeadlineSeconds; v < 1 || v > math.MaxInt32 {
			errs = append(errs, field.Invalid(fldPath.Child("activeDeadlineSeconds"), v, validation.InclusiveRangeError(1, math.MaxInt32)))
		}
	}
	if spec.Hostname != "" {
		errs = append(errs, validateDNSLabel(spec.Hostname, fldPath.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, validateDNSLabel(spec.Subdomain, fldPath.Child("subdomain"))...)
	}
	if len(spec.Tolerations) > 0 {
		errs = append(errs, validateTolerations(spec.Tolerations, fldPath.Child("tolerations"))...)
	}
	if len(spec.HostAliases) > 0 {
		errs = append(errs, validateHostAliases(spec.HostAliases, fldPath.Child("hostAliases"))...)
	}
	errs = append(errs, validatePriority(spec, fldPath)...)
	if spec.RuntimeClassName != nil {
		errs = append(errs, validateObjectName(*spec.RuntimeClassName, false, fldPath.Child("runtimeClassName"))...)
	}
	if spec.PreemptionPolicy != nil {
		switch p := *spec.PreemptionPolicy; p {
		case corev1.PreemptLowerPriority, corev1.PreemptNever:
		case "":
			errs = append(errs, field.Required(fldPath.Child("preemptionPolicy"), ""))
		default:
			errs = append(errs, field.NotSupported(fldPath.Child("preemptionPolicy"), p, preemptionPolicies))
		}
	}
	if spec.Overhead != nil {
		errs = append(errs, validateResourceRequirements(&corev1.ResourceRequirements{Limits: spec.Overhead}, validateContainerResourceName, fldPath.Child("overhead"))...)
	}
	errs = append(errs, validateOS(spec, fldPath)...)
	errs = append(errs, validateFileKeyRefVolumes(spec, fldPath)...)
	return errs
}

// validateHostNetworkPorts: with the host's network a container listens on
// the host port itself, so the two numbers must agree. Defaulting copies
// containerPort into an unset hostPort.
func validateHostNetworkPorts(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	if !spec.HostNetwork {
		return nil
	}
	var errs field.ErrorList
	for i := range spec.Containers {
		for j, port := range spec.Containers[i].Ports {
			if port.HostPort != port.ContainerPort {
				errs = append(errs, field.Invalid(fldPath.Child("containers").Index(i).Child("ports").Index(j).Child("hostPort"),
					port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
			}
		}
	}
	return errs
}

// validateSchedulingGates: gates only make sense before scheduling, and a
// static pod is bound to its node from the start.
func validateSchedulingGates(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	gatesPath := fldPath.Child("schedulingGates")
	seen := make(map[string]struct{}, len(spec.SchedulingGates))
	for i, gate := range spec.SchedulingGates {
		errs = append(errs, validateQualifiedName(gate.Name, gatesPath.Index(i))...)
		if _, dup := seen[gate.Name]; dup {
			errs = append(errs, field.Duplicate(gatesPath.Index(i), gate.Name))
		}
		seen[gate.Name] = struct{}{}
	}
	if spec.NodeName != "" && len(spec.SchedulingGates) > 0 {
		errs = append(errs, field.Forbidden(fldPath.Child("nodeName"), "cannot be set until all schedulingGates have been cleared"))
	}
	return errs
}

func validateHostUsers(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	if spec.HostUsers == nil || *spec.HostUsers {
		return nil
	}
	// A user namespace does not combine with the host's PID or IPC
	// namespaces, nor with block devices (which cannot be id-mapped).
	var errs field.ErrorList
	if spec.HostPID {
		errs = append(errs, field.Forbidden(fldPath.Child("hostPID"), "when `hostUsers` is false"))
	}
	if spec.HostIPC {
		errs = append(errs, field.Forbidden(fldPath.Child("hostIPC"), "when `hostUsers` is false"))
	}
	visitContainers(spec, fldPath, func(c *corev1.Container, cPath *field.Path) {
		if len(c.VolumeDevices) > 0 {
			errs = append(errs, field.Forbidden(cPath.Child("volumeDevices"), "when `hostUsers` is false"))
		}
	})
	return errs
}

func validateHostnameOverride(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	if spec.HostnameOverride == nil {
		return nil
	}
	var errs field.ErrorList
	overridePath := fldPath.Child("hostnameOverride")
	if spec.SetHostnameAsFQDN != nil && *spec.SetHostnameAsFQDN {
		errs = append(errs, field.Forbidden(overridePath, "may not be specified when setHostnameAsFQDN is true"))
	}
	if spec.HostNetwork {
		errs = append(errs, field.Forbidden(overridePath, "may not be specified when hostNetwork is true"))
	}
	if len(*spec.HostnameOverride) > 64 {
		errs = append(errs, field.TooLong(overridePath, "", 64))
	}
	return append(errs, validateDNSSubdomain(*spec.HostnameOverride, overridePath)...)
}

func validatePriority(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	if spec.PriorityClassName == "" {
		return nil
	}
	errs := validateObjectName(spec.PriorityClassName, false, fldPath.Child("priorityClassName"))
	if want, builtin := builtinPriorityClasses[spec.PriorityClassName]; builtin && spec.Priority != nil && *spec.Priority != want {
		errs = append(errs, field.Invalid(fldPath.Child("priority"), *spec.Priority,
			fmt.Sprintf("must be %d (the value of priority class %s) or unset", want, spec.PriorityClassName)))
	}
	return errs
}

func validateOS(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	if spec.OS == nil {
		return nil
	}
	osPath := fldPath.Child("os")
	switch spec.OS.Name {
	case "":
		return field.ErrorList{field.Required(osPath.Child("name"), "")}
	case corev1.Linux:
		return validateLinuxOnly(spec, fldPath)
	case corev1.Windows:
		return validateWindowsOnly(spec, fldPath)
	}
	return field.ErrorList{field.NotSupported(osPath, spec.OS.Name, osNames)}
}

// validateFileKeyRefVolumes: an env var read from a file needs the file's
// volume to exist and be an emptyDir, which the kubelet can read before the
// container starts.
func validateFileKeyRefVolumes(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	visitContainers(spec, fldPath, func(c *corev1.Container, cPath *field.Path) {
		for j := range c.Env {
			from := c.Env[j].ValueFrom
			if from == nil || from.FileKeyRef == nil {
				continue
			}
			name := from.FileKeyRef.VolumeName
			namePath := cPath.Child("env").Index(j).Child("valueFrom", "fileKeyRef", "volumeName")
			volume := findVolume(spec.Volumes, name)
			switch {
			case volume == nil:
				errs = append(errs, field.NotFound(namePath, name))
			case volume.EmptyDir == nil:
				errs = append(errs, field.Invalid(namePath, name, "referenced volume must be of type emptyDir"))
			}
		}
	})
	return errs
}

func findVolume(volumes []corev1.Volume, name string) *corev1.Volume {
	for i := range volumes {
		if volumes[i].Name == name {
			return &volumes[i]
		}
	}
	return nil
}

func validateDNSConfig(config *corev1.PodDNSConfig, policy corev1.DNSPolicy, fldPath *field.Path) field.ErrorList {
	if policy == corev1.DNSNone {
		if config == nil {
			return field.ErrorList{field.Required(fldPath, "must provide `dnsConfig` when `dnsPolicy` is None")}
		}
		if len(config.Nameservers) == 0 {
			return field.ErrorList{field.Required(fldPath.Child("nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None")}
		}
	}
	if config == nil {
		return nil
	}
	var errs field.ErrorList
	serversPath := fldPath.Child("nameservers")
	if len(config.Nameservers) > maxDNSNameservers {
		errs = append(errs, field.Invalid(serversPath, config.Nameservers, fmt.Sprintf("must not have more than %d nameservers", maxDNSNameservers)))
	}
	for i, server := range config.Nameservers {
		errs = append(errs, validation.IsValidIPForLegacyField(serversPath.Index(i), server, true, nil)...)
	}
	searchesPath := fldPath.Child("searches")
	if len(config.Searches) > maxDNSSearchPaths {
		errs = append(errs, field.Invalid(searchesPath, config.Searches, fmt.Sprintf("must not have more than %d search paths", maxDNSSearchPaths)))
	}
	if len(strings.Join(config.Searches, " ")) > maxDNSSearchListChars {
		errs = append(errs, field.Invalid(searchesPath, config.Searches, fmt.Sprintf("must not have more than %d characters (including spaces) in the search list", maxDNSSearchListChars)))
	}
	for i, search := range config.Searches {
		if search == "." {
			continue
		}
		search = strings.TrimSuffix(search, ".")
		for _, msg := range validation.IsDNS1123SubdomainWithUnderscore(search) {
			errs = append(errs, field.Invalid(searchesPath.Index(i), search, msg))
		}
	}
	for i, option := range config.Options {
		if option.Name == "" {
			errs = append(errs, field.Required(fldPath.Child("options").Index(i), "must not be empty"))
		}
	}
	return errs
}

func validateHostAliases(aliases []corev1.HostAlias, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, alias := range aliases {
		aliasPath := fldPath.Index(i)
		errs = append(errs, validation.IsValidIPForLegacyField(aliasPath.Child("ip"), alias.IP, true, nil)...)
		for j, hostname := range alias.Hostnames {
			errs = append(errs, validateDNSSubdomain(hostname, aliasPath.Child("hostnames").Index(j))...)
		}
	}
	return errs
}
