package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

// The kubelet's defaults for the fields staticlet reads, with "0s" meaning
// "use the default" exactly as the kubelet treats it.
const (
	DefaultFileCheckFrequency = 20 * time.Second
	DefaultHTTPCheckFrequency = 20 * time.Second
	// DefaultContainerLogMaxSize (10Mi) and DefaultContainerLogMaxFiles
	// rotate container logs.
	DefaultContainerLogMaxSize  = 10 * 1024 * 1024
	DefaultContainerLogMaxFiles = 5
)

// ErrInvalidConfig marks every configuration error, so callers can tell a bad
// file (exit code 2, refuse a reload) from an IO failure.
var ErrInvalidConfig = errors.New("invalid configuration")

// KubeletSettings are the static-pod fields of a KubeletConfiguration that
// staticlet honours. Every other field of the file is accepted and ignored.
type KubeletSettings struct {
	// File is the path the settings came from, for error messages.
	File               string
	StaticPodPath      string
	FileCheckFrequency time.Duration
	StaticPodURL       string
	StaticPodURLHeader map[string][]string
	HTTPCheckFrequency time.Duration
	// ClusterDNS and ClusterDomain are the cluster DNS servers and domain
	// ClusterFirst pods resolve with (empty: the host's resolv.conf).
	ClusterDNS    []string
	ClusterDomain string
	// SeccompDefault makes RuntimeDefault the seccomp profile of containers
	// that set none.
	SeccompDefault bool
	// AllowedUnsafeSysctls are the sysctls (names or prefixes ending in *)
	// pods may set beyond the kubelet's safe set.
	AllowedUnsafeSysctls []string
	// CgroupRoot, CgroupsPerQOS and CgroupDriver place pod cgroups as the
	// kubelet does (defaults "/", true, "cgroupfs"; nil CgroupsPerQOS is
	// true); PodPidsLimit is each pod cgroup's pids limit (default -1,
	// unlimited).
	CgroupRoot    string
	CgroupsPerQOS *bool
	CgroupDriver  string
	PodPidsLimit  int64
	// ContainerLogMaxSize is containerLogMaxSize in bytes: a container's log
	// file is rotated before it grows past it; ContainerLogMaxFiles is how
	// many of its files are kept, the current one included.
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int32
}

// The KubeletConfiguration's cgroup drivers.
const (
	CgroupDriverCgroupfs = "cgroupfs"
	CgroupDriverSystemd  = "systemd"
)

// LoadKubeletConfig reads a KubeletConfiguration file.
func LoadKubeletConfig(path string) (KubeletSettings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return KubeletSettings{}, fmt.Errorf("read kubelet config: %w", err)
	}
	return ParseKubeletConfig(path, data)
}

// ParseKubeletConfig decodes the content of a KubeletConfiguration file. It
// is lenient about fields it does not know (a newer kubelet's file must still
// load) and strict about apiVersion and kind (a wrong file must not be
// mistaken for an empty configuration).
func ParseKubeletConfig(path string, data []byte) (KubeletSettings, error) {
	var kc kubeletv1beta1.KubeletConfiguration
	if err := yaml.Unmarshal(data, &kc); err != nil {
		return KubeletSettings{}, fmt.Errorf("%s: %w: %w", path, ErrInvalidConfig, err)
	}
	wantAPIVersion := kubeletv1beta1.SchemeGroupVersion.String()
	if kc.APIVersion != wantAPIVersion {
		return KubeletSettings{}, fmt.Errorf("%s: apiVersion: %w: got %q, want %q", path, ErrInvalidConfig, kc.APIVersion, wantAPIVersion)
	}
	if kc.Kind != "KubeletConfiguration" {
		return KubeletSettings{}, fmt.Errorf("%s: kind: %w: got %q, want %q", path, ErrInvalidConfig, kc.Kind, "KubeletConfiguration")
	}
	settings := KubeletSettings{
		File:                 path,
		StaticPodPath:        relativeTo(path, kc.StaticPodPath),
		FileCheckFrequency:   orDefault(kc.FileCheckFrequency.Duration, DefaultFileCheckFrequency),
		StaticPodURL:         kc.StaticPodURL,
		StaticPodURLHeader:   kc.StaticPodURLHeader,
		HTTPCheckFrequency:   orDefault(kc.HTTPCheckFrequency.Duration, DefaultHTTPCheckFrequency),
		ClusterDNS:           kc.ClusterDNS,
		ClusterDomain:        kc.ClusterDomain,
		SeccompDefault:       kc.SeccompDefault != nil && *kc.SeccompDefault,
		AllowedUnsafeSysctls: kc.AllowedUnsafeSysctls,
		CgroupRoot:           kc.CgroupRoot,
		CgroupsPerQOS:        kc.CgroupsPerQOS,
		CgroupDriver:         kc.CgroupDriver,
		PodPidsLimit:         -1,
		ContainerLogMaxSize:  DefaultContainerLogMaxSize,
		ContainerLogMaxFiles: DefaultContainerLogMaxFiles,
	}
	if settings.CgroupRoot == "" {
		// The kubelet defaults it to / (and needs it with cgroupsPerQOS).
		settings.CgroupRoot = "/"
	}
	if settings.CgroupDriver == "" {
		settings.CgroupDriver = CgroupDriverCgroupfs
	}
	if kc.PodPidsLimit != nil {
		settings.PodPidsLimit = *kc.PodPidsLimit
	}
	for i, ip := range kc.ClusterDNS {
		if net.ParseIP(ip) == nil {
			return KubeletSettings{}, fmt.Errorf("%s: clusterDNS[%d]: %w: %q is not an IP address", path, i, ErrInvalidConfig, ip)
		}
	}
	if kc.ContainerLogMaxSize != "" {
		size, err := parseLogMaxSize(kc.ContainerLogMaxSize)
		if err != nil {
			return KubeletSettings{}, fmt.Errorf("%s: containerLogMaxSize: %w: %w", path, ErrInvalidConfig, err)
		}
		settings.ContainerLogMaxSize = size
	}
	if kc.ContainerLogMaxFiles != nil {
		if *kc.ContainerLogMaxFiles < 2 {
			return KubeletSettings{}, fmt.Errorf("%s: containerLogMaxFiles: %w: %d, must be at least 2 (the file being written and one rotated)", path, ErrInvalidConfig, *kc.ContainerLogMaxFiles)
		}
		settings.ContainerLogMaxFiles = *kc.ContainerLogMaxFiles
	}
	if kc.FileCheckFrequency.Duration < 0 {
		return KubeletSettings{}, fmt.Errorf("%s: fileCheckFrequency: %w: must not be negative", path, ErrInvalidConfig)
	}
	if kc.HTTPCheckFrequency.Duration < 0 {
		return KubeletSettings{}, fmt.Errorf("%s: httpCheckFrequency: %w: must not be negative", path, ErrInvalidConfig)
	}
	return settings, nil
}

// parseLogMaxSize reads containerLogMaxSize, a resource quantity ("10Mi"), as
// the kubelet does; unlike the kubelet, which turns rotation off for a
// negative size, it must be positive: every log is rotated.
func parseLogMaxSize(q string) (int64, error) {
	quantity, err := resource.ParseQuantity(q)
	if err != nil {
		return 0, fmt.Errorf("%q is not a quantity such as 10Mi: %w", q, err)
	}
	size, ok := quantity.AsInt64()
	if !ok || size <= 0 {
		return 0, fmt.Errorf("%q must be a positive number of bytes", q)
	}
	return size, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// relativeTo resolves a path written in a configuration file against that
// file's folder, as the kubelet does for its config file.
func relativeTo(configFile, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(configFile), p)
}
