package containerd

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// sandbox is what a pod's containers share: its folder, its files and
// namespaces, its volumes.
type sandbox struct {
	dir                                 string
	hostsPath, resolvPath, hostnamePath string
	namespaces                          map[specs.LinuxNamespaceType]string
	volumes                             map[string]volumeSource
	hostHostname                        string
	// cgroupParent is the cgroup the pod's containers go under: the pod's
	// own (cgroups.go).
	cgroupParent string
	// podIPs are the pod's addresses (network.go), IPv4 first.
	podIPs []string
	// noNetworkConfig is the CNI conf dir that had no config when the
	// pod was set up: it runs with loopback only.
	noNetworkConfig string
	// netnsFresh is set when this setup made the pod's network namespace
	// (none was mounted): a recorded attachment belongs to an old one.
	netnsFresh bool
}

// volumeSource is where a pod volume is on the host. hostPathType is
// checked when a container mounts it; readOnly volumes (downwardAPI) are
// always mounted read-only.
type volumeSource struct {
	path         string
	hostPath     bool
	hostPathType corev1.HostPathType
	readOnly     bool
}

const recordName = "pod.json"

func (r *Runtime) podDir(uid string) string { return filepath.Join(r.opts.StateDir, "pods", uid) }

// writeRecord saves the pod the runtime runs, so a restarted agent can
// resume its restart handling. It is written first and removed last.
func writeRecord(dir string, pod *corev1.Pod) error {
	data, err := json.Marshal(pod)
	if err != nil {
		return fmt.Errorf("write pod record: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, recordName), data, 0o600)
}

func readRecord(dir string) (*corev1.Pod, error) {
	data, err := os.ReadFile(filepath.Join(dir, recordName))
	if err != nil {
		return nil, fmt.Errorf("read pod record: %w", err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(data, &pod); err != nil {
		return nil, fmt.Errorf("read pod record %s: %w", dir, err)
	}
	return &pod, nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// setupSandbox creates (or, for an adopted pod, completes) the pod's folder,
// files, namespaces and volumes. It is idempotent.
func (r *Runtime) setupSandbox(pod *corev1.Pod) (*sandbox, error) {
	dir := r.podDir(string(pod.UID))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pod folder: %w", err)
	}
	if err := writeRecord(dir, pod); err != nil {
		return nil, err
	}
	sb := &sandbox{
		dir:          dir,
		hostsPath:    filepath.Join(dir, "hosts"),
		resolvPath:   filepath.Join(dir, "resolv.conf"),
		hostnamePath: filepath.Join(dir, "hostname"),
		volumes:      map[string]volumeSource{},
	}
	sb.hostHostname, _ = os.Hostname()
	cgroupParent, err := r.ensurePodCgroup(pod)
	if err != nil {
		return nil, err
	}
	sb.cgroupParent = cgroupParent
	hostHosts, _ := os.ReadFile(r.opts.HostsFile)
	hostResolv, _ := os.ReadFile(r.opts.ResolvConf)
	files := map[string][]byte{
		sb.hostsPath:    hostsFile(pod, hostHosts, nil),
		sb.resolvPath:   resolvConfFile(pod, hostResolv, r.opts.DNS),
		sb.hostnamePath: []byte(podHostname(pod) + "\n"),
	}
	for path, data := range files {
		if err := writeFileAtomic(path, data, 0o644); err != nil {
			return nil, fmt.Errorf("pod files: %w", err)
		}
	}
	var kinds []specs.LinuxNamespaceType
	if !pod.Spec.HostNetwork {
		kinds = append(kinds, specs.NetworkNamespace, specs.UTSNamespace)
	}
	if !pod.Spec.HostIPC {
		kinds = append(kinds, specs.IPCNamespace)
	}
	// A network namespace made now, where the pod folder may record an
	// attachment, is a new one (after a reboot, or a failed setup): the
	// record is stale whatever the inode says, since namespace inode
	// numbers are reused.
	sb.netnsFresh = !pod.Spec.HostNetwork && !isNamespaceMount(filepath.Join(dir, "ns", nsKinds[specs.NetworkNamespace].proc))
	ns, err := createNamespaces(filepath.Join(dir, "ns"), kinds, podHostname(pod))
	if err != nil {
		return nil, err
	}
	sb.namespaces = ns
	for _, v := range pod.Spec.Volumes {
		src, err := prepareVolume(dir, pod, r.opts.NodeName, v)
		if err == nil {
			err = applyFSGroup(pod, v, src)
		}
		if err != nil {
			releaseNamespaces(sb.namespaces)
			return nil, err
		}
		sb.volumes[v.Name] = src
	}
	if err := r.setupNetwork(pod, sb); err != nil {
		releaseNamespaces(sb.namespaces)
		return nil, err
	}
	return sb, nil
}

func prepareVolume(podDir string, pod *corev1.Pod, nodeName string, v corev1.Volume) (volumeSource, error) {
	p := filepath.Join(podDir, "volumes", v.Name)
	switch {
	case v.EmptyDir != nil:
		if err := os.MkdirAll(p, 0o777); err != nil {
			return volumeSource{}, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		if v.EmptyDir.Medium == corev1.StorageMediumMemory {
			// One tmpfs in the pod folder, shared by the pod's containers
			// as the kubelet's.
			if err := mountTmpfs(p, memoryVolumeSize(pod, v.EmptyDir.SizeLimit, hostAllocatable())); err != nil {
				return volumeSource{}, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
		// MkdirAll's mode is masked by the umask; emptyDirs are world-writable.
		if err := os.Chmod(p, 0o777); err != nil {
			return volumeSource{}, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		return volumeSource{path: p}, nil
	case v.DownwardAPI != nil:
		if err := writeDownwardAPI(p, pod, nodeName, v.DownwardAPI); err != nil {
			return volumeSource{}, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		return volumeSource{path: p, readOnly: true}, nil
	case downwardOnly(v.Projected):
		for _, s := range v.Projected.Sources {
			src := &corev1.DownwardAPIVolumeSource{Items: s.DownwardAPI.Items, DefaultMode: v.Projected.DefaultMode}
			if err := writeDownwardAPI(p, pod, nodeName, src); err != nil {
				return volumeSource{}, fmt.Errorf("volume %s: %w", v.Name, err)
			}
		}
		return volumeSource{path: p, readOnly: true}, nil
	case v.HostPath != nil:
		typ := corev1.HostPathUnset
		if v.HostPath.Type != nil {
			typ = *v.HostPath.Type
		}
		return volumeSource{path: v.HostPath.Path, hostPath: true, hostPathType: typ}, nil
	}
	return volumeSource{}, fmt.Errorf("volume %s: %w", v.Name, ErrUnsupported)
}

// memoryVolumeSize is a Memory emptyDir's tmpfs size as the kubelet
// computes it: the node's allocatable memory, else the pod's memory limit
// when every container has one and it is smaller, else the volume's
// sizeLimit when set and smaller still.
func memoryVolumeSize(pod *corev1.Pod, sizeLimit *resource.Quantity, allocatable corev1.ResourceList) *resource.Quantity {
	var size *resource.Quantity
	if q, ok := allocatable[corev1.ResourceMemory]; ok {
		size = &q
	}
	smaller := func(q *resource.Quantity) bool { return q.Sign() > 0 && (size == nil || q.Cmp(*size) <= 0) }
	var apps, inits int64
	limited := true
	for _, c := range pod.Spec.Containers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		limited = limited && ok
		apps += q.Value()
	}
	for _, c := range pod.Spec.InitContainers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		limited = limited && ok
		inits = max(inits, q.Value())
	}
	if podLimit := resource.NewQuantity(max(apps, inits), resource.BinarySI); limited && smaller(podLimit) {
		size = podLimit
	}
	if sizeLimit != nil && smaller(sizeLimit) {
		size = sizeLimit
	}
	return size
}

// mountTmpfs mounts a tmpfs at dir unless one is there already (an adopted
// pod's), limited to sizeLimit when set.
func mountTmpfs(dir string, sizeLimit *resource.Quantity) error {
	var st, parent unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("tmpfs %s: %w", dir, err)
	}
	if err := unix.Stat(filepath.Dir(dir), &parent); err != nil {
		return fmt.Errorf("tmpfs %s: %w", dir, err)
	}
	if st.Dev != parent.Dev {
		return nil
	}
	data := "mode=1777"
	if sizeLimit != nil && sizeLimit.Value() > 0 {
		data += ",size=" + strconv.FormatInt(sizeLimit.Value(), 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, data); err != nil {
		return fmt.Errorf("tmpfs %s: %w", dir, err)
	}
	return nil
}

// writeDownwardAPI writes a downwardAPI volume's files into dir, as the
// kubelet: labels and annotations as sorted key="value" lines, every other
// field as its value, each file with its item's mode, else defaultMode, else
// 0644.
func writeDownwardAPI(dir string, pod *corev1.Pod, nodeName string, src *corev1.DownwardAPIVolumeSource) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("downwardAPI: %w", err)
	}
	mode := os.FileMode(corev1.DownwardAPIVolumeSourceDefaultMode)
	if src.DefaultMode != nil {
		mode = os.FileMode(*src.DefaultMode)
	}
	for _, it := range src.Items {
		var value string
		var err error
		switch {
		case it.FieldRef != nil:
			value, err = downwardFile(pod, nodeName, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			value, err = resourceFieldValue(pod, "", it.ResourceFieldRef, hostAllocatable())
		default:
			err = fmt.Errorf("%w: neither fieldRef nor resourceFieldRef", ErrUnsupported)
		}
		if err != nil {
			return fmt.Errorf("downwardAPI item %s: %w", it.Path, err)
		}
		m := mode
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		path := filepath.Join(dir, filepath.Clean("/"+it.Path))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("downwardAPI item %s: %w", it.Path, err)
		}
		if err := writeFileAtomic(path, []byte(value), m); err != nil {
			return fmt.Errorf("downwardAPI item %s: %w", it.Path, err)
		}
		// The umask applies to WriteFile's mode; the item's mode must not.
		if err := os.Chmod(path, m); err != nil {
			return fmt.Errorf("downwardAPI item %s: %w", it.Path, err)
		}
	}
	return nil
}

// downwardFile is a fieldRef's file content: whole label and annotation
// maps as the kubelet formats them, else the field's value.
func downwardFile(pod *corev1.Pod, nodeName, path string) (string, error) {
	var m map[string]string
	switch path {
	case "metadata.labels":
		m = pod.Labels
	case "metadata.annotations":
		m = pod.Annotations
	default:
		return fieldValue(pod, nodeName, path)
	}
	lines := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n"), nil
}

var errHostPathType = errors.New("hostPath type check failed")

// checkHostPath checks (and for the OrCreate types creates) a hostPath as
// the kubelet does: DirectoryOrCreate makes a 0755 folder, FileOrCreate an
// empty 0644 file (not its parent), the other types must exist as that.
func checkHostPath(p string, typ corev1.HostPathType) error {
	switch typ {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("%w: %s: %w", errHostPathType, p, err)
			}
		}
		typ = corev1.HostPathDirectory
	case corev1.HostPathFileOrCreate:
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return fmt.Errorf("%w: %s: %w", errHostPathType, p, err)
			}
			f.Close()
		}
		typ = corev1.HostPathFile
	}
	want := map[corev1.HostPathType]string{
		corev1.HostPathDirectory: "a directory",
		corev1.HostPathFile:      "a file",
		corev1.HostPathSocket:    "a socket file",
		corev1.HostPathCharDev:   "a character device",
		corev1.HostPathBlockDev:  "a block device",
	}[typ]
	if want == "" {
		return fmt.Errorf("%w: %s: unknown type %q", errHostPathType, p, typ)
	}
	ok := false
	if st, err := os.Stat(p); err == nil {
		m := st.Mode()
		ok = map[corev1.HostPathType]bool{
			corev1.HostPathDirectory: m.IsDir(),
			corev1.HostPathFile:      m.IsRegular(),
			corev1.HostPathSocket:    m&os.ModeSocket != 0,
			corev1.HostPathCharDev:   m&os.ModeCharDevice != 0,
			corev1.HostPathBlockDev:  m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0,
		}[typ]
	}
	if !ok {
		// The kubelet's message.
		return fmt.Errorf("%w: %s is not %s", errHostPathType, p, want)
	}
	return nil
}

// teardownSandbox releases the namespaces and deletes the pod's folder and
// its log folder.
func (r *Runtime) teardownSandbox(uid, namespace, name string) error {
	dir := r.podDir(uid)
	var errs []error
	paths := map[specs.LinuxNamespaceType]string{}
	for k, v := range nsKinds {
		paths[k] = filepath.Join(dir, "ns", v.proc)
	}
	// DEL before the network namespace goes, so plugins can clean up in
	// it; a failed DEL keeps everything for the stop to be retried, as the
	// kubelet keeps a sandbox whose network teardown failed.
	if err := r.teardownNetwork(uid, dir); err != nil {
		return err
	}
	if err := releaseNamespaces(paths); err != nil {
		errs = append(errs, err)
	}
	if namespace != "" && name != "" {
		if err := os.RemoveAll(filepath.Join(r.opts.PodLogDir, namespace+"_"+name+"_"+uid)); err != nil {
			errs = append(errs, fmt.Errorf("remove pod logs: %w", err))
		}
	}
	// Memory emptyDirs are tmpfs mounts: unmounted before their folder goes.
	if entries, err := os.ReadDir(filepath.Join(dir, "volumes")); err == nil {
		for _, e := range entries {
			p := filepath.Join(dir, "volumes", e.Name())
			if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
				errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
			}
		}
	}
	// The containers are gone: their pod's cgroup can go.
	r.removePodCgroup(uid)
	// The record goes last: while it exists a restarted agent finds the pod.
	for _, sub := range []string{"ns", "volumes", "hosts", "resolv.conf", "hostname"} {
		if err := os.RemoveAll(filepath.Join(dir, sub)); err != nil {
			errs = append(errs, fmt.Errorf("remove pod folder: %w", err))
		}
	}
	if len(errs) == 0 {
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove pod folder: %w", err))
		}
	}
	return errors.Join(errs...)
}
