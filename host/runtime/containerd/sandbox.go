package containerd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"
)

// sandbox is what a pod's containers share: its folder, its files and
// namespaces, its volumes.
type sandbox struct {
	dir                                 string
	hostsPath, resolvPath, hostnamePath string
	namespaces                          map[specs.LinuxNamespaceType]string
	volumes                             map[string]volumeSource
	hostHostname                        string
}

type volumeSource struct {
	path  string
	tmpfs bool
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
	ns, err := createNamespaces(filepath.Join(dir, "ns"), kinds, podHostname(pod))
	if err != nil {
		return nil, err
	}
	sb.namespaces = ns
	for _, v := range pod.Spec.Volumes {
		src, err := prepareVolume(dir, v)
		if err != nil {
			releaseNamespaces(sb.namespaces)
			return nil, err
		}
		sb.volumes[v.Name] = src
	}
	return sb, nil
}

func prepareVolume(podDir string, v corev1.Volume) (volumeSource, error) {
	switch {
	case v.EmptyDir != nil:
		if v.EmptyDir.Medium == corev1.StorageMediumMemory {
			return volumeSource{tmpfs: true}, nil
		}
		p := filepath.Join(podDir, "volumes", v.Name)
		if err := os.MkdirAll(p, 0o777); err != nil {
			return volumeSource{}, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		// MkdirAll's mode is masked by the umask; emptyDirs are world-writable.
		if err := os.Chmod(p, 0o777); err != nil {
			return volumeSource{}, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		return volumeSource{path: p}, nil
	case v.HostPath != nil:
		p := v.HostPath.Path
		typ := corev1.HostPathUnset
		if v.HostPath.Type != nil {
			typ = *v.HostPath.Type
		}
		if err := checkHostPath(p, typ); err != nil {
			return volumeSource{}, fmt.Errorf("volume %s: hostPath %s: %w", v.Name, p, err)
		}
		return volumeSource{path: p}, nil
	}
	return volumeSource{}, fmt.Errorf("volume %s: %w", v.Name, ErrUnsupported)
}

var errHostPathType = errors.New("hostPath type check failed")

func checkHostPath(p string, typ corev1.HostPathType) error {
	switch typ {
	case corev1.HostPathDirectoryOrCreate:
		return os.MkdirAll(p, 0o755)
	case corev1.HostPathFileOrCreate:
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return err
		}
		return f.Close()
	case corev1.HostPathUnset:
		return nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	m := st.Mode()
	ok := map[corev1.HostPathType]bool{
		corev1.HostPathDirectory: m.IsDir(),
		corev1.HostPathFile:      m.IsRegular(),
		corev1.HostPathSocket:    m&os.ModeSocket != 0,
		corev1.HostPathCharDev:   m&os.ModeCharDevice != 0,
		corev1.HostPathBlockDev:  m&os.ModeDevice != 0 && m&os.ModeCharDevice == 0,
	}[typ]
	if !ok {
		return fmt.Errorf("%w: want %s, found %s", errHostPathType, typ, strings.TrimSpace(m.Type().String()))
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
	if err := releaseNamespaces(paths); err != nil {
		errs = append(errs, err)
	}
	if namespace != "" && name != "" {
		if err := os.RemoveAll(filepath.Join(r.opts.PodLogDir, namespace+"_"+name+"_"+uid)); err != nil {
			errs = append(errs, fmt.Errorf("remove pod logs: %w", err))
		}
	}
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
