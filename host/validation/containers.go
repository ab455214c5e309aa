package validation

import (
	"fmt"
	"path"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	pullPolicies               = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	terminationMessagePolicies = []corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError}
	portProtocols              = []corev1.Protocol{corev1.ProtocolSCTP, corev1.ProtocolTCP, corev1.ProtocolUDP}
	initRestartPolicies        = []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}
	mountPropagations          = []corev1.MountPropagationMode{corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone}
	recursiveReadOnlyModes     = []corev1.RecursiveReadOnlyMode{corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyIfPossible}
	bindMountOptions           = []corev1.BindMountOption{corev1.BindMountOptionNoDev, corev1.BindMountOptionNoExec, corev1.BindMountOptionNoSUID}
	resizeResources            = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}
	resizeRestartPolicies      = []corev1.ResourceResizeRestartPolicy{corev1.NotRequired, corev1.RestartContainer}
)

const restartRulesUnsupported = "container restart rules are not supported by staticlet; only init containers may set restartPolicy, to Always"

// validateContainers checks spec.containers: at least one, unique names, and
// each container's fields.
func validateContainers(pc *podContext, fldPath *field.Path) field.ErrorList {
	containers := pc.spec.Containers
	if len(containers) == 0 {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	var errs field.ErrorList
	names := make(map[string]struct{}, len(containers))
	for i := range containers {
		c := &containers[i]
		cPath := fldPath.Index(i)
		errs = append(errs, validateContainerCommon(pc, c, cPath)...)
		if _, dup := names[c.Name]; dup {
			errs = append(errs, field.Duplicate(cPath.Child("name"), c.Name))
		} else if c.Name != "" {
			names[c.Name] = struct{}{}
		}
		errs = append(errs, validateLifecycleAndProbes(pc, c, cPath)...)
		// Deliberately stricter than a v1.37 API server, where the beta
		// ContainerRestartRules gate lets regular containers set these: the
		// agent restarts containers by the pod's restartPolicy only.
		if c.RestartPolicy != nil {
			errs = append(errs, field.Forbidden(cPath.Child("restartPolicy"), "may not be set for non-init containers"))
		}
		if len(c.RestartPolicyRules) > 0 {
			errs = append(errs, field.Forbidden(cPath.Child("restartPolicyRules"), restartRulesUnsupported))
		}
	}
	// Regular containers run together, so their host ports must not clash.
	errs = append(errs, validateHostPortsUnique(containers, 0, fldPath)...)
	return errs
}

// validateInitContainers checks spec.initContainers. Names must be unique
// across regular and init containers. Only sidecars (restartPolicy Always)
// may have probes and lifecycle hooks, since the others run to completion.
func validateInitContainers(pc *podContext, fldPath *field.Path) field.ErrorList {
	initContainers := pc.spec.InitContainers
	if len(initContainers) == 0 {
		return nil
	}
	var errs field.ErrorList
	names := make(map[string]struct{}, len(initContainers)+len(pc.spec.Containers))
	for i := range pc.spec.Containers {
		names[pc.spec.Containers[i].Name] = struct{}{}
	}
	for i := range initContainers {
		c := &initContainers[i]
		cPath := fldPath.Index(i)
		errs = append(errs, validateContainerCommon(pc, c, cPath)...)

		sidecar := false
		if c.RestartPolicy != nil {
			if *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				sidecar = true
			} else {
				errs = append(errs, field.NotSupported(cPath.Child("restartPolicy"), *c.RestartPolicy, initRestartPolicies))
			}
		}
		if len(c.RestartPolicyRules) > 0 {
			errs = append(errs, field.Forbidden(cPath.Child("restartPolicyRules"), restartRulesUnsupported))
		}

		if _, dup := names[c.Name]; dup {
			errs = append(errs, field.Duplicate(cPath.Child("name"), c.Name))
		} else if c.Name != "" {
			names[c.Name] = struct{}{}
		}
		// Init containers run one by one: each only needs its own host
		// ports to be distinct.
		errs = append(errs, validateHostPortsUnique(initContainers[i:i+1], i, fldPath)...)

		if sidecar {
			errs = append(errs, validateLifecycleAndProbes(pc, c, cPath)...)
		} else {
			const onlySidecars = "may not be set for init containers without restartPolicy=Always"
			if c.Lifecycle != nil {
				errs = append(errs, field.Forbidden(cPath.Child("lifecycle"), onlySidecars))
			}
			if c.LivenessProbe != nil {
				errs = append(errs, field.Forbidden(cPath.Child("livenessProbe"), onlySidecars))
			}
			if c.ReadinessProbe != nil {
				errs = append(errs, field.Forbidden(cPath.Child("readinessProbe"), onlySidecars))
			}
			if c.StartupProbe != nil {
				errs = append(errs, field.Forbidden(cPath.Child("startupProbe"), onlySidecars))
			}
			for j, policy := range c.ResizePolicy {
				if policy.RestartPolicy == corev1.RestartContainer {
					errs = append(errs, field.Invalid(cPath.Child("resizePolicy").Index(j).Child("restartPolicy"), policy.RestartPolicy,
						"must not be set to 'RestartContainer' for non-sidecar initContainers"))
				}
			}
		}
	}
	return errs
}

// validateContainerCommon applies the rules every container kind shares.
func validateContainerCommon(pc *podContext, c *corev1.Container, cPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if c.Name == "" {
		errs = append(errs, field.Required(cPath.Child("name"), ""))
	} else {
		errs = append(errs, validateDNSLabel(c.Name, cPath.Child("name"))...)
	}

	switch {
	case c.Image == "":
		errs = append(errs, field.Required(cPath.Child("image"), ""))
	case strings.TrimSpace(c.Image) != c.Image:
		errs = append(errs, field.Invalid(cPath.Child("image"), c.Image, "must not have leading or trailing whitespace"))
	}

	switch c.TerminationMessagePolicy {
	case corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError:
	case "":
		errs = append(errs, field.Required(cPath.Child("terminationMessagePolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(cPath.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, terminationMessagePolicies))
	}

	// Stricter than the API server, which leaves workingDir alone: the OCI
	// runtime rejects a relative working directory only when the container
	// starts, long after the manifest was accepted.
	if c.WorkingDir != "" && !isWindows(pc.spec) && !path.IsAbs(c.WorkingDir) {
		errs = append(errs, field.Invalid(cPath.Child("workingDir"), c.WorkingDir, "must be an absolute path"))
	}

	errs = append(errs, validateContainerPorts(c.Ports, cPath.Child("ports"))...)
	errs = append(errs, validateEnv(c.Env, cPath.Child("env"))...)
	errs = append(errs, validateEnvFrom(c.EnvFrom, cPath.Child("envFrom"))...)
	errs = append(errs, validateVolumeMounts(pc, c, cPath.Child("volumeMounts"))...)
	errs = append(errs, validateVolumeDevices(pc, c, cPath.Child("volumeDevices"))...)

	switch c.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	case "":
		errs = append(errs, field.Required(cPath.Child("imagePullPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(cPath.Child("imagePullPolicy"), c.ImagePullPolicy, pullPolicies))
	}

	errs = append(errs, validateResourceRequirements(&c.Resources, validateContainerResourceName, cPath.Child("resources"))...)
	errs = append(errs, validateResizePolicy(c.ResizePolicy, pc.spec.RestartPolicy, cPath.Child("resizePolicy"))...)
	errs = append(errs, validateSecurityContext(c.SecurityContext, pc.hostUsers, cPath.Child("securityContext"))...)
	return errs
}

func isWindows(spec *corev1.PodSpec) bool {
	return spec.OS != nil && spec.OS.Name == corev1.Windows
}

func validateContainerPorts(ports []corev1.ContainerPort, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	var names map[string]struct{}
	for i, port := range ports {
		portPath := fldPath.Index(i)
		if port.Name != "" {
			if msgs := validation.IsValidPortName(port.Name); len(msgs) > 0 {
				for _, msg := range msgs {
					errs = append(errs, field.Invalid(portPath.Child("name"), port.Name, msg))
				}
			} else if _, dup := names[port.Name]; dup {
				errs = append(errs, field.Duplicate(portPath.Child("name"), port.Name))
			} else {
				if names == nil {
					names = make(map[string]struct{}, len(ports))
				}
				names[port.Name] = struct{}{}
			}
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(portPath.Child("containerPort"), ""))
		} else {
			for _, msg := range validation.IsValidPortNum(int(port.ContainerPort)) {
				errs = append(errs, field.Invalid(portPath.Child("containerPort"), port.ContainerPort, msg))
			}
		}
		if port.HostPort != 0 {
			for _, msg := range validation.IsValidPortNum(int(port.HostPort)) {
				errs = append(errs, field.Invalid(portPath.Child("hostPort"), port.HostPort, msg))
			}
		}
		switch port.Protocol {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		case "":
			errs = append(errs, field.Required(portPath.Child("protocol"), ""))
		default:
			errs = append(errs, field.NotSupported(portPath.Child("protocol"), port.Protocol, portProtocols))
		}
	}
	return errs
}

// validateHostPortsUnique reports a host port used twice with the same
// protocol and host IP among containers that run at the same time;
// containers[0] is at index first of fldPath.
func validateHostPortsUnique(containers []corev1.Container, first int, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	var seen map[string]struct{}
	for i := range containers {
		for j, port := range containers[i].Ports {
			if port.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", port.Protocol, port.HostIP, port.HostPort)
			if _, dup := seen[key]; dup {
				errs = append(errs, field.Duplicate(fldPath.Index(first+i).Child("ports").Index(j).Child("hostPort"), key))
				continue
			}
			if seen == nil {
				seen = make(map[string]struct{})
			}
			seen[key] = struct{}{}
		}
	}
	return errs
}

func validateResizePolicy(policies []corev1.ContainerResizePolicy, podRestartPolicy corev1.RestartPolicy, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := make(map[corev1.ResourceName]struct{}, len(policies))
	for i, policy := range policies {
		policyPath := fldPath.Index(i)
		if _, dup := seen[policy.ResourceName]; dup {
			errs = append(errs, field.Duplicate(policyPath.Child("resourceName"), policy.ResourceName))
		}
		seen[policy.ResourceName] = struct{}{}
		switch policy.ResourceName {
		case corev1.ResourceCPU, corev1.ResourceMemory:
		case "":
			errs = append(errs, field.Required(policyPath.Child("resourceName"), ""))
		default:
			errs = append(errs, field.NotSupported(policyPath.Child("resourceName"), policy.ResourceName, resizeResources))
		}
		switch policy.RestartPolicy {
		case corev1.NotRequired, corev1.RestartContainer:
		case "":
			errs = append(errs, field.Required(policyPath.Child("restartPolicy"), ""))
		default:
			errs = append(errs, field.NotSupported(policyPath.Child("restartPolicy"), policy.RestartPolicy, resizeRestartPolicies))
		}
		if podRestartPolicy == corev1.RestartPolicyNever && policy.RestartPolicy != corev1.NotRequired {
			errs = append(errs, field.Invalid(policyPath.Child("restartPolicy"), policy.RestartPolicy, "must be 'NotRequired' when pod `restartPolicy` is 'Never'"))
		}
	}
	return errs
}

// validateVolumeMounts: every mount names a declared volume, mount paths are
// unique within the container, and sub-paths stay inside the volume. Like
// the API server, mountPath need not be absolute (Windows uses drive paths).
func validateVolumeMounts(pc *podContext, c *corev1.Container, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	mountPaths := make(map[string]struct{}, len(c.VolumeMounts))
	for i := range c.VolumeMounts {
		mount := &c.VolumeMounts[i]
		mountPath := fldPath.Index(i)
		if mount.Name == "" {
			errs = append(errs, field.Required(mountPath.Child("name"), ""))
		}
		volume, declared := pc.volumes[mount.Name]
		if !declared {
			errs = append(errs, field.NotFound(mountPath.Child("name"), mount.Name))
		}
		if mount.MountPath == "" {
			errs = append(errs, field.Required(mountPath.Child("mountPath"), ""))
		}
		if _, dup := mountPaths[mount.MountPath]; dup {
			errs = append(errs, field.Invalid(mountPath.Child("mountPath"), mount.MountPath, "must be unique"))
		}
		mountPaths[mount.MountPath] = struct{}{}

		for _, device := range c.VolumeDevices {
			if device.Name == mount.Name {
				errs = append(errs, field.Invalid(mountPath.Child("name"), mount.Name, "must not already exist in volumeDevices"))
				break
			}
		}
		for _, device := range c.VolumeDevices {
			if device.DevicePath == mount.MountPath {
				errs = append(errs, field.Invalid(mountPath.Child("mountPath"), mount.MountPath, "must not already exist as a path in volumeDevices"))
				break
			}
		}

		if mount.SubPath != "" {
			errs = append(errs, validateLocalDescendingPath(mount.SubPath, mountPath.Child("subPath"))...)
		}
		if mount.SubPathExpr != "" {
			if mount.SubPath != "" {
				errs = append(errs, field.Invalid(mountPath.Child("subPathExpr"), mount.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, validateLocalDescendingPath(mount.SubPathExpr, mountPath.Child("subPathExpr"))...)
		}
		if mount.MountPropagation != nil {
			errs = append(errs, validateMountPropagation(*mount.MountPropagation, c, mountPath.Child("mountPropagation"))...)
		}
		errs = append(errs, validateRecursiveReadOnly(mount, mountPath.Child("recursiveReadOnly"))...)
		errs = append(errs, validateBindMountOptions(mount.BindMountOptions, mountPath.Child("bindMountOptions"))...)
		if len(mount.BindMountOptions) > 0 && declared && volume.Image != nil {
			errs = append(errs, field.Invalid(mountPath.Child("bindMountOptions"), mount.BindMountOptions, "bindMountOptions may not be used with image volumes"))
		}
	}
	return errs
}

func validateMountPropagation(mode corev1.MountPropagationMode, c *corev1.Container, fldPath *field.Path) field.ErrorList {
	switch mode {
	case corev1.MountPropagationBidirectional:
		// Bidirectional lets the container create mounts on the host.
		privileged := c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
		if !privileged {
			return field.ErrorList{field.Forbidden(fldPath, "Bidirectional mount propagation is available only to privileged containers")}
		}
	case corev1.MountPropagationHostToContainer, corev1.MountPropagationNone:
	default:
		return field.ErrorList{field.NotSupported(fldPath, mode, mountPropagations)}
	}
	return nil
}

func validateRecursiveReadOnly(mount *corev1.VolumeMount, fldPath *field.Path) field.ErrorList {
	if mount.RecursiveReadOnly == nil {
		return nil
	}
	switch *mount.RecursiveReadOnly {
	case corev1.RecursiveReadOnlyDisabled:
		return nil
	case corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyIfPossible:
		var errs field.ErrorList
		if !mount.ReadOnly {
			errs = append(errs, field.Forbidden(fldPath, "may only be specified when readOnly is true"))
		}
		if mount.MountPropagation != nil && *mount.MountPropagation != corev1.MountPropagationNone {
			errs = append(errs, field.Forbidden(fldPath, "may only be specified when mountPropagation is None or not specified"))
		}
		return errs
	}
	return field.ErrorList{field.NotSupported(fldPath, *mount.RecursiveReadOnly, recursiveReadOnlyModes)}
}

func validateBindMountOptions(options []string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, option := range options {
		switch corev1.BindMountOption(option) {
		case corev1.BindMountOptionNoDev, corev1.BindMountOptionNoExec, corev1.BindMountOptionNoSUID:
		default:
			errs = append(errs, field.NotSupported(fldPath.Index(i), option, bindMountOptions))
		}
		for _, earlier := range options[:i] {
			if earlier == option {
				errs = append(errs, field.Duplicate(fldPath.Index(i), option))
				break
			}
		}
	}
	return errs
}

// validateVolumeDevices: raw block devices come only from PVC-backed
// volumes, which static pods cannot have, so any device that names a
// declared volume is still refused here with the API server's reason.
func validateVolumeDevices(pc *podContext, c *corev1.Container, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := make(map[string]struct{}, len(c.VolumeDevices))
	paths := make(map[string]struct{}, len(c.VolumeDevices))
	for i, device := range c.VolumeDevices {
		devicePath := fldPath.Index(i)
		if device.Name == "" {
			errs = append(errs, field.Required(devicePath.Child("name"), ""))
		}
		if _, dup := names[device.Name]; dup {
			errs = append(errs, field.Invalid(devicePath.Child("name"), device.Name, "must be unique"))
		}
		if volume, declared := pc.volumes[device.Name]; !declared {
			errs = append(errs, field.NotFound(devicePath.Child("name"), device.Name))
		} else if volume.PersistentVolumeClaim == nil && volume.Ephemeral == nil {
			errs = append(errs, field.Invalid(devicePath.Child("name"), device.Name, "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
		}
		if device.DevicePath == "" {
			errs = append(errs, field.Required(devicePath.Child("devicePath"), ""))
		}
		if _, dup := paths[device.DevicePath]; dup {
			errs = append(errs, field.Invalid(devicePath.Child("devicePath"), device.DevicePath, "must be unique"))
		}
		if device.DevicePath != "" && len(validatePathNoBacksteps(device.DevicePath, devicePath)) > 0 {
			errs = append(errs, field.Invalid(devicePath.Child("devicePath"), device.DevicePath, "can not contain backsteps ('..')"))
		} else {
			paths[device.DevicePath] = struct{}{}
		}
		for _, mount := range c.VolumeMounts {
			if mount.Name == device.Name {
				errs = append(errs, field.Invalid(devicePath.Child("name"), device.Name, "must not already exist in volumeMounts"))
				break
			}
		}
		for _, mount := range c.VolumeMounts {
			if mount.MountPath == device.DevicePath {
				errs = append(errs, field.Invalid(devicePath.Child("devicePath"), device.DevicePath, "must not already exist as a path in volumeMounts"))
				break
			}
		}
		if device.Name != "" {
			names[device.Name] = struct{}{}
		}
	}
	return errs
}

// validateEnvFromPrefix and validateEnvName use the relaxed rule of v1.37
// (RelaxedEnvironmentVariableValidation is on by default): any printable
// ASCII except '='.
func validateEnvName(name string, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range validation.IsRelaxedEnvVarName(name) {
		errs = append(errs, field.Invalid(fldPath, name, msg))
	}
	return errs
}

func validateEnv(vars []corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range vars {
		ev := &vars[i]
		evPath := fldPath.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(evPath.Child("name"), ""))
		} else {
			errs = append(errs, validateEnvName(ev.Name, evPath.Child("name"))...)
		}
		if ev.ValueFrom != nil {
			errs = append(errs, validateEnvVarSource(ev, evPath.Child("valueFrom"))...)
		}
	}
	return errs
}

func validateEnvVarSource(ev *corev1.EnvVar, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	from := ev.ValueFrom
	sources := 0
	if from.FieldRef != nil {
		sources++
		errs = append(errs, validateObjectFieldSelector(from.FieldRef, envFieldPaths, fldPath.Child("fieldRef"))...)
	}
	if from.ResourceFieldRef != nil {
		sources++
		errs = append(errs, validateResourceFieldSelector(from.ResourceFieldRef, false, fldPath.Child("resourceFieldRef"))...)
	}
	if from.ConfigMapKeyRef != nil {
		sources++
		errs = append(errs, validateKeySelector(from.ConfigMapKeyRef.Name, from.ConfigMapKeyRef.Key, fldPath.Child("configMapKeyRef"))...)
	}
	if from.SecretKeyRef != nil {
		sources++
		errs = append(errs, validateKeySelector(from.SecretKeyRef.Name, from.SecretKeyRef.Key, fldPath.Child("secretKeyRef"))...)
	}
	if from.FileKeyRef != nil {
		sources++
		errs = append(errs, validateFileKeySelector(from.FileKeyRef, fldPath.Child("fileKeyRef"))...)
	}
	switch {
	case sources == 0:
		errs = append(errs, field.Invalid(fldPath, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef`, `secretKeyRef` or `fileKeyRef`"))
	case ev.Value != "":
		errs = append(errs, field.Invalid(fldPath, "", "may not be specified when `value` is not empty"))
	case sources > 1:
		errs = append(errs, field.Invalid(fldPath, "", "may not have more than one field specified at a time"))
	}
	return errs
}

// Downward API field paths: what the conversion accepts, and of those what
// env vars and volume files may use.
var (
	downwardFieldPaths = setOf("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace",
		"metadata.uid", "spec.nodeName", "spec.restartPolicy", "spec.serviceAccountName", "spec.schedulerName",
		"status.phase", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")
	envFieldPaths = setOf("metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName",
		"spec.serviceAccountName", "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs")
	volumeFieldPaths = setOf("metadata.name", "metadata.namespace", "metadata.labels", "metadata.annotations", "metadata.uid")

	containerResourceFields = setOf("limits.cpu", "limits.memory", "limits.ephemeral-storage",
		"requests.cpu", "requests.memory", "requests.ephemeral-storage")
	cpuDivisors    = setOf("1m", "1")
	memoryDivisors = setOf("1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei")
)

type stringSet struct {
	members map[string]struct{}
	sorted  []string
}

func setOf(members ...string) stringSet {
	s := stringSet{members: make(map[string]struct{}, len(members))}
	for _, m := range members {
		s.members[m] = struct{}{}
	}
	s.sorted = append([]string(nil), members...)
	slices.Sort(s.sorted)
	return s
}

func (s stringSet) has(v string) bool {
	_, ok := s.members[v]
	return ok
}

func validateObjectFieldSelector(fs *corev1.ObjectFieldSelector, allowed stringSet, fldPath *field.Path) field.ErrorList {
	if fs.APIVersion == "" {
		return field.ErrorList{field.Required(fldPath.Child("apiVersion"), "")}
	}
	if fs.FieldPath == "" {
		return field.ErrorList{field.Required(fldPath.Child("fieldPath"), "")}
	}
	if fs.APIVersion != "v1" {
		return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath, "error converting fieldPath: unsupported pod version: "+fs.APIVersion)}
	}
	if name, subscript, ok := splitSubscriptedPath(fs.FieldPath); ok {
		switch name {
		case "metadata.annotations":
			return validateQualifiedName(strings.ToLower(subscript), fldPath)
		case "metadata.labels":
			return validateQualifiedName(subscript, fldPath)
		}
		return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath, "error converting fieldPath: field label does not support subscript: "+fs.FieldPath)}
	}
	fieldPath := fs.FieldPath
	if fieldPath == "spec.host" { // old clients' name for spec.nodeName
		fieldPath = "spec.nodeName"
	}
	if !downwardFieldPaths.has(fieldPath) {
		return field.ErrorList{field.Invalid(fldPath.Child("fieldPath"), fs.FieldPath, "error converting fieldPath: field label not supported: "+fs.FieldPath)}
	}
	if !allowed.has(fieldPath) {
		return field.ErrorList{field.NotSupported(fldPath.Child("fieldPath"), fieldPath, allowed.sorted)}
	}
	return nil
}

// splitSubscriptedPath splits "metadata.labels['key']" into its path and key.
func splitSubscriptedPath(fieldPath string) (string, string, bool) {
	if !strings.HasSuffix(fieldPath, "']") {
		return fieldPath, "", false
	}
	name, subscript, found := strings.Cut(strings.TrimSuffix(fieldPath, "']"), "['")
	if !found || name == "" {
		return fieldPath, "", false
	}
	return name, subscript, true
}

// validateResourceFieldSelector checks a downward API reference to a
// container's resources; a volume file must name the container.
func validateResourceFieldSelector(fs *corev1.ResourceFieldSelector, inVolume bool, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch {
	case inVolume && fs.ContainerName == "":
		errs = append(errs, field.Required(fldPath.Child("containerName"), ""))
	case fs.Resource == "":
		errs = append(errs, field.Required(fldPath.Child("resource"), ""))
	case !containerResourceFields.has(fs.Resource) && !isHugePagesFieldRef(fs.Resource):
		errs = append(errs, field.NotSupported(fldPath.Child("resource"), fs.Resource, containerResourceFields.sorted))
	}
	if fs.Divisor.IsZero() {
		return errs
	}
	divisor := fs.Divisor.String()
	divisorPath := fldPath.Child("divisor")
	const sizes = "1, 1k, 1M, 1G, 1T, 1P, 1E, 1Ki, 1Mi, 1Gi, 1Ti, 1Pi, 1Ei"
	switch {
	case fs.Resource == "limits.cpu" || fs.Resource == "requests.cpu":
		if !cpuDivisors.has(divisor) {
			errs = append(errs, field.Invalid(divisorPath, fs.Resource, "only divisor's values 1m and 1 are supported with the cpu resource"))
		}
	case fs.Resource == "limits.memory" || fs.Resource == "requests.memory":
		if !memoryDivisors.has(divisor) {
			errs = append(errs, field.Invalid(divisorPath, fs.Resource, "only divisor's values "+sizes+" are supported with the memory resource"))
		}
	case fs.Resource == "limits.ephemeral-storage" || fs.Resource == "requests.ephemeral-storage":
		if !memoryDivisors.has(divisor) {
			errs = append(errs, field.Invalid(divisorPath, fs.Resource, "only divisor's values "+sizes+" are supported with the local ephemeral storage resource"))
		}
	case isHugePagesFieldRef(fs.Resource):
		if !memoryDivisors.has(divisor) {
			errs = append(errs, field.Invalid(divisorPath, fs.Resource, "only divisor's values "+sizes+" are supported with the hugepages resource"))
		}
	}
	return errs
}

func isHugePagesFieldRef(resource string) bool {
	return strings.HasPrefix(resource, "requests.hugepages-") || strings.HasPrefix(resource, "limits.hugepages-")
}

// validateKeySelector checks a configMapKeyRef or secretKeyRef. Static pods
// may not use either (ValidateStaticPodRestrictions says so); the shape is
// still checked so all problems show at once.
func validateKeySelector(name, key string, fldPath *field.Path) field.ErrorList {
	errs := validateObjectName(name, false, fldPath.Child("name"))
	if key == "" {
		return append(errs, field.Required(fldPath.Child("key"), ""))
	}
	for _, msg := range validation.IsConfigMapKey(key) {
		errs = append(errs, field.Invalid(fldPath.Child("key"), key, msg))
	}
	return errs
}

func validateFileKeySelector(s *corev1.FileKeySelector, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Key == "" {
		errs = append(errs, field.Required(fldPath.Child("key"), ""))
	} else {
		errs = append(errs, validateEnvName(s.Key, fldPath.Child("key"))...)
	}
	if s.VolumeName == "" {
		errs = append(errs, field.Required(fldPath.Child("volumeName"), ""))
	} else {
		errs = append(errs, validateDNSLabel(s.VolumeName, fldPath.Child("volumeName"))...)
	}
	if s.Path == "" {
		errs = append(errs, field.Required(fldPath.Child("path"), ""))
	} else {
		errs = append(errs, validatePathNoBacksteps(s.Path, fldPath.Child("path"))...)
	}
	return errs
}

func validateEnvFrom(sources []corev1.EnvFromSource, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i := range sources {
		source := &sources[i]
		sourcePath := fldPath.Index(i)
		if source.Prefix != "" {
			errs = append(errs, validateEnvName(source.Prefix, sourcePath.Child("prefix"))...)
		}
		count := 0
		if source.ConfigMapRef != nil {
			count++
			errs = append(errs, validateEnvFromName(source.ConfigMapRef.Name, sourcePath.Child("configMapRef", "name"))...)
		}
		if source.SecretRef != nil {
			count++
			errs = append(errs, validateEnvFromName(source.SecretRef.Name, sourcePath.Child("secretRef", "name"))...)
		}
		switch {
		case count == 0:
			errs = append(errs, field.Invalid(sourcePath, "", "must specify one of: `configMapRef` or `secretRef`"))
		case count > 1:
			errs = append(errs, field.Invalid(sourcePath, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

func validateEnvFromName(name string, fldPath *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	return validateObjectName(name, true, fldPath)
}
