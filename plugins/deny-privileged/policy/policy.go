// Package policy is the deny-privileged plugin's logic: it denies privileged
// containers, privilege escalation, added capabilities outside an allow-list,
// host namespaces and hostPath volumes outside an allow-list. It does no IO.
package policy

import (
	"fmt"
	"path"
	"strings"

	"github.com/staticlet/staticlet/sdk"
)

// Settings configure the plugin; the zero value is the strictest policy.
type Settings struct {
	// AllowHostNetwork, AllowHostPID and AllowHostIPC permit host namespaces.
	AllowHostNetwork bool `json:"allowHostNetwork"`
	AllowHostPID     bool `json:"allowHostPID"`
	AllowHostIPC     bool `json:"allowHostIPC"`
	// AllowedHostPaths are path prefixes hostPath volumes may use
	// ("/var/log" allows "/var/log" and "/var/log/app", not "/var/logs").
	AllowedHostPaths []string `json:"allowedHostPaths"`
	// AllowedCapabilities may be added (e.g. NET_BIND_SERVICE).
	AllowedCapabilities []string `json:"allowedCapabilities"`
	// ExemptNamespaces are not checked at all (e.g. kube-system for the
	// control plane, which needs hostNetwork).
	ExemptNamespaces []string `json:"exemptNamespaces"`
}

// Plugin is the deny-privileged plugin.
var Plugin = sdk.Plugin[Settings]{
	Name:          "deny-privileged",
	Version:       "0.1.0",
	Description:   "Denies privileged containers, host namespaces and hostPath volumes outside an allow-list.",
	CheckSettings: checkSettings,
	Validate:      validate,
	SettingsSchema: []byte(`{"type":"object","additionalProperties":false,"properties":{` +
		`"allowHostNetwork":{"type":"boolean"},"allowHostPID":{"type":"boolean"},"allowHostIPC":{"type":"boolean"},` +
		`"allowedHostPaths":{"type":"array","items":{"type":"string"}},` +
		`"allowedCapabilities":{"type":"array","items":{"type":"string"}},` +
		`"exemptNamespaces":{"type":"array","items":{"type":"string"}}}}`),
}

func checkSettings(s Settings) error {
	for i, p := range s.AllowedHostPaths {
		if !path.IsAbs(p) {
			return fmt.Errorf("allowedHostPaths[%d]: %q is not an absolute path", i, p)
		}
	}
	return nil
}

func validate(req *sdk.Request, s Settings) (sdk.Validation, error) {
	var v sdk.Validation
	pod, err := req.Pod()
	if err != nil {
		return v, err
	}
	for _, ns := range s.ExemptNamespaces {
		if pod.Metadata.Namespace == ns || (pod.Metadata.Namespace == "" && ns == "default") {
			return v, nil
		}
	}
	if pod.Spec.HostNetwork && !s.AllowHostNetwork {
		v.Deny("HostNetwork", "spec.hostNetwork", "the host's network namespace is not allowed")
	}
	if pod.Spec.HostPID && !s.AllowHostPID {
		v.Deny("HostPID", "spec.hostPID", "the host's PID namespace is not allowed")
	}
	if pod.Spec.HostIPC && !s.AllowHostIPC {
		v.Deny("HostIPC", "spec.hostIPC", "the host's IPC namespace is not allowed")
	}
	for _, ref := range pod.Spec.AllContainers() {
		sc := ref.Container.SecurityContext
		if sc == nil {
			continue
		}
		if sc.Privileged != nil && *sc.Privileged {
			v.Deny("Privileged", ref.Field+".securityContext.privileged", "container %q must not be privileged", ref.Container.Name)
		}
		if sc.AllowPrivilegeEscalation != nil && *sc.AllowPrivilegeEscalation {
			v.Warn("container %q allows privilege escalation", ref.Container.Name)
		}
		if sc.Capabilities != nil {
			for i, c := range sc.Capabilities.Add {
				if !capabilityAllowed(c, s.AllowedCapabilities) {
					v.Deny("Capability", fmt.Sprintf("%s.securityContext.capabilities.add[%d]", ref.Field, i),
						"container %q must not add capability %s", ref.Container.Name, c)
				}
			}
		}
	}
	for i, vol := range pod.Spec.Volumes {
		if vol.HostPath == nil {
			continue
		}
		if !hostPathAllowed(vol.HostPath.Path, s.AllowedHostPaths) {
			v.Deny("HostPath", fmt.Sprintf("spec.volumes[%d].hostPath.path", i),
				"hostPath %q of volume %q is outside the allowed paths %v", vol.HostPath.Path, vol.Name, s.AllowedHostPaths)
		}
	}
	return v, nil
}

func capabilityAllowed(c string, allowed []string) bool {
	c = strings.TrimPrefix(strings.ToUpper(c), "CAP_")
	for _, a := range allowed {
		if strings.TrimPrefix(strings.ToUpper(a), "CAP_") == c {
			return true
		}
	}
	return false
}

func hostPathAllowed(p string, allowed []string) bool {
	p = path.Clean(p)
	for _, a := range allowed {
		a = path.Clean(a)
		if p == a || a == "/" || strings.HasPrefix(p, a+"/") {
			return true
		}
	}
	return false
}
