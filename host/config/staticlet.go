package config

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/network/cni"
	"github.com/staticlet/staticlet/host/plugin"
)

// APIVersion and Kind of staticlet's own configuration file.
const (
	APIVersion = "staticlet.dev/v1alpha1"
	Kind       = "StaticletConfiguration"
)

// Defaults for staticlet's own settings.
const (
	DefaultContainerdAddress   = "/run/containerd/containerd.sock"
	DefaultContainerdNamespace = "staticlet"
	DefaultStatusSocket        = "/run/staticlet/status.sock"
	DefaultPodLogDir           = "/var/log/pods"
	DefaultStateDir            = "/var/lib/staticlet"
	DefaultPodManifestPath     = "/etc/kubernetes/manifests"
	// DefaultMetricsAddress serves /metrics, /healthz and /readyz on
	// localhost only; "off" disables the server.
	DefaultMetricsAddress = "127.0.0.1:10357"
	// DefaultRemovalDelay is how long a vanished manifest keeps its pod: long
	// enough to ride out an editor's rename dance, short next to any pod's
	// termination grace period. See docs/RATIONALE.md.
	DefaultRemovalDelay = time.Second
	// DefaultDebounce is the quiet time the file source waits after a
	// filesystem event before it rescans, so a burst of events from one save
	// costs one scan.
	DefaultDebounce = 20 * time.Millisecond
	// DefaultFrontAddress is where the kubelet front serves its pod list
	// (staticPodURL http://127.0.0.1:10358/pods).
	DefaultFrontAddress = "127.0.0.1:10358"
)

// Modes: how staticlet runs the pods it admits.
const (
	// ModeStandalone runs them on containerd and keeps their mirror pods
	// (the default).
	ModeStandalone = "standalone"
	// ModeKubeletFront serves them to a kubelet on its staticPodURL; the
	// kubelet runs them and keeps their mirror pods.
	ModeKubeletFront = "kubeletFront"
)

// StaticletConfiguration is the versioned file given with --config. Unknown
// fields are errors: it is staticlet's own format, so a typo must not be
// silently ignored.
type StaticletConfiguration struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	// NodeName defaults to the lowercased hostname.
	NodeName string `json:"nodeName,omitempty"`
	// KubeletConfig is the KubeletConfiguration file to read staticPodPath and
	// friends from (same as --kubelet-config).
	KubeletConfig string `json:"kubeletConfig,omitempty"`
	// PodManifestPath overrides the KubeletConfiguration's staticPodPath.
	PodManifestPath string           `json:"podManifestPath,omitempty"`
	Containerd      ContainerdConfig `json:"containerd,omitempty"`
	// Kubeconfig enables mirror pods; empty means standalone.
	Kubeconfig   string `json:"kubeconfig,omitempty"`
	StatusSocket string `json:"statusSocket,omitempty"`
	// MetricsAddress is host:port for /metrics, /healthz and /readyz
	// (default 127.0.0.1:10357; "off" disables them).
	MetricsAddress string        `json:"metricsAddress,omitempty"`
	PodLogDir      string        `json:"podLogDir,omitempty"`
	StateDir       string        `json:"stateDir,omitempty"`
	Logging        LoggingConfig `json:"logging,omitempty"`
	Source         SourceConfig  `json:"source,omitempty"`
	// Plugins is the admission chain, in order: mutations run first, then
	// naming, then validation (docs/plugin-abi.md).
	Plugins []plugin.Spec `json:"plugins,omitempty"`
	// PluginCacheDir keeps compiled plugin code across restarts (mode 0700);
	// default <stateDir>/plugin-cache.
	PluginCacheDir string `json:"pluginCacheDir,omitempty"`
	// PluginLoading bounds what loading one plugin may cost the node.
	PluginLoading PluginLoadingConfig `json:"pluginLoading,omitempty"`
	// RegisterNode makes staticlet create and maintain the Node object and its Lease (it needs
	// kubeconfig); otherwise it waits for another agent to register the node.
	RegisterNode bool `json:"registerNode,omitempty"`
	// NodeLabels are set on the Node staticlet registers; NodeRestriction lets a node set only some
	// kubernetes.io and k8s.io labels (see ValidateNodeLabels).
	NodeLabels map[string]string `json:"nodeLabels,omitempty"`
	// NodeIP is the node's InternalIP address and the pods' hostIP (default: the first global IPv4
	// address of an interface that is up).
	NodeIP string `json:"nodeIP,omitempty"`
	// RegisterWithTaints are the taints the Node is registered with, as the KubeletConfiguration's field
	// of that name: unset means one NoSchedule taint, DefaultNodeTaintKey, so the scheduler places no
	// pods on a node that runs only static pods; [] registers none. NodeRestriction lets a node set taints
	// only when it creates its Node.
	RegisterWithTaints []corev1.Taint `json:"registerWithTaints,omitempty"`
	// KubeletPort is where staticlet serves the kubelet API (kubectl logs, exec, attach, port-forward) and
	// the port the Node advertises as daemonEndpoints.kubeletEndpoint.Port. The default, 0, serves and
	// advertises none: on a node with a kubelet, port 10250 is the kubelet's.
	KubeletPort int32 `json:"kubeletPort,omitempty"`
	// KubeletServer configures that API: address, TLS, authentication and authorization.
	KubeletServer *KubeletServerConfig `json:"kubeletServer,omitempty"`
	// Network is the pods' network through CNI.
	Network NetworkConfig `json:"network,omitempty"`
	// Mode is standalone (default) or kubeletFront.
	Mode string `json:"mode,omitempty"`
	// Front configures the kubelet front (mode: kubeletFront).
	Front FrontConfig `json:"front,omitempty"`
	// CgroupRoot overrides the KubeletConfiguration's cgroupRoot for
	// staticlet's pods. Set it (e.g. /staticlet) when a kubelet runs on the
	// same node: the kubelet removes pod cgroups under its own kubepods
	// that belong to no pod it knows, killing their processes.
	CgroupRoot string `json:"cgroupRoot,omitempty"`

	// baseDir is the folder of the file this came from: relative plugin
	// paths are resolved against it.
	baseDir string
}

// PluginLoadingConfig bounds loading a plugin module: its size, and the
// time and memory of the child process that validates and compiles it
// (docs/plugin-abi.md, "Limits and failures").
type PluginLoadingConfig struct {
	// MaxModuleSize refuses bigger .wasm files (default 32Mi).
	MaxModuleSize *resource.Quantity `json:"maxModuleSize,omitempty"`
	// CompileTimeout bounds validating and compiling one module (default 60s).
	CompileTimeout *metav1.Duration `json:"compileTimeout,omitempty"`
	// CompileMemory bounds the compiler process's resident memory (default 1Gi).
	CompileMemory *resource.Quantity `json:"compileMemory,omitempty"`
	// PublicKeys are PEM public keys (cosign.pub format) that verify
	// plugins named oci://registry/repository@sha256:...: such a plugin is
	// used only if one of them verifies its signature. Without any, oci://
	// plugins are refused.
	PublicKeys []string `json:"publicKeys,omitempty"`
	// StoreDir keeps pulled and verified oci:// plugins, so a restart
	// needs no registry (default <stateDir>/plugin-store).
	StoreDir string `json:"storeDir,omitempty"`
}

// FrontConfig configures the kubelet front: the kubelet's
// KubeletConfiguration says staticPodPath: "" and staticPodURL:
// http://<address>/pods.
type FrontConfig struct {
	// Address is host:port to serve the pod list on (default
	// 127.0.0.1:10358); keep it on localhost, it has no authentication.
	Address string `json:"address,omitempty"`
}

// ContainerdConfig says where the container runtime is.
type ContainerdConfig struct {
	Address   string `json:"address,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// NetworkConfig says where CNI's network configs, plugins and result cache
// are; the defaults are the kubelet's and containerd's.
type NetworkConfig struct {
	// CNIConfDir holds the network configs: the first valid .conf,
	// .conflist or .json file in lexical order is used (default
	// /etc/cni/net.d).
	CNIConfDir string `json:"cniConfDir,omitempty"`
	// CNIBinDirs are searched for plugins, in order (default /opt/cni/bin
	// and /usr/lib/cni, where Debian's containernetworking-plugins are).
	CNIBinDirs []string `json:"cniBinDirs,omitempty"`
	// CNICacheDir keeps libcni's ADD results, so DEL uses the config a pod
	// was attached with (default <stateDir>/cni-cache).
	CNICacheDir string `json:"cniCacheDir,omitempty"`
}

// LoggingConfig selects go-hclog's output.
type LoggingConfig struct {
	// Format is "text" (default) or "json".
	Format string `json:"format,omitempty"`
	// Level is trace, debug, info (default), warn or error.
	Level string `json:"level,omitempty"`
}

// SourceConfig tunes the manifest folder watch.
type SourceConfig struct {
	RemovalDelay *metav1.Duration `json:"removalDelay,omitempty"`
	Debounce     *metav1.Duration `json:"debounce,omitempty"`
}

// LoadStaticletConfig reads and strictly decodes a StaticletConfiguration.
func LoadStaticletConfig(path string) (StaticletConfiguration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return StaticletConfiguration{}, fmt.Errorf("read staticlet config: %w", err)
	}
	return ParseStaticletConfig(path, data)
}

// ParseStaticletConfig decodes the content of a StaticletConfiguration file.
func ParseStaticletConfig(path string, data []byte) (StaticletConfiguration, error) {
	var sc StaticletConfiguration
	if err := yaml.UnmarshalStrict(data, &sc); err != nil {
		return sc, fmt.Errorf("%s: %w: %w", path, ErrInvalidConfig, err)
	}
	if sc.APIVersion != APIVersion {
		return sc, fmt.Errorf("%s: apiVersion: %w: got %q, want %q", path, ErrInvalidConfig, sc.APIVersion, APIVersion)
	}
	if sc.Kind != Kind {
		return sc, fmt.Errorf("%s: kind: %w: got %q, want %q", path, ErrInvalidConfig, sc.Kind, Kind)
	}
	for _, p := range []*string{&sc.KubeletConfig, &sc.PodManifestPath, &sc.Kubeconfig, &sc.StatusSocket, &sc.PodLogDir, &sc.StateDir, &sc.PluginCacheDir, &sc.Network.CNIConfDir, &sc.Network.CNICacheDir, &sc.PluginLoading.StoreDir} {
		*p = relativeTo(path, *p)
	}
	if sc.KubeletServer != nil {
		sc.KubeletServer.relativePaths(path)
	}
	for i := range sc.PluginLoading.PublicKeys {
		sc.PluginLoading.PublicKeys[i] = relativeTo(path, sc.PluginLoading.PublicKeys[i])
	}
	for i := range sc.Network.CNIBinDirs {
		sc.Network.CNIBinDirs[i] = relativeTo(path, sc.Network.CNIBinDirs[i])
	}
	sc.baseDir = filepath.Dir(path)
	return sc, nil
}

// Overrides are command-line flags; a non-empty value wins over both files.
type Overrides struct {
	KubeletConfig       string
	PodManifestPath     string
	NodeName            string
	ContainerdAddress   string
	ContainerdNamespace string
	Kubeconfig          string
	StatusSocket        string
	MetricsAddress      string
	PodLogDir           string
	StateDir            string
	LogLevel            string
	LogFormat           string
}

// Settings is the resolved, validated configuration the agent runs with.
type Settings struct {
	NodeName           string
	PodManifestPath    string
	FileCheckFrequency time.Duration
	StaticPodURL       string
	StaticPodURLHeader map[string][]string
	HTTPCheckFrequency time.Duration
	// ClusterDNS and ClusterDomain come from the KubeletConfiguration; pods
	// with dnsPolicy ClusterFirst resolve through them.
	ClusterDNS    []string
	ClusterDomain string
	// SeccompDefault and AllowedUnsafeSysctls come from the
	// KubeletConfiguration too.
	SeccompDefault       bool
	AllowedUnsafeSysctls []string
	// CgroupRoot (staticlet's own override first), CgroupsPerQOS,
	// CgroupDriver and PodPidsLimit place and limit pod cgroups as the
	// KubeletConfiguration says; its defaults without one.
	CgroupRoot          string
	CgroupsPerQOS       bool
	CgroupDriver        string
	PodPidsLimit        int64
	ContainerdAddress   string
	ContainerdNamespace string
	Kubeconfig          string
	StatusSocket        string
	MetricsAddress      string
	PodLogDir           string
	StateDir            string
	LogFormat           string
	LogLevel            string
	RemovalDelay        time.Duration
	Debounce            time.Duration
	Plugins             []plugin.Spec
	// PluginBaseDir resolves relative plugin paths (the config file's
	// folder).
	PluginBaseDir  string
	PluginCacheDir string
	// PluginMaxModuleBytes, PluginCompileTimeout and
	// PluginCompileMemoryBytes are pluginLoading's, defaulted.
	PluginMaxModuleBytes     int64
	PluginCompileTimeout     time.Duration
	PluginCompileMemoryBytes int64
	// PluginPublicKeys and PluginStoreDir are pluginLoading's publicKeys
	// (paths) and storeDir, defaulted.
	PluginPublicKeys []string
	PluginStoreDir   string
	RegisterNode     bool
	NodeLabels       map[string]string
	NodeIP           string
	// RegisterWithTaints is registerWithTaints, defaulted; KubeletPort is kubeletPort.
	RegisterWithTaints []corev1.Taint
	KubeletPort        int32
	// KubeletServer is kubeletServer, defaulted as the KubeletConfiguration's fields; it is served only
	// when KubeletPort is not 0.
	KubeletServer KubeletServerConfig
	// CNIConfDir, CNIBinDirs and CNICacheDir are network's, defaulted.
	CNIConfDir  string
	CNIBinDirs  []string
	CNICacheDir string
	// Mode is ModeStandalone or ModeKubeletFront; FrontAddress is
	// front.address, defaulted.
	Mode         string
	FrontAddress string
	// ContainerLogMaxSize (bytes) and ContainerLogMaxFiles rotate each
	// container's log files: the KubeletConfiguration's containerLogMaxSize
	// and containerLogMaxFiles, its defaults without one.
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int32
}

// Resolve merges the kubelet's settings (nil when no KubeletConfiguration was
// given), staticlet's file and the flags, applies defaults and validates the
// result once, reporting every bad field at once. hostname is used when no
// node name is configured.
func Resolve(kubelet *KubeletSettings, sc StaticletConfiguration, ov Overrides, hostname string) (Settings, error) {
	s := Settings{
		FileCheckFrequency:  DefaultFileCheckFrequency,
		HTTPCheckFrequency:  DefaultHTTPCheckFrequency,
		PodManifestPath:     DefaultPodManifestPath,
		ContainerdAddress:   first(ov.ContainerdAddress, sc.Containerd.Address, DefaultContainerdAddress),
		ContainerdNamespace: first(ov.ContainerdNamespace, sc.Containerd.Namespace, DefaultContainerdNamespace),
		Kubeconfig:          first(ov.Kubeconfig, sc.Kubeconfig),
		StatusSocket:        first(ov.StatusSocket, sc.StatusSocket, DefaultStatusSocket),
		MetricsAddress:      first(ov.MetricsAddress, sc.MetricsAddress, DefaultMetricsAddress),
		PodLogDir:           first(ov.PodLogDir, sc.PodLogDir, DefaultPodLogDir),
		StateDir:            first(ov.StateDir, sc.StateDir, DefaultStateDir),
		LogFormat:           strings.ToLower(first(ov.LogFormat, sc.Logging.Format, "text")),
		LogLevel:            strings.ToLower(first(ov.LogLevel, sc.Logging.Level, "info")),
		RemovalDelay:        DefaultRemovalDelay,
		Debounce:            DefaultDebounce,
		CgroupRoot:          "/",
		CgroupsPerQOS:       true,
		CgroupDriver:        CgroupDriverCgroupfs,
		PodPidsLimit:        -1,
	}
	s.ContainerLogMaxSize, s.ContainerLogMaxFiles = DefaultContainerLogMaxSize, DefaultContainerLogMaxFiles
	if kubelet != nil {
		if kubelet.StaticPodPath != "" {
			s.PodManifestPath = kubelet.StaticPodPath
		}
		s.FileCheckFrequency = kubelet.FileCheckFrequency
		s.StaticPodURL = kubelet.StaticPodURL
		s.StaticPodURLHeader = kubelet.StaticPodURLHeader
		s.HTTPCheckFrequency = kubelet.HTTPCheckFrequency
		s.ClusterDNS, s.ClusterDomain = kubelet.ClusterDNS, kubelet.ClusterDomain
		s.SeccompDefault, s.AllowedUnsafeSysctls = kubelet.SeccompDefault, kubelet.AllowedUnsafeSysctls
		s.CgroupRoot = first(kubelet.CgroupRoot, s.CgroupRoot)
		s.CgroupDriver = first(kubelet.CgroupDriver, s.CgroupDriver)
		if kubelet.CgroupsPerQOS != nil {
			s.CgroupsPerQOS = *kubelet.CgroupsPerQOS
		}
		if kubelet.PodPidsLimit != 0 {
			s.PodPidsLimit = kubelet.PodPidsLimit
		}
		if kubelet.ContainerLogMaxSize != 0 {
			s.ContainerLogMaxSize, s.ContainerLogMaxFiles = kubelet.ContainerLogMaxSize, kubelet.ContainerLogMaxFiles
		}
	}
	s.CgroupRoot = first(sc.CgroupRoot, s.CgroupRoot)
	s.PodManifestPath = first(ov.PodManifestPath, sc.PodManifestPath, s.PodManifestPath)
	s.NodeName = strings.ToLower(first(ov.NodeName, sc.NodeName, hostname))
	if sc.Source.RemovalDelay != nil {
		s.RemovalDelay = sc.Source.RemovalDelay.Duration
	}
	if sc.Source.Debounce != nil {
		s.Debounce = sc.Source.Debounce.Duration
	}
	s.Plugins = sc.Plugins
	s.RegisterNode, s.NodeLabels, s.NodeIP = sc.RegisterNode, sc.NodeLabels, sc.NodeIP
	s.RegisterWithTaints, s.KubeletPort = nodeTaints(sc.RegisterWithTaints), sc.KubeletPort
	if sc.KubeletServer != nil {
		s.KubeletServer = kubeletServerSettings(*sc.KubeletServer)
	} else {
		s.KubeletServer = kubeletServerSettings(KubeletServerConfig{})
	}
	s.PluginBaseDir = sc.baseDir
	s.PluginCacheDir = first(sc.PluginCacheDir, filepath.Join(s.StateDir, "plugin-cache"))
	s.PluginMaxModuleBytes, s.PluginCompileTimeout, s.PluginCompileMemoryBytes =
		plugin.DefaultMaxModuleBytes, plugin.DefaultCompileTimeout, plugin.DefaultCompileMemoryBytes
	if q := sc.PluginLoading.MaxModuleSize; q != nil {
		s.PluginMaxModuleBytes = q.Value()
	}
	if d := sc.PluginLoading.CompileTimeout; d != nil {
		s.PluginCompileTimeout = d.Duration
	}
	if q := sc.PluginLoading.CompileMemory; q != nil {
		s.PluginCompileMemoryBytes = q.Value()
	}
	s.PluginPublicKeys = sc.PluginLoading.PublicKeys
	s.PluginStoreDir = first(sc.PluginLoading.StoreDir, filepath.Join(s.StateDir, "plugin-store"))
	s.CNIConfDir = first(sc.Network.CNIConfDir, cni.DefaultConfDir)
	s.CNIBinDirs = sc.Network.CNIBinDirs
	if len(s.CNIBinDirs) == 0 {
		s.CNIBinDirs = cni.DefaultBinDirs()
	}
	s.CNICacheDir = first(sc.Network.CNICacheDir, filepath.Join(s.StateDir, "cni-cache"))
	s.Mode = first(sc.Mode, ModeStandalone)
	s.FrontAddress = first(sc.Front.Address, DefaultFrontAddress)
	if s.Mode == ModeKubeletFront {
		// The kubelet's staticPodURL is staticlet's own front: reading it
		// would feed the served pods back in.
		s.StaticPodURL, s.StaticPodURLHeader = "", nil
	}
	if sc.KubeletServer != nil && sc.KubeletPort == 0 {
		return s, errors.Join(fmt.Errorf("kubeletServer: %w: is set but kubeletPort is 0: set kubeletPort (10250 where no kubelet runs) to serve the kubelet API", ErrInvalidConfig), s.Validate())
	}
	return s, s.Validate()
}

// Validate checks every field and reports all problems at once, each naming
// its field.
func (s Settings) Validate() error {
	var errs []error
	bad := func(field, format string, args ...interface{}) {
		errs = append(errs, fmt.Errorf("%s: %w: %s", field, ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	if s.NodeName == "" {
		bad("nodeName", "required (no hostname could be read either)")
	} else if msgs := validation.IsDNS1123Subdomain(s.NodeName); len(msgs) > 0 {
		bad("nodeName", "%q is not a valid node name: %s", s.NodeName, strings.Join(msgs, "; "))
	}
	if s.PodManifestPath == "" {
		bad("podManifestPath", "required")
	}
	if s.MetricsAddress != "off" {
		if _, _, err := net.SplitHostPort(s.MetricsAddress); err != nil {
			bad("metricsAddress", "%q is not host:port or \"off\": %v", s.MetricsAddress, err)
		}
	}
	if s.FileCheckFrequency <= 0 {
		bad("fileCheckFrequency", "must be positive")
	}
	if s.PluginMaxModuleBytes <= 0 {
		bad("pluginLoading.maxModuleSize", "must be positive")
	}
	if s.PluginCompileTimeout <= 0 {
		bad("pluginLoading.compileTimeout", "must be positive")
	}
	if s.PluginCompileMemoryBytes < 64<<20 {
		bad("pluginLoading.compileMemory", "must be at least 64Mi (the compiler process itself needs about 30Mi)")
	}
	if s.HTTPCheckFrequency <= 0 {
		bad("httpCheckFrequency", "must be positive")
	}
	if s.ContainerdNamespace != "" {
		if msgs := validation.IsDNS1123Label(s.ContainerdNamespace); len(msgs) > 0 {
			bad("containerd.namespace", "%q: %s", s.ContainerdNamespace, strings.Join(msgs, "; "))
		}
	}
	switch s.LogFormat {
	case "text", "json":
	default:
		bad("logging.format", "%q is not one of text, json", s.LogFormat)
	}
	switch s.LogLevel {
	case "trace", "debug", "info", "warn", "error":
	default:
		bad("logging.level", "%q is not one of trace, debug, info, warn, error", s.LogLevel)
	}
	if s.RemovalDelay < 0 || s.RemovalDelay > time.Minute {
		bad("source.removalDelay", "%s must be between 0s and 1m", s.RemovalDelay)
	}
	if s.Debounce < 0 || s.Debounce > 5*time.Second {
		bad("source.debounce", "%s must be between 0s and 5s", s.Debounce)
	}
	if s.RegisterNode && s.Kubeconfig == "" {
		bad("registerNode", "needs kubeconfig: without an API server there is no Node to register")
	}
	for _, err := range ValidateNodeLabels(s.NodeLabels, "nodeLabels") {
		errs = append(errs, err)
	}
	if s.NodeIP != "" && net.ParseIP(s.NodeIP) == nil {
		bad("nodeIP", "%q is not an IP address", s.NodeIP)
	}
	errs = append(errs, validateNodeRegistration(s)...)
	errs = append(errs, validateKubeletServer(s)...)
	if !strings.HasPrefix(s.CgroupRoot, "/") {
		bad("cgroupRoot", "%q must be a cgroup path starting with /", s.CgroupRoot)
	}
	if s.CgroupDriver != CgroupDriverCgroupfs && s.CgroupDriver != CgroupDriverSystemd {
		bad("cgroupDriver", "%q is not one of %s, %s", s.CgroupDriver, CgroupDriverCgroupfs, CgroupDriverSystemd)
	}
	for _, dirs := range []struct {
		field string
		paths []string
	}{{"network.cniConfDir", []string{s.CNIConfDir}}, {"network.cniBinDirs", s.CNIBinDirs}, {"network.cniCacheDir", []string{s.CNICacheDir}}} {
		for _, d := range dirs.paths {
			if !filepath.IsAbs(d) {
				bad(dirs.field, "%q must be an absolute path", d)
			}
		}
	}
	switch s.Mode {
	case ModeStandalone:
	case ModeKubeletFront:
		if _, _, err := net.SplitHostPort(s.FrontAddress); err != nil {
			bad("front.address", "%q is not host:port: %v", s.FrontAddress, err)
		}
		if s.RegisterNode {
			bad("registerNode", "must be false with mode %s: the kubelet registers the Node", ModeKubeletFront)
		}
	default:
		bad("mode", "%q is not one of %s, %s", s.Mode, ModeStandalone, ModeKubeletFront)
	}
	if err := plugin.ValidateSpecs(s.Plugins, "plugins"); err != nil {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	return errors.Join(errs...)
}

func first(values ...string) string {
	for _, v := range values {
		if v != "" {
			return v
		}
	}
	return ""
}
