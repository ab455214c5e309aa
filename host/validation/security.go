package validation

import (
	"fmt"
	"regexp"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	procMountTypes            = []corev1.ProcMountType{corev1.DefaultProcMount, corev1.UnmaskedProcMount}
	seccompProfileTypes       = []corev1.SeccompProfileType{corev1.SeccompProfileTypeLocalhost, corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined}
	appArmorProfileTypes      = []corev1.AppArmorProfileType{corev1.AppArmorProfileTypeLocalhost, corev1.AppArmorProfileTypeRuntimeDefault, corev1.AppArmorProfileTypeUnconfined}
	fsGroupChangePolicies     = []corev1.PodFSGroupChangePolicy{corev1.FSGroupChangeAlways, corev1.FSGroupChangeOnRootMismatch}
	supplementalGroupPolicies = []corev1.SupplementalGroupsPolicy{corev1.SupplementalGroupsPolicyMerge, corev1.SupplementalGroupsPolicyStrict}
	seLinuxChangePolicies     = []corev1.PodSELinuxChangePolicy{corev1.SELinuxChangePolicyMountOption, corev1.SELinuxChangePolicyRecursive}
)

// sysctlName is the kernel's naming: dot- or slash-separated segments.
var sysctlName = regexp.MustCompile(`^([a-z0-9]([-_a-z0-9]*[a-z0-9])?[\./])*[a-z0-9]([-_a-z0-9]*[a-z0-9])?$`)

const sysctlMaxLength = 253

// Windows user names: see the API server's validateWindowsSecurityContextOptions.
var (
	controlChars          = regexp.MustCompile(`[[:cntrl:]]+`)
	netBIOSDomain         = regexp.MustCompile(`^[^\\/:\*\?"<>|\.][^\\/:\*\?"<>|]{0,14}$`)
	dnsDomain             = regexp.MustCompile(`^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$`)
	invalidUserNameChars  = regexp.MustCompile(`["/\\:;|=,\+\*\?<>@\[\]]`)
	onlyDotsAndSpaces     = regexp.MustCompile(`^[\. ]+$`)
	maxGMSACredentialSpec = 64 * 1024
)

// validateSecurityContext checks a container's securityContext. Privileged
// containers are allowed: the kubelet allows them for static pods.
func validateSecurityContext(sc *corev1.SecurityContext, hostUsers bool, fldPath *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	errs := validateUserID(sc.RunAsUser, fldPath.Child("runAsUser"))
	errs = append(errs, validateGroupID(sc.RunAsGroup, fldPath.Child("runAsGroup"))...)
	if sc.ProcMount != nil {
		procPath := fldPath.Child("procMount")
		switch *sc.ProcMount {
		case corev1.DefaultProcMount, corev1.UnmaskedProcMount:
		default:
			errs = append(errs, field.NotSupported(procPath, *sc.ProcMount, procMountTypes))
		}
		if hostUsers && *sc.ProcMount == corev1.UnmaskedProcMount {
			errs = append(errs, field.Invalid(procPath, *sc.ProcMount, "`hostUsers` must be false to use `Unmasked`"))
		}
	}
	errs = append(errs, validateSeccompProfile(sc.SeccompProfile, fldPath.Child("seccompProfile"))...)
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Invalid(fldPath, "privileged", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		// The API server matches the literal "CAP_SYS_ADMIN" only; so do we,
		// to accept exactly the pods it accepts.
		if sc.Capabilities != nil {
			for _, capability := range sc.Capabilities.Add {
				if capability == "CAP_SYS_ADMIN" {
					errs = append(errs, field.Invalid(fldPath, "CAP_SYS_ADMIN", "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
				}
			}
		}
	}
	errs = append(errs, validateWindowsOptions(sc.WindowsOptions, fldPath.Child("windowsOptions"))...)
	errs = append(errs, validateAppArmorProfile(sc.AppArmorProfile, fldPath.Child("appArmorProfile"))...)
	return errs
}

func validatePodSecurityContext(spec *corev1.PodSpec, specPath *field.Path) field.ErrorList {
	sc := spec.SecurityContext
	if sc == nil {
		return nil
	}
	fldPath := specPath.Child("securityContext")
	errs := validateGroupID(sc.FSGroup, fldPath.Child("fsGroup"))
	errs = append(errs, validateUserID(sc.RunAsUser, fldPath.Child("runAsUser"))...)
	errs = append(errs, validateGroupID(sc.RunAsGroup, fldPath.Child("runAsGroup"))...)
	for i := range sc.SupplementalGroups {
		errs = append(errs, validateGroupID(&sc.SupplementalGroups[i], fldPath.Child("supplementalGroups").Index(i))...)
	}
	errs = append(errs, validateSysctls(spec, fldPath.Child("sysctls"))...)
	if p := sc.FSGroupChangePolicy; p != nil && *p != corev1.FSGroupChangeAlways && *p != corev1.FSGroupChangeOnRootMismatch {
		errs = append(errs, field.NotSupported(fldPath.Child("fsGroupChangePolicy"), *p, fsGroupChangePolicies))
	}
	errs = append(errs, validateSeccompProfile(sc.SeccompProfile, fldPath.Child("seccompProfile"))...)
	errs = append(errs, validateWindowsOptions(sc.WindowsOptions, fldPath.Child("windowsOptions"))...)
	errs = append(errs, validateAppArmorProfile(sc.AppArmorProfile, fldPath.Child("appArmorProfile"))...)
	if p := sc.SupplementalGroupsPolicy; p != nil && *p != corev1.SupplementalGroupsPolicyMerge && *p != corev1.SupplementalGroupsPolicyStrict {
		errs = append(errs, field.NotSupported(fldPath.Child("supplementalGroupsPolicy"), *p, supplementalGroupPolicies))
	}
	// SELinuxMount is GA in v1.37, so both policies are allowed.
	if p := sc.SELinuxChangePolicy; p != nil && *p != corev1.SELinuxChangePolicyRecursive && *p != corev1.SELinuxChangePolicyMountOption {
		errs = append(errs, field.NotSupported(fldPath.Child("seLinuxChangePolicy"), *p, seLinuxChangePolicies))
	}
	return errs
}

// validateSysctls: well-formed, unique names, and none that would change a
// namespace the pod shares with the host.
func validateSysctls(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := make(map[string]struct{}, len(spec.SecurityContext.Sysctls))
	for i, s := range spec.SecurityContext.Sysctls {
		namePath := fldPath.Index(i).Child("name")
		switch _, dup := seen[s.Name]; {
		case s.Name == "":
			errs = append(errs, field.Required(namePath, ""))
		case len(s.Name) > sysctlMaxLength || !sysctlName.MatchString(s.Name):
			errs = append(errs, field.Invalid(namePath, s.Name, fmt.Sprintf("must have at most %d characters and match regex %s", sysctlMaxLength, sysctlName)))
		case dup:
			errs = append(errs, field.Duplicate(namePath, s.Name))
		}
		switch sysctlNamespace(s.Name) {
		case "net":
			if spec.HostNetwork {
				errs = append(errs, field.Invalid(namePath, s.Name, "may not be specified when 'hostNetwork' is true"))
			}
		case "ipc":
			if spec.HostIPC {
				errs = append(errs, field.Invalid(namePath, s.Name, "may not be specified when 'hostIPC' is true"))
			}
		}
		seen[s.Name] = struct{}{}
	}
	return errs
}

// sysctlNamespace returns which kernel namespace a sysctl belongs to ("net",
// "ipc", or "" for others that matter less here), accepting both the dotted
// and the slashed spelling.
func sysctlNamespace(name string) string {
	if i := strings.IndexAny(name, "./"); i >= 0 && name[i] == '/' {
		name = strings.Map(func(r rune) rune {
			switch r {
			case '.':
				return '/'
			case '/':
				return '.'
			}
			return r
		}, name)
	}
	if i := strings.IndexByte(name, '*'); i >= 0 {
		name = name[:i]
	}
	switch name {
	case "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
		"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni",
		"kernel.shm", "kernel.msg": // the last two as "kernel.shm*" and "kernel.msg*" patterns
		return "ipc"
	}
	switch {
	case strings.HasPrefix(name, "net."):
		return "net"
	case strings.HasPrefix(name, "fs.mqueue."):
		return "ipc"
	}
	return ""
}

func validateSeccompProfile(p *corev1.SeccompProfile, fldPath *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	var errs field.ErrorList
	switch p.Type {
	case corev1.SeccompProfileTypeLocalhost, corev1.SeccompProfileTypeRuntimeDefault, corev1.SeccompProfileTypeUnconfined:
	case "":
		errs = append(errs, field.Required(fldPath.Child("type"), "type is required when seccompProfile is set"))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("type"), p.Type, seccompProfileTypes))
	}
	profilePath := fldPath.Child("localhostProfile")
	switch {
	case p.Type == corev1.SeccompProfileTypeLocalhost && p.LocalhostProfile == nil:
		errs = append(errs, field.Required(profilePath, "must be set when seccomp type is Localhost"))
	case p.Type == corev1.SeccompProfileTypeLocalhost:
		errs = append(errs, validateLocalDescendingPath(*p.LocalhostProfile, profilePath)...)
	case p.LocalhostProfile != nil:
		errs = append(errs, field.Invalid(profilePath, *p.LocalhostProfile, "can only be set when seccomp type is Localhost"))
	}
	return errs
}

func validateAppArmorProfile(p *corev1.AppArmorProfile, fldPath *field.Path) field.ErrorList {
	if p == nil {
		return nil
	}
	profilePath := fldPath.Child("localhostProfile")
	switch p.Type {
	case corev1.AppArmorProfileTypeLocalhost:
		if p.LocalhostProfile == nil {
			return field.ErrorList{field.Required(profilePath, "must be set when AppArmor type is Localhost")}
		}
		var errs field.ErrorList
		profile := *p.LocalhostProfile
		if trimmed := strings.TrimSpace(profile); trimmed != profile {
			errs = append(errs, field.Invalid(profilePath, profile, "must not be padded with whitespace"))
		} else if trimmed == "" {
			errs = append(errs, field.Required(profilePath, "must be set when AppArmor type is Localhost"))
		}
		const maxLocalhostProfile = 4095 // PATH_MAX - 1
		if len(profile) > maxLocalhostProfile {
			errs = append(errs, field.TooLong(profilePath, "", maxLocalhostProfile))
		}
		return errs
	case corev1.AppArmorProfileTypeRuntimeDefault, corev1.AppArmorProfileTypeUnconfined:
		if p.LocalhostProfile != nil {
			return field.ErrorList{field.Invalid(profilePath, *p.LocalhostProfile, "can only be set when AppArmor type is Localhost")}
		}
		return nil
	case "":
		return field.ErrorList{field.Required(fldPath.Child("type"), "type is required when appArmorProfile is set")}
	}
	return field.ErrorList{field.NotSupported(fldPath.Child("type"), p.Type, appArmorProfileTypes)}
}

func validateWindowsOptions(opts *corev1.WindowsSecurityContextOptions, fldPath *field.Path) field.ErrorList {
	if opts == nil {
		return nil
	}
	var errs field.ErrorList
	if opts.GMSACredentialSpecName != nil {
		errs = append(errs, validateDNSSubdomain(*opts.GMSACredentialSpecName, fldPath.Child("gmsaCredentialSpecName"))...)
	}
	if spec := opts.GMSACredentialSpec; spec != nil {
		specPath := fldPath.Child("gmsaCredentialSpec")
		if len(*spec) == 0 {
			errs = append(errs, field.Invalid(specPath, *spec, "gmsaCredentialSpec cannot be an empty string"))
		} else if len(*spec) > maxGMSACredentialSpec {
			errs = append(errs, field.Invalid(specPath, "", "gmsaCredentialSpec size must be under 64 KiB"))
		}
	}
	if opts.RunAsUserName != nil {
		namePath := fldPath.Child("runAsUserName")
		for _, msg := range windowsUserNameProblems(*opts.RunAsUserName) {
			errs = append(errs, field.Invalid(namePath, *opts.RunAsUserName, msg))
		}
	}
	return errs
}

// windowsUserNameProblems checks "[DOMAIN\]USER" against Active Directory's
// naming rules.
func windowsUserNameProblems(name string) []string {
	const maxDomain, maxUser = 256, 104
	if name == "" {
		return []string{"runAsUserName cannot be an empty string"}
	}
	if controlChars.MatchString(name) {
		return []string{"runAsUserName cannot contain control characters"}
	}
	parts := strings.Split(name, `\`)
	if len(parts) > 2 {
		return []string{"runAsUserName cannot contain more than one backslash"}
	}
	domain, user, hasDomain := "", parts[0], false
	if len(parts) == 2 {
		domain, user, hasDomain = parts[0], parts[1], true
	}
	var problems []string
	if len(domain) >= maxDomain {
		problems = append(problems, fmt.Sprintf("runAsUserName's Domain length must be under %d characters", maxDomain))
	}
	if hasDomain && !netBIOSDomain.MatchString(domain) && !dnsDomain.MatchString(domain) {
		problems = append(problems, "runAsUserName's Domain doesn't match the NetBios nor the DNS format")
	}
	if user == "" {
		problems = append(problems, "runAsUserName's User cannot be empty")
	} else if len(user) > maxUser {
		problems = append(problems, fmt.Sprintf("runAsUserName's User length must not be longer than %d characters", maxUser))
	}
	if onlyDotsAndSpaces.MatchString(user) {
		problems = append(problems, "runAsUserName's User cannot contain only periods or spaces")
	}
	if invalidUserNameChars.MatchString(user) {
		problems = append(problems, `runAsUserName's User cannot contain the following characters: "/\:;|=,+*?<>@[]`)
	}
	return problems
}

// validateWindowsHostProcess: HostProcess containers are all-or-nothing per
// pod and need the host's network.
func validateWindowsHostProcess(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var podHostProcess *bool
	if spec.SecurityContext != nil && spec.SecurityContext.WindowsOptions != nil {
		podHostProcess = spec.SecurityContext.WindowsOptions.HostProcess
	}
	var errs field.ErrorList
	containers, hostProcessContainers := 0, 0
	visitContainers(spec, fldPath, func(c *corev1.Container, cPath *field.Path) {
		containers++
		var hostProcess *bool
		if c.SecurityContext != nil && c.SecurityContext.WindowsOptions != nil {
			hostProcess = c.SecurityContext.WindowsOptions.HostProcess
		}
		if podHostProcess != nil && hostProcess != nil && *podHostProcess != *hostProcess {
			errs = append(errs, field.Invalid(cPath.Child("securityContext", "windowsOptions", "hostProcess"), *hostProcess,
				fmt.Sprintf("pod hostProcess value must be identical if both are specified, was %v", *podHostProcess)))
		}
		if (hostProcess != nil && *hostProcess) || (hostProcess == nil && podHostProcess != nil && *podHostProcess) {
			hostProcessContainers++
		}
	})
	if hostProcessContainers == 0 {
		return errs
	}
	if hostProcessContainers != containers {
		errs = append(errs, field.Invalid(fldPath, "", "If pod contains any hostProcess containers then all containers must be HostProcess containers"))
	}
	if !spec.HostNetwork {
		errs = append(errs, field.Invalid(fldPath.Child("hostNetwork"), spec.HostNetwork, "hostNetwork must be true if pod contains any hostProcess containers"))
	}
	return errs
}

func validateLinuxOnly(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	const detail = "windows options cannot be set for a linux pod"
	var errs field.ErrorList
	if spec.SecurityContext != nil && spec.SecurityContext.WindowsOptions != nil {
		errs = append(errs, field.Forbidden(fldPath.Child("securityContext", "windowsOptions"), detail))
	}
	visitContainers(spec, fldPath, func(c *corev1.Container, cPath *field.Path) {
		if c.SecurityContext != nil && c.SecurityContext.WindowsOptions != nil {
			errs = append(errs, field.Forbidden(cPath.Child("securityContext", "windowsOptions"), detail))
		}
	})
	return errs
}

// validateWindowsOnly refuses the Linux-only settings in a windows pod.
func validateWindowsOnly(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	const detail = "cannot be set for a windows pod"
	var errs field.ErrorList
	forbid := func(isSet bool, p *field.Path) {
		if isSet {
			errs = append(errs, field.Forbidden(p, detail))
		}
	}
	if sc := spec.SecurityContext; sc != nil {
		scPath := fldPath.Child("securityContext")
		forbid(sc.AppArmorProfile != nil, scPath.Child("appArmorProfile"))
		forbid(sc.SELinuxOptions != nil, scPath.Child("seLinuxOptions"))
		forbid(sc.SeccompProfile != nil, scPath.Child("seccompProfile"))
		forbid(sc.FSGroup != nil, scPath.Child("fsGroup"))
		forbid(sc.FSGroupChangePolicy != nil, scPath.Child("fsGroupChangePolicy"))
		forbid(len(sc.Sysctls) > 0, scPath.Child("sysctls"))
		forbid(sc.RunAsUser != nil, scPath.Child("runAsUser"))
		forbid(sc.RunAsGroup != nil, scPath.Child("runAsGroup"))
		forbid(sc.SupplementalGroups != nil, scPath.Child("supplementalGroups"))
		forbid(sc.SupplementalGroupsPolicy != nil, scPath.Child("supplementalGroupsPolicy"))
		forbid(sc.SELinuxChangePolicy != nil, scPath.Child("seLinuxChangePolicy"))
	}
	forbid(spec.HostUsers != nil, fldPath.Child("hostUsers"))
	forbid(spec.HostPID, fldPath.Child("hostPID"))
	forbid(spec.HostIPC, fldPath.Child("hostIPC"))
	forbid(spec.ShareProcessNamespace != nil, fldPath.Child("shareProcessNamespace"))
	visitContainers(spec, fldPath, func(c *corev1.Container, cPath *field.Path) {
		sc := c.SecurityContext
		if sc == nil {
			return
		}
		scPath := cPath.Child("securityContext")
		forbid(sc.AppArmorProfile != nil, scPath.Child("appArmorProfile"))
		forbid(sc.SELinuxOptions != nil, scPath.Child("seLinuxOptions"))
		forbid(sc.SeccompProfile != nil, scPath.Child("seccompProfile"))
		forbid(sc.Capabilities != nil, scPath.Child("capabilities"))
		forbid(sc.ReadOnlyRootFilesystem != nil, scPath.Child("readOnlyRootFilesystem"))
		forbid(sc.Privileged != nil, scPath.Child("privileged"))
		forbid(sc.AllowPrivilegeEscalation != nil, scPath.Child("allowPrivilegeEscalation"))
		forbid(sc.ProcMount != nil, scPath.Child("procMount"))
		forbid(sc.RunAsUser != nil, scPath.Child("runAsUser"))
		forbid(sc.RunAsGroup != nil, scPath.Child("runAsGroup"))
	})
	return errs
}
