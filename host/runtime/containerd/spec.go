package containerd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/containerd/containerd/v2/contrib/seccomp"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/oci"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// errCreateContainerConfig is wrapped when a container's configuration
// cannot be made into a spec now (runAsNonRoot against a root image, a
// missing seccomp profile): the waiting reason CreateContainerConfigError,
// retried with back-off as the kubelet does.
var errCreateContainerConfig = errors.New("CreateContainerConfigError")

// ErrUnsupported is wrapped when a pod asks for something this runtime does
// not do (tty, stdin, some volume types).
var ErrUnsupported = errors.New("not supported by the containerd runtime")

// downwardOnly tells a projected volume whose sources are all downwardAPI,
// the only projection a node without an API server can fill.
func downwardOnly(p *corev1.ProjectedVolumeSource) bool {
	if p == nil {
		return false
	}
	for _, s := range p.Sources {
		if s.DownwardAPI == nil || s.Secret != nil || s.ConfigMap != nil || s.ServiceAccountToken != nil || s.ClusterTrustBundle != nil || s.PodCertificate != nil {
			return false
		}
	}
	return true
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
		return statusIPField(pod, path), nil // filled by withNetworkStatus
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
func containerEnv(pod *corev1.Pod, c *corev1.Container, imageEnv []string, hostname, nodeName string, allocatable corev1.ResourceList) ([]string, map[string]string, error) {
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
			var err error
			switch {
			case e.ValueFrom.FieldRef != nil:
				v, err = fieldValue(pod, nodeName, e.ValueFrom.FieldRef.FieldPath)
			case e.ValueFrom.ResourceFieldRef != nil:
				v, err = resourceFieldValue(pod, c.Name, e.ValueFrom.ResourceFieldRef, allocatable)
			default:
				err = ErrUnsupported
			}
			if err != nil {
				return nil, nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
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

// hostAllocatable is what the kubelet's downward API gives for a limit the
// container does not set: the node's allocatable CPU and memory, here the
// host's CPUs and MemTotal (no system or kube reservations are configured).
var hostAllocatable = sync.OnceValue(func() corev1.ResourceList {
	out := corev1.ResourceList{corev1.ResourceCPU: *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI)}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		for line := range strings.Lines(string(data)) {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "MemTotal:" {
				if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					out[corev1.ResourceMemory] = *resource.NewQuantity(kb*1024, resource.BinarySI)
				}
			}
		}
	}
	return out
})

// resourceFieldValue resolves a resourceFieldRef as the kubelet does: the
// named container's (or self's) limit, defaulting to allocatable when unset,
// or its request (defaulting to its limit as the API server does), divided
// by the divisor (default 1) and rounded up.
func resourceFieldValue(pod *corev1.Pod, self string, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	name := ref.ContainerName
	if name == "" {
		name = self
	}
	var c *corev1.Container
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == name {
				c = &list[i]
			}
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef %s: %w: no container %q", ref.Resource, ErrUnsupported, name)
	}
	kind, res, _ := strings.Cut(ref.Resource, ".")
	var q resource.Quantity
	var ok bool
	switch kind {
	case "limits":
		if q, ok = c.Resources.Limits[corev1.ResourceName(res)]; !ok {
			q, ok = allocatable[corev1.ResourceName(res)]
		}
	case "requests":
		if q, ok = c.Resources.Requests[corev1.ResourceName(res)]; !ok {
			q, ok = c.Resources.Limits[corev1.ResourceName(res)]
		}
	default:
		return "", fmt.Errorf("resourceFieldRef %s: %w", ref.Resource, ErrUnsupported)
	}
	if !ok && kind == "limits" {
		return "", fmt.Errorf("resourceFieldRef %s: %w: no limit and no allocatable value", ref.Resource, ErrUnsupported)
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if res == string(corev1.ResourceCPU) {
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	}
	return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
}

// specInput is what a container's OCI spec is made from.
type specInput struct {
	pod       *corev1.Pod
	container *corev1.Container
	image     ocispec.ImageConfig
	nodeName  string
	sandbox   *sandbox
	// seccompRoot is where Localhost seccomp profiles are.
	seccompRoot string
	// seccompDefault makes an unset seccompProfile RuntimeDefault, as the
	// KubeletConfiguration's seccompDefault.
	seccompDefault bool
	// host is what this host's kernel and runc offer.
	host hostSecurity
	// sysctls is which pod sysctls the node allows.
	sysctls SysctlPolicy
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
	env, vars, err := containerEnv(pod, c, in.image.Env, hostname, in.nodeName, hostAllocatable())
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
	rootfsPropagation := ""
	for _, vm := range c.VolumeMounts {
		m, err := volumeMount(in.sandbox, vm, lookup)
		if err != nil {
			return nil, fmt.Errorf("container %s: volumeMount %s: %w", c.Name, vm.Name, err)
		}
		if rro := vm.RecursiveReadOnly; rro != nil && (*rro == corev1.RecursiveReadOnlyEnabled || *rro == corev1.RecursiveReadOnlyIfPossible && in.host.recursiveReadOnly) {
			// runc makes the bind and everything below it read-only with
			// mount_setattr; Capabilities refused Enabled without it.
			m.Options[slices.Index(m.Options, "ro")] = "rro"
		}
		mounts = append(mounts, m)
		// As containerd's CRI plugin: the root's propagation lets a shared
		// or slave mount below it propagate.
		switch {
		case slices.Contains(m.Options, "rshared"):
			rootfsPropagation = "rshared"
		case slices.Contains(m.Options, "rslave") && rootfsPropagation == "":
			rootfsPropagation = "rslave"
		}
	}
	opts = append(opts, oci.WithMounts(mounts))
	if rootfsPropagation != "" {
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			if s.Linux == nil {
				s.Linux = &specs.Linux{}
			}
			s.Linux.RootfsPropagation = rootfsPropagation
			return nil
		})
	}

	effective := effectiveSecurity(pod, c)
	if effective.seccomp == nil && in.seccompDefault {
		effective.seccomp = &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}
	}
	sec, err := securityOpts(effective, in.image.User, in.seccompRoot)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	opts = append(opts, sec...)
	lsm, err := lsmOpts(pod, c, effective.privileged, in.host)
	if err != nil {
		return nil, fmt.Errorf("container %s: %w", c.Name, err)
	}
	opts = append(opts, lsm...)
	sysctls, refused := podSysctls(pod, in.sysctls)
	if len(refused) > 0 {
		return nil, fmt.Errorf("container %s: %w", c.Name, refusalsError(refused))
	}
	opts = append(opts, withSysctls(sysctls))
	opts = append(opts, resourceOpts(c)...)
	opts = append(opts, withCgroupParent(in.sandbox.cgroupParent))
	// One runc shim serves all of a pod's containers, as under containerd's
	// CRI plugin (which groups by sandbox ID): a three-container pod's shims
	// take 14 MiB instead of 40 (BenchmarkShimGrouping).
	if shimPerPod {
		opts = append(opts, oci.WithAnnotations(map[string]string{shimGroupAnnotation: "staticlet-" + string(pod.UID)}))
	}
	return opts, nil
}

// shimGroupAnnotation makes containerd's runc v2 shim run every container
// that carries the same value in one shim process.
const shimGroupAnnotation = "io.containerd.runc.v2.group"

// shimPerPod is always true but in the benchmark that measures what it
// saves (BenchmarkShimGrouping, through export_test.go).
var shimPerPod = true

// volumeMount is the bind mount of one volumeMount: hostPath types checked
// when the container is created (a failure is CreateContainerConfigError
// naming the path, retried with back-off; the kubelet reports it as a failed
// volume setup instead), subPath or subPathExpr (expanded from the container's env)
// below the volume, created when missing, and the mount's propagation.
func volumeMount(sb *sandbox, vm corev1.VolumeMount, lookup func(string) (string, bool)) (specs.Mount, error) {
	src, ok := sb.volumes[vm.Name]
	if !ok {
		return specs.Mount{}, errors.New("no such volume")
	}
	if src.hostPath {
		if err := checkHostPath(src.path, src.hostPathType); err != nil {
			return specs.Mount{}, fmt.Errorf("%w: %w", errCreateContainerConfig, err)
		}
	}
	sub := vm.SubPath
	if vm.SubPathExpr != "" {
		sub = expand(vm.SubPathExpr, lookup)
		if filepath.IsAbs(sub) || slices.Contains(strings.Split(filepath.ToSlash(sub), "/"), "..") {
			return specs.Mount{}, fmt.Errorf("%w: subPathExpr %q expands to %q: must be a relative path without '..'", errCreateContainerConfig, vm.SubPathExpr, sub)
		}
	}
	path := src.path
	if sub != "" {
		path = filepath.Join(path, filepath.Clean("/"+sub))
		if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
			// The kubelet creates a missing subPath with the volume's mode.
			mode := os.FileMode(0o755)
			if st, err := os.Stat(src.path); err == nil {
				mode = st.Mode().Perm()
			}
			if err := os.MkdirAll(path, mode); err != nil {
				return specs.Mount{}, fmt.Errorf("subPath %s: %w", sub, err)
			}
		}
	}
	m := bindMount(path, vm.MountPath, vm.ReadOnly || src.readOnly)
	if vm.MountPropagation != nil {
		prop := map[corev1.MountPropagationMode]string{
			corev1.MountPropagationNone:            "rprivate",
			corev1.MountPropagationHostToContainer: "rslave",
			corev1.MountPropagationBidirectional:   "rshared",
		}[*vm.MountPropagation]
		if prop == "" {
			return specs.Mount{}, fmt.Errorf("mountPropagation %q: %w", *vm.MountPropagation, ErrUnsupported)
		}
		m.Options[1] = prop
	}
	return m, nil
}

func bindMount(src, dst string, readOnly bool) specs.Mount {
	mode := "rw"
	if readOnly {
		mode = "ro"
	}
	return specs.Mount{Destination: dst, Type: "bind", Source: src, Options: []string{"rbind", "rprivate", mode}}
}

// securityContext is a container's effective security context: the pod's
// merged with the container's, the container's values winning, as the
// kubelet determines it.
type securityContext struct {
	runAsUser, runAsGroup *int64
	runAsNonRoot          bool
	supplementalGroups    []int64
	privileged            bool
	noNewPrivileges       bool
	readOnlyRoot          bool
	capabilities          *corev1.Capabilities
	seccomp               *corev1.SeccompProfile
}

func effectiveSecurity(pod *corev1.Pod, c *corev1.Container) securityContext {
	var e securityContext
	if psc := pod.Spec.SecurityContext; psc != nil {
		e.runAsUser, e.runAsGroup, e.seccomp = psc.RunAsUser, psc.RunAsGroup, psc.SeccompProfile
		e.runAsNonRoot = psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
		e.supplementalGroups = append(e.supplementalGroups, psc.SupplementalGroups...)
		if psc.FSGroup != nil {
			// The kubelet adds fsGroup to every container's groups.
			e.supplementalGroups = append(e.supplementalGroups, *psc.FSGroup)
		}
	}
	sc := c.SecurityContext
	if sc == nil {
		return e
	}
	if sc.RunAsUser != nil {
		e.runAsUser = sc.RunAsUser
	}
	if sc.RunAsGroup != nil {
		e.runAsGroup = sc.RunAsGroup
	}
	if sc.RunAsNonRoot != nil {
		e.runAsNonRoot = *sc.RunAsNonRoot
	}
	if sc.SeccompProfile != nil {
		e.seccomp = sc.SeccompProfile
	}
	e.privileged = sc.Privileged != nil && *sc.Privileged
	e.noNewPrivileges = !e.privileged && sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation
	e.readOnlyRoot = sc.ReadOnlyRootFilesystem != nil && *sc.ReadOnlyRootFilesystem
	e.capabilities = sc.Capabilities
	return e
}

// checkNonRoot refuses a runAsNonRoot container that would run as root, with
// the kubelet's messages: its runAsUser is 0, or, without one, the image's
// user is root (or unset) or a name that cannot be checked.
func (e securityContext) checkNonRoot(imageUser string) error {
	if !e.runAsNonRoot {
		return nil
	}
	if e.runAsUser != nil {
		if *e.runAsUser == 0 {
			return fmt.Errorf("%w: container's runAsUser breaks non-root policy", errCreateContainerConfig)
		}
		return nil
	}
	user, _, _ := strings.Cut(imageUser, ":")
	if user == "" {
		return fmt.Errorf("%w: container has runAsNonRoot and image will run as root", errCreateContainerConfig)
	}
	uid, err := strconv.ParseUint(user, 10, 32)
	if err != nil {
		return fmt.Errorf("%w: container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root", errCreateContainerConfig, user)
	}
	if uid == 0 {
		return fmt.Errorf("%w: container has runAsNonRoot and image will run as root", errCreateContainerConfig)
	}
	return nil
}

// securityOpts applies the container's effective security context as
// containerd's CRI plugin does for the kubelet.
func securityOpts(e securityContext, imageUser, seccompRoot string) ([]oci.SpecOpts, error) {
	if err := e.checkNonRoot(imageUser); err != nil {
		return nil, err
	}
	var opts []oci.SpecOpts
	switch {
	case e.runAsUser != nil && e.runAsGroup != nil:
		opts = append(opts, oci.WithUIDGID(uint32(*e.runAsUser), uint32(*e.runAsGroup)))
	case e.runAsUser != nil:
		opts = append(opts, oci.WithUserID(uint32(*e.runAsUser)))
	case e.runAsGroup != nil:
		// The image's user with the group the pod asks for.
		gid := uint32(*e.runAsGroup)
		opts = append(opts, func(_ context.Context, _ oci.Client, _ *containers.Container, s *oci.Spec) error {
			s.Process.User.GID = gid
			return nil
		})
	}
	// The user's groups in the image's /etc/group, as the CRI plugin adds
	// them (supplementalGroupsPolicy Merge).
	user, _, _ := strings.Cut(imageUser, ":")
	if e.runAsUser != nil {
		user = strconv.FormatInt(*e.runAsUser, 10)
	} else if user == "" {
		user = "0"
	}
	opts = append(opts, oci.WithAdditionalGIDs(user))
	if e.privileged {
		opts = append(opts, oci.WithPrivileged, oci.WithAllDevicesAllowed, oci.WithHostDevices, oci.WithMaskedPaths(nil), oci.WithReadonlyPaths(nil))
	} else if caps := e.capabilities; caps != nil {
		// ALL first, so individual names still apply after it (drop ALL,
		// add NET_BIND_SERVICE); then adds, then drops.
		if slices.ContainsFunc(caps.Add, isAll) {
			opts = append(opts, oci.WithAllCurrentCapabilities)
		}
		if slices.ContainsFunc(caps.Drop, isAll) {
			opts = append(opts, oci.WithCapabilities(nil))
		}
		if add := capNames(caps.Add); len(add) > 0 {
			opts = append(opts, oci.WithAddedCapabilities(add))
		}
		if drop := capNames(caps.Drop); len(drop) > 0 {
			opts = append(opts, oci.WithDroppedCapabilities(drop))
		}
	}
	if e.readOnlyRoot {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	// containerd's default spec sets no_new_privs; the kubelet's
	// containers have it only with allowPrivilegeEscalation: false.
	if e.noNewPrivileges {
		opts = append(opts, oci.WithNoNewPrivileges)
	} else {
		opts = append(opts, oci.WithNewPrivileges)
	}
	if !e.privileged && e.seccomp != nil {
		switch e.seccomp.Type {
		case corev1.SeccompProfileTypeRuntimeDefault:
			opts = append(opts, seccomp.WithDefaultProfile())
		case corev1.SeccompProfileTypeLocalhost:
			path, err := localhostProfile(seccompRoot, e.seccomp.LocalhostProfile)
			if err != nil {
				return nil, err
			}
			opts = append(opts, seccomp.WithProfile(path))
		}
	}
	if len(e.supplementalGroups) > 0 {
		// Last: the user's groups are set by then.
		groups := make([]uint32, len(e.supplementalGroups))
		for i, g := range e.supplementalGroups {
			groups[i] = uint32(g)
		}
		opts = append(opts, withAdditionalGIDs(groups))
	}
	return opts, nil
}

// localhostProfile finds a Localhost seccomp profile under root, as the
// kubelet does under <root-dir>/seccomp, and checks it is there.
func localhostProfile(root string, name *string) (string, error) {
	if name == nil || *name == "" {
		return "", fmt.Errorf("%w: seccompProfile: type Localhost needs localhostProfile", errCreateContainerConfig)
	}
	path := filepath.Join(root, filepath.Clean("/"+*name))
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("%w: seccompProfile: localhost profile %s: %w", errCreateContainerConfig, *name, err)
	}
	return path, nil
}

func isAll(c corev1.Capability) bool { return strings.EqualFold(string(c), "ALL") }

func withAdditionalGIDs(groups []uint32) oci.SpecOpts {
	return oci.WithAppendAdditionalGroups(func() []string {
		out := make([]string, len(groups))
		for i, g := range groups {
			out[i] = strconv.FormatUint(uint64(g), 10)
		}
		return out
	}()...)
}

// capNames turns Kubernetes capability names (NET_ADMIN) into OCI ones,
// leaving ALL out.
func capNames(caps []corev1.Capability) []string {
	out := make([]string, 0, len(caps))
	for _, c := range caps {
		name := strings.ToUpper(string(c))
		if name == "ALL" {
			continue
		}
		if !strings.HasPrefix(name, "CAP_") {
			name = "CAP_" + name
		}
		out = append(out, name)
	}
	return out
}

// resourceOpts maps the container's resources to its cgroup as the kubelet
// does (runc turns shares into cpu.weight on cgroup v2): limits.memory →
// memory limit; limits.cpu → CFS quota over a 100 ms period (at least 1 ms);
// requests.cpu → cpu shares, 2 (the kubelet's minimum) without a request. A
// request left out defaults to the limit, as the API server defaults it.
func resourceOpts(c *corev1.Container) []oci.SpecOpts {
	var opts []oci.SpecOpts
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && q.Value() > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(q.Value())))
	}
	const period, minQuota = 100000, 1000
	limit, hasLimit := c.Resources.Limits[corev1.ResourceCPU]
	if hasLimit && limit.MilliValue() > 0 {
		opts = append(opts, oci.WithCPUCFS(max(minQuota, limit.MilliValue()*period/1000), period))
	}
	request, ok := c.Resources.Requests[corev1.ResourceCPU]
	if !ok && hasLimit {
		request = limit
	}
	opts = append(opts, oci.WithCPUShares(uint64(max(2, request.MilliValue()*1024/1000))))
	return opts
}
