package containerd

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

// ErrUnsupported is wrapped when a pod asks for something this runtime does
// not do (tty, stdin, some volume types).
var ErrUnsupported = errors.New("not supported by the containerd runtime")

// checkSupported refuses, up front and with the field named, what the
// runtime cannot run, so nothing is half-created.
func checkSupported(pod *corev1.Pod) error {
	var errs []error
	bad := func(field, what string) {
		errs = append(errs, fmt.Errorf("%s: %w: %s", field, ErrUnsupported, what))
	}
	if len(pod.Spec.Containers) == 0 {
		bad("spec.containers", "a pod needs at least one container")
	}
	if pod.Spec.OS != nil && pod.Spec.OS.Name != corev1.Linux {
		bad("spec.os.name", "only Linux pods run on containerd with runc")
	}
	check := func(field string, c *corev1.Container) {
		if c.TTY {
			bad(field+".tty", "static pods have no attach, so a terminal would never be read")
		}
		if c.Stdin || c.StdinOnce {
			bad(field+".stdin", "static pods have no attach, so standard input would never be written")
		}
		for j, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.FieldRef == nil {
				bad(fmt.Sprintf("%s.env[%d].valueFrom", field, j), "only fieldRef is supported on a node without an API server")
			}
		}
	}
	for i := range pod.Spec.InitContainers {
		check(fmt.Sprintf("spec.initContainers[%d]", i), &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		check(fmt.Sprintf("spec.containers[%d]", i), &pod.Spec.Containers[i])
	}
	for i, v := range pod.Spec.Volumes {
		if v.HostPath == nil && v.EmptyDir == nil {
			bad(fmt.Sprintf("spec.volumes[%d] (%s)", i, v.Name), "only hostPath and emptyDir volumes are supported")
		}
	}
	return errors.Join(errs...)
}

// commandLine merges the container's command and args with the image's
// entrypoint and cmd as Kubernetes does: command replaces the entrypoint
// and drops the image's cmd; args alone replace the cmd.
func commandLine(entrypoint, cmd, command, args []string) []string {
	switch {
	case len(command) > 0:
		return append(append([]string(nil), command...), args...)
	case len(args) > 0:
		return append(append([]string(nil), entrypoint...), args...)
	default:
		return append(append([]string(nil), entrypoint...), cmd...)
	}
}

// expand replaces $(VAR) references with lookup's values as Kubernetes does:
// $$ is a literal $, and an unknown reference is kept as written.
func expand(s string, lookup func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := lookup(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// fieldValue resolves a downward-API fieldRef from the pod alone.
func fieldValue(pod *corev1.Pod, nodeName, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return nodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP", "status.podIPs", "status.hostIP", "status.hostIPs":
		return "", nil // no pod network yet; see docs/operations.md
	}
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if key, ok := strings.CutPrefix(path, prefix); ok && strings.HasSuffix(key, "']") {
			key = strings.TrimSuffix(key, "']")
			if strings.HasPrefix(prefix, "metadata.labels") {
				return pod.Labels[key], nil
			}
			return pod.Annotations[key], nil
		}
	}
	return "", fmt.Errorf("fieldRef %q: %w", path, ErrUnsupported)
}

// containerEnv computes the container's environment: the image's, then
// HOSTNAME, then the container's own in order, each value expanded against
// the variables the container defined before it. It returns the full
// KEY=VALUE list and the map $(VAR) references in command and args use.
func containerEnv(pod *corev1.Pod, c *corev1.Container, imageEnv []string, hostname, nodeName string) ([]string, map[string]string, error) {
	defined := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := defined[k]; !ok {
			order = append(order, k)
		}
		defined[k] = v
	}
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		set(k, v)
	}
	set("HOSTNAME", hostname)
	podVars := map[string]string{}
	lookup := func(name string) (string, bool) { v, ok := podVars[name]; return v, ok }
	for _, e := range c.Env {
		v := expand(e.Value, lookup)
		if e.ValueFrom != nil {
			if e.ValueFrom.FieldRef == nil {
				return nil, nil, fmt.Errorf("env %s: %w", e.Name, ErrUnsupported)
			}
			fv, err := fieldValue(pod, nodeName, e.ValueFrom.FieldRef.FieldPath)
			if err != nil {
				return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			v = fv
		}
		podVars[e.Name] = v
		set(e.Name, v)
	}
	env := make([]string, 0, len(order))
	for _, k := range order {
		env = append(env, k+"="+defined[k])
	}
	return env, podVars, nil
}

// specInput is what a container's OCI spec is made from.
type specInput struct {
	pod       *corev1.Pod
	container *corev1.Container
	image     ocispec.ImageConfig
	nodeName  string
	sandbox   *sandbox
}

// specOpts builds the container's OCI spec options. Nothing here sets an
// oom_score_adj: hosts without CAP_SYS_RESOURCE refuse a negative one, and
// containers inherit the shim's, which is never negative.
func specOpts(in specInput) ([]oci.SpecOpts, error) {
	pod, c := in.pod, in.container
	hostname := podHostname(pod)
	if pod.Spec.HostNetwork {
		hostname = in.sandbox.hostHostname
	}
	env, vars, err := containerEnv(pod, c, in.image.Env, hostname, in.nodeName)
	if err != nil {
		return nil, err
	}
	lookup := func(name string) (string, bool) { v, ok := vars[name]; return v, ok }
	var command, args []string
	for _, s := range c.Command {
		command = append(command, expand(s, lookup))
	}
	for _, s := range c.Args {
		args = append(args, expand(s, lookup))
	}
	argv := commandLine(in.image.Entrypoint, in.image.Cmd, command, args)
	if len(argv) == 0 {
		return nil, fmt.Errorf("container %s: %w: no command: neither the image nor the manifest sets one", c.Name, ErrUnsupported)
	}
	opts := []oci.SpecOpts{
		oci.WithProcessArgs(argv...),
		oci.WithEnv(env),
	}
	cwd := in.image.WorkingDir
	if c.WorkingDir != "" {
		cwd = c.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	opts = append(opts, oci.WithProcessCwd(cwd))
	if in.image.User != "" {
		opts = append(opts, oci.WithUser(in.image.User))
	}

	// Namespaces: the pod's, held by bind mounts in its folder.
	for kind, path := range in.sandbox.namespaces {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: kind, Path: path}))
	}
	if pod.Spec.HostNetwork {
		opts = append(opts, oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostNamespace(specs.UTSNamespace))
	}
	if pod.Spec.HostIPC {
		opts = append(opts, oci.WithHostNamespace(specs.IPCNamespace))
	}
	if pod.Spec.HostPID {
		opts = append(opts, oci.WithHostNamespace(specs.PIDNamespace))
	}

	mounts := []specs.Mount{
		bindMount(in.sandbox.hostsPath, "/etc/hosts", false),
		bindMount(in.sandbox.resolvPath, "/etc/resolv.conf", false),
	}
	if !pod.Spec.HostNetwork {
		mounts = append(mounts, bindMount(in.sandbox.hostnamePath, "/etc/hostname", false))
	}
	for _, vm := range c.VolumeMounts {
		src, ok := in.sandbox.volumes[vm.Name]
		if !ok {
			return nil, fmt.Errorf("container %s: volumeMount %s: no such volume", c.Name, vm.Name)
		}
		if src.tmpfs {
			mounts = append(mounts, specs.Mount{Destination: vm.MountPath, Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}})
			continue
		}
		path := src.path
		if vm.SubPath != "" {
			path = filepath.Join(path, filepath.Clean("/"+vm.SubPath))
		}
		mounts = append(mounts, bindMount(path, vm.MountPath, vm.ReadOnly))
	}
	opts = append(opts, oci.WithMounts(mounts))

	opts = append(opts, securityOpts(pod, c)...)
	opts = append(opts, resourceOpts(c)...)
	return opts, nil
}

func bindMount(src, dst string, readOnly bool) specs.Mount {
	mode := "rw"
	if readOnly {
		mode = "ro"
	}
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate", mode}}
}

func securityOpts(pod *corev1.Pod, c *corev1.Container) []oci.SpecOpts {
	var opts []oci.SpecOpts
	var uid, gid *int64
	if psc := pod.Spec.SecurityContext; psc != nil {
		uid, gid = psc.RunAsUser, psc.RunAsGroup
		if len(psc.SupplementalGroups) > 0 {
			groups := make([]uint32, len(psc.SupplementalGroups))
			for i, g := range psc.SupplementalGroups {
				groups[i] = uint32(g)
			}
			defer func() { opts = append(opts, withAdditionalGIDs(groups)) }()
		}
	}
	sc := c.SecurityContext
	if sc != nil {
		if sc.RunAsUser != nil {
			uid = sc.RunAsUser
		}
		if sc.RunAsGroup != nil {
			gid = sc.RunAsGroup
		}
	}
	switch {
	case uid != nil && gid != nil:
		opts = append(opts, oci.WithUIDGID(uint32(*uid), uint32(*gid)))
	case uid != nil:
		opts = append(opts, oci.WithUserID(uint32(*uid)))
	}
	if sc == nil {
		return opts
	}
	if sc.Privileged != nil && *sc.Privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices, oci.WithMaskedPaths(nil), oci.WithReadonlyPaths(nil))
	}
	if caps := sc.Capabilities; caps != nil {
		if len(caps.Drop) > 0 {
			opts = append(opts, oci.WithDroppedCapabilities(capNames(caps.Drop)))
		}
		if len(caps.Add) > 0 {
			opts = append(opts, oci.WithAddedCapabilities(capNames(caps.Add)))
		}
	}
	if sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		opts = append(opts, oci.WithNoNewPrivileges)
	}
	return opts
}

func withAdditionalGIDs(groups []uint32) oci.SpecOpts {
	return oci.WithAppendAdditionalGroups(func() []string {
		out := make([]string, len(groups))
		for i, g := range groups {
			out[i] = strconv.FormatUint(uint64(g), 10)
		}
		return out
	}()...)
}

// capNames turns Kubernetes capability names (NET_ADMIN, ALL) into OCI ones.
func capNames(caps []corev1.Capability) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		name := strings.ToUpper(string(c))
		if name != "ALL" && !strings.HasPrefix(name, "CAP_") {
			name = "CAP_" + name
		}
		out = append(out, name)
	}
	return out
}

func resourceOpts(c *corev1.Container) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && q.Value() > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(q.Value())))
	}
	const period = 100000
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok && q.MilliValue() > 0 {
		opts = append(opts, oci.WithCPUCFS(q.MilliValue()*period/1000, period))
	}
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok && q.MilliValue() > 0 {
		opts = append(opts, oci.WithCPUShares(uint64(max(2, q.MilliValue()*1024/1000))))
	}
	return opts
}
