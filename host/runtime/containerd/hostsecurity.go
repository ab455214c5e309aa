package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/contrib/apparmor"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// hostSecurity is what this host's kernel and runc offer that a pod's
// security context can ask for. The runtime detects it once; tests set it.
type hostSecurity struct {
	// appArmor: the AppArmor LSM is enabled.
	appArmor bool
	// seLinux: SELinux is enabled (selinuxfs mounted).
	seLinux bool
	// recursiveReadOnly: the kernel has mount_setattr and runc knows the
	// "rro" mount option.
	recursiveReadOnly bool
}

// defaultAppArmorProfile is the profile containerd's CRI plugin loads for
// RuntimeDefault; staticlet uses the same name so both agree on a node.
const defaultAppArmorProfile = "cri-containerd.apparmor.d"

// detectHostSecurity reads the host's LSM state and asks runc for its
// mount options. It never fails: what cannot be read is not offered.
func detectHostSecurity(runc string) hostSecurity {
	var h hostSecurity
	if b, err := os.ReadFile("/sys/module/apparmor/parameters/enabled"); err == nil && bytes.HasPrefix(b, []byte("Y")) {
		h.appArmor = true
	}
	if _, err := os.Stat("/sys/fs/selinux/enforce"); err == nil {
		h.seLinux = true
	}
	h.recursiveReadOnly = kernelHasMountSetattr() && runcKnowsMountOption(runc, "rro")
	return h
}

// kernelHasMountSetattr probes mount_setattr(2) with a bad descriptor:
// EBADF means the call exists (Linux 5.12+), ENOSYS that it does not.
func kernelHasMountSetattr() bool {
	err := unix.MountSetattr(-1, "", unix.AT_EMPTY_PATH, &unix.MountAttr{})
	return !errors.Is(err, unix.ENOSYS)
}

// runcKnowsMountOption runs `runc features` (runc 1.1+) and looks for the
// option, as containerd's CRI plugin checks runtime features.
func runcKnowsMountOption(runc, option string) bool {
	if runc == "" {
		runc = "runc"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, runc, "features").Output()
	if err != nil {
		return false
	}
	return bytes.Contains(out, []byte(`"`+option+`"`))
}

// appArmorProfile is a container's effective AppArmor profile as the kubelet
// determines it: the container's field, else the pod's, else the deprecated
// per-container annotation; nil when none is set.
func appArmorProfile(pod *corev1.Pod, c *corev1.Container) *corev1.AppArmorProfile {
	if c.SecurityContext != nil && c.SecurityContext.AppArmorProfile != nil {
		return c.SecurityContext.AppArmorProfile
	}
	if pod.Spec.SecurityContext != nil && pod.Spec.SecurityContext.AppArmorProfile != nil {
		return pod.Spec.SecurityContext.AppArmorProfile
	}
	value, ok := pod.Annotations[corev1.DeprecatedAppArmorBetaContainerAnnotationKeyPrefix+c.Name]
	if !ok {
		return nil
	}
	switch {
	case value == corev1.DeprecatedAppArmorBetaProfileRuntimeDefault:
		return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeRuntimeDefault}
	case value == corev1.DeprecatedAppArmorBetaProfileNameUnconfined:
		return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeUnconfined}
	case strings.HasPrefix(value, corev1.DeprecatedAppArmorBetaProfileNamePrefix):
		name := strings.TrimPrefix(value, corev1.DeprecatedAppArmorBetaProfileNamePrefix)
		return &corev1.AppArmorProfile{Type: corev1.AppArmorProfileTypeLocalhost, LocalhostProfile: &name}
	}
	return nil
}

// lsmOpts applies the container's AppArmor profile and SELinux label, as
// containerd's CRI plugin does: with AppArmor enabled an unset profile is
// RuntimeDefault (containerd's generated profile) except for privileged
// containers, Localhost names a profile already loaded on the host, and
// Unconfined sets none. SELinux options set the process and mount labels
// when the host has SELinux; without it they are ignored, as the CRI plugin
// ignores them with SELinux disabled.
func lsmOpts(pod *corev1.Pod, c *corev1.Container, privileged bool, host hostSecurity) ([]oci.SpecOpts, error) {
	var opts []oci.SpecOpts
	profile, err := appArmorProfileName(pod, c, privileged, host)
	switch {
	case err != nil:
		return nil, err
	case profile == defaultAppArmorProfile:
		// Loaded with apparmor_parser unless already there, as the CRI
		// plugin does.
		opts = append(opts, apparmor.WithDefaultProfile(defaultAppArmorProfile))
	case profile != "":
		opts = append(opts, apparmor.WithProfile(profile))
	}
	if host.seLinux {
		if label := seLinuxLabel(pod, c); label != "" {
			opts = append(opts, oci.WithSelinuxLabel(label), withMountLabel(label))
		}
	}
	return opts, nil
}

// appArmorProfileName is the AppArmor profile the container runs under:
// "" for none (no AppArmor on the host, Unconfined, or privileged without
// an explicit profile), defaultAppArmorProfile for RuntimeDefault or
// unset, else the Localhost profile's name.
func appArmorProfileName(pod *corev1.Pod, c *corev1.Container, privileged bool, host hostSecurity) (string, error) {
	if !host.appArmor {
		return "", nil
	}
	p := appArmorProfile(pod, c)
	switch {
	case p == nil && privileged, p != nil && p.Type == corev1.AppArmorProfileTypeUnconfined:
		return "", nil
	case p == nil, p.Type == corev1.AppArmorProfileTypeRuntimeDefault:
		return defaultAppArmorProfile, nil
	case p.LocalhostProfile == nil || *p.LocalhostProfile == "":
		return "", fmt.Errorf("%w: appArmorProfile: type Localhost needs localhostProfile", errCreateContainerConfig)
	}
	return *p.LocalhostProfile, nil
}

// seLinuxLabel is the container's effective SELinux label, user:role:type:level
// from the container's seLinuxOptions over the pod's, with the parts left
// out taken from containerd's container defaults.
func seLinuxLabel(pod *corev1.Pod, c *corev1.Container) string {
	var o corev1.SELinuxOptions
	merge := func(s *corev1.SELinuxOptions) {
		if s == nil {
			return
		}
		if s.User != "" {
			o.User = s.User
		}
		if s.Role != "" {
			o.Role = s.Role
		}
		if s.Type != "" {
			o.Type = s.Type
		}
		if s.Level != "" {
			o.Level = s.Level
		}
	}
	if pod.Spec.SecurityContext != nil {
		merge(pod.Spec.SecurityContext.SELinuxOptions)
	}
	if c.SecurityContext != nil {
		merge(c.SecurityContext.SELinuxOptions)
	}
	if o == (corev1.SELinuxOptions{}) {
		return ""
	}
	def := func(v, d string) string {
		if v == "" {
			return d
		}
		return v
	}
	return def(o.User, "system_u") + ":" + def(o.Role, "system_r") + ":" + def(o.Type, "container_t") + ":" + def(o.Level, "s0")
}

// withMountLabel labels the container's rootfs and tmpfs mounts with the
// process's SELinux context, so the process can use them.
func withMountLabel(label string) oci.SpecOpts {
	return func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
		if s.Linux == nil {
			return nil
		}
		parts := strings.SplitN(label, ":", 4)
		parts[2] = "container_file_t"
		s.Linux.MountLabel = strings.Join(parts, ":")
		return nil
	}
}
