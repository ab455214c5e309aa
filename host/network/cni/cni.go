// Package cni attaches pods to the node's pod network through CNI plugins,
// as containerd's CRI plugin does for the kubelet, using libcni.
//
// It owns the choice of network config (the first valid .conf, .conflist or
// .json file of the conf dir in lexical order, read again for every pod so
// an operator can drop a config in while the agent runs), the kubelet's CNI
// arguments and capability arguments (portMappings from hostPorts, the pod's
// annotations), the pod IPs read from a result, and DEL from libcni's result
// cache so a pod is detached with the config it was attached with, even
// after the conf dir changed or the agent restarted.
//
// IO: reads the conf dir; runs CNI plugin binaries found in the bin dirs
// (which themselves change interfaces, addresses and iptables rules);
// libcni reads and writes its result cache under the cache dir.
package cni

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
	types100 "github.com/containernetworking/cni/pkg/types/100"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
)

// Defaults: the kubelet's and containerd's conf dir, and the bin dirs of
// upstream's tarball and of Debian's containernetworking-plugins.
const DefaultConfDir = "/etc/cni/net.d"

// DefaultBinDirs lists where plugins are looked for, in order.
func DefaultBinDirs() []string { return []string{"/opt/cni/bin", "/usr/lib/cni"} }

// IfName is the pod's interface, as the kubelet names it.
const IfName = "eth0"

// ErrNoConfig is wrapped when the conf dir holds no valid network config.
var ErrNoConfig = errors.New("no CNI network config")

// ErrSetup is wrapped when the plugins fail to attach a pod.
var ErrSetup = errors.New("CNI setup failed")

// ErrTeardown is wrapped when the plugins fail to detach a pod.
var ErrTeardown = errors.New("CNI teardown failed")

// Config says where the network configs, the plugins and the result cache
// are.
type Config struct {
	ConfDir  string
	BinDirs  []string
	CacheDir string
}

// Plugins runs the CNI plugins of one node. It holds no mutable state:
// concurrent calls are safe as far as the plugins are (host-local locks its
// store; portmap and bridge serialise through iptables' and the kernel's
// locks).
type Plugins struct {
	cfg Config
	cni *libcni.CNIConfig
}

// New checks cfg and returns the node's plugins. Nothing is read yet: the
// conf dir may be empty or missing until a pod needs it.
func New(cfg Config) (*Plugins, error) {
	var errs []error
	if !filepath.IsAbs(cfg.ConfDir) {
		errs = append(errs, fmt.Errorf("conf dir %q must be an absolute path", cfg.ConfDir))
	}
	if !filepath.IsAbs(cfg.CacheDir) {
		errs = append(errs, fmt.Errorf("cache dir %q must be an absolute path", cfg.CacheDir))
	}
	if len(cfg.BinDirs) == 0 {
		errs = append(errs, errors.New("at least one bin dir is required"))
	}
	for _, d := range cfg.BinDirs {
		if !filepath.IsAbs(d) {
			errs = append(errs, fmt.Errorf("bin dir %q must be an absolute path", d))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("cni: %w", err)
	}
	cfg.BinDirs = slices.Clone(cfg.BinDirs)
	return &Plugins{cfg: cfg, cni: libcni.NewCNIConfigWithCacheDir(cfg.BinDirs, cfg.CacheDir, nil)}, nil
}

// ConfDir is where network configs are read from.
func (p *Plugins) ConfDir() string { return p.cfg.ConfDir }

// Network is one loaded network config.
type Network struct {
	// Name is the config's network name; File is where it was read.
	Name, File string
	list       *libcni.NetworkConfigList
}

// LoadNetwork reads the conf dir as the kubelet and containerd do: the
// first file (by name) ending in .conf, .conflist or .json that parses and
// names at least one plugin wins; invalid files are skipped and, when none
// is valid, reported with ErrNoConfig.
func (p *Plugins) LoadNetwork() (*Network, error) {
	files, err := libcni.ConfFiles(p.cfg.ConfDir, []string{".conf", ".conflist", ".json"})
	if err != nil {
		return nil, fmt.Errorf("cni: read conf dir %s: %w", p.cfg.ConfDir, err)
	}
	slices.Sort(files)
	var skipped []error
	for _, f := range files {
		list, err := loadFile(f)
		if err != nil {
			skipped = append(skipped, err)
			continue
		}
		return &Network{Name: list.Name, File: f, list: list}, nil
	}
	if len(skipped) > 0 {
		return nil, fmt.Errorf("cni: %w in %s: %w", ErrNoConfig, p.cfg.ConfDir, errors.Join(skipped...))
	}
	return nil, fmt.Errorf("cni: %w in %s", ErrNoConfig, p.cfg.ConfDir)
}

// loadFile reads one config: a list (it has "plugins", whatever the file's
// extension) or a single plugin's config, made a list of one.
func loadFile(path string) (*libcni.NetworkConfigList, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(data, &probe); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if _, ok := probe["plugins"]; !ok {
		single, err := libcni.NetworkPluginConfFromBytes(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if data, err = json.Marshal(map[string]any{
			"name": single.Network.Name, "cniVersion": single.Network.CNIVersion,
			"plugins": []json.RawMessage{single.Bytes},
		}); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	list, err := libcni.NetworkConfFromBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(list.Plugins) == 0 {
		return nil, fmt.Errorf("%s: no plugins", path)
	}
	return list, nil
}

// Pod is what the plugins are told about a pod.
type Pod struct {
	Namespace, Name, UID string
	// SandboxID is the CNI container ID: stable for the pod's life and
	// unique on the node (the pod UID), so DEL finds ADD's cached result.
	SandboxID string
	// NetNS is the path of the pod's network namespace.
	NetNS        string
	PortMappings []PortMapping
	Annotations  map[string]string
	// DNS is the pod's resolver configuration, for plugins that declare
	// the dns capability (as containerd's CRI plugin passes it); nil: none.
	DNS *DNS
}

// DNS is the dns capability's value: the pod's resolv.conf.
type DNS struct {
	Servers  []string `json:"servers,omitempty"`
	Searches []string `json:"searches,omitempty"`
	Options  []string `json:"options,omitempty"`
}

// PortMapping is the portMappings capability's entry, as the kubelet
// passes it for a container port with a hostPort.
type PortMapping struct {
	HostPort      int32  `json:"hostPort"`
	ContainerPort int32  `json:"containerPort"`
	Protocol      string `json:"protocol"`
	HostIP        string `json:"hostIP,omitempty"`
}

// PortMappings lists every container port of pod (init containers too, as
// the kubelet) that has a hostPort; the protocol is lowercased, TCP by
// default.
func PortMappings(pod *corev1.Pod) []PortMapping {
	var out []PortMapping
	for _, cs := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for _, c := range cs {
			for _, port := range c.Ports {
				if port.HostPort <= 0 {
					continue
				}
				proto := strings.ToLower(string(port.Protocol))
				if proto == "" {
					proto = "tcp"
				}
				out = append(out, PortMapping{HostPort: port.HostPort, ContainerPort: port.ContainerPort, Protocol: proto, HostIP: port.HostIP})
			}
		}
	}
	return out
}

// Attachment is a pod's place on the network.
type Attachment struct {
	Network string
	// IPs are the pod's addresses, IPv4 first, then IPv6.
	IPs []string
}

func (pod Pod) runtimeConf() *libcni.RuntimeConf {
	rt := &libcni.RuntimeConf{
		ContainerID: pod.SandboxID,
		NetNS:       pod.NetNS,
		IfName:      IfName,
		// The kubelet's CNI_ARGS; IgnoreUnknown lets plugins that know
		// none of them accept them.
		Args: [][2]string{
			{"IgnoreUnknown", "1"},
			{"K8S_POD_NAMESPACE", pod.Namespace},
			{"K8S_POD_NAME", pod.Name},
			{"K8S_POD_INFRA_CONTAINER_ID", pod.SandboxID},
			{"K8S_POD_UID", pod.UID},
		},
		CapabilityArgs: map[string]any{},
	}
	if len(pod.PortMappings) > 0 {
		rt.CapabilityArgs["portMappings"] = pod.PortMappings
	}
	if len(pod.Annotations) > 0 {
		rt.CapabilityArgs["io.kubernetes.cri.pod-annotations"] = pod.Annotations
	}
	if pod.DNS != nil {
		rt.CapabilityArgs["dns"] = *pod.DNS
	}
	return rt
}

// Setup attaches pod to network (CNI ADD). When a plugin fails, what the
// plugins before it did is undone (DEL with the same config) before the
// error is returned, so nothing leaks.
func (p *Plugins) Setup(ctx context.Context, network *Network, pod Pod) (Attachment, error) {
	rt := pod.runtimeConf()
	res, err := p.cni.AddNetworkList(ctx, network.list, rt)
	if err != nil {
		if derr := p.undo(ctx, network.list, rt); derr != nil {
			err = errors.Join(err, fmt.Errorf("undo: %w", derr))
		}
		return Attachment{}, fmt.Errorf("cni: pod %s/%s: network %s (%s): %w: %w", pod.Namespace, pod.Name, network.Name, network.File, ErrSetup, err)
	}
	ips, err := resultIPs(res)
	if err == nil && len(ips) == 0 {
		err = errors.New("the result has no IP address for the pod")
	}
	if err != nil {
		if derr := p.undo(ctx, network.list, rt); derr != nil {
			err = errors.Join(err, fmt.Errorf("undo: %w", derr))
		}
		return Attachment{}, fmt.Errorf("cni: pod %s/%s: network %s: %w: %w", pod.Namespace, pod.Name, network.Name, ErrSetup, err)
	}
	return Attachment{Network: network.Name, IPs: ips}, nil
}

// undo deletes what a failed ADD may have set up: each plugin on its own,
// last first, so one that cannot run (the one that failed, often) does not
// keep the others from releasing their part, as a DEL of the whole list
// would.
func (p *Plugins) undo(ctx context.Context, list *libcni.NetworkConfigList, rt *libcni.RuntimeConf) error {
	var errs []error
	for i := len(list.Plugins) - 1; i >= 0; i-- {
		one := *list
		one.Plugins = list.Plugins[i : i+1]
		if err := p.cni.DelNetworkList(ctx, &one, rt); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// resultIPs are the addresses a result gives the pod's own interfaces (or
// no interface in particular), IPv4 first, without duplicates.
func resultIPs(res types.Result) ([]string, error) {
	r, err := types100.NewResultFromResult(res)
	if err != nil {
		return nil, fmt.Errorf("read the result: %w", err)
	}
	var v4, v6 []string
	for _, ipc := range r.IPs {
		if ipc.Interface != nil {
			i := *ipc.Interface
			if i < 0 || i >= len(r.Interfaces) || r.Interfaces[i].Sandbox == "" {
				continue
			}
		}
		ip := ipc.Address.IP
		switch {
		case ip == nil:
		case ip.To4() != nil:
			v4 = append(v4, ip.String())
		default:
			v6 = append(v6, ip.String())
		}
	}
	return slices.Compact(append(v4, v6...)), nil
}

// Teardown detaches pod (CNI DEL) from every network libcni's cache says it
// was attached to, with the config and arguments it was attached with. A
// pod without a cached attachment (an agent that died before ADD returned)
// is detached from the current network, if any: plugins must accept a DEL
// for what they never set up. A netns path that no longer holds a
// namespace is not passed, which plugins take as "already gone".
// Detaching twice is fine.
func (p *Plugins) Teardown(ctx context.Context, pod Pod) error {
	if !isNamespace(pod.NetNS) {
		pod.NetNS = ""
	}
	atts, err := p.cni.GetCachedAttachments(pod.SandboxID)
	if err != nil {
		return fmt.Errorf("cni: pod %s/%s: %w: read cache %s: %w", pod.Namespace, pod.Name, ErrTeardown, p.cfg.CacheDir, err)
	}
	if len(atts) == 0 {
		network, err := p.LoadNetwork()
		if errors.Is(err, ErrNoConfig) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("cni: pod %s/%s: %w: %w", pod.Namespace, pod.Name, ErrTeardown, err)
		}
		if err := p.cni.DelNetworkList(ctx, network.list, pod.runtimeConf()); err != nil {
			return fmt.Errorf("cni: pod %s/%s: network %s: %w: %w", pod.Namespace, pod.Name, network.Name, ErrTeardown, err)
		}
		return nil
	}
	var errs []error
	for _, a := range atts {
		list, err := libcni.NetworkConfFromBytes(a.Config)
		if err != nil {
			errs = append(errs, fmt.Errorf("network %s: cached config: %w", a.Network, err))
			continue
		}
		rt := &libcni.RuntimeConf{ContainerID: a.ContainerID, NetNS: pod.NetNS, IfName: a.IfName, Args: a.CniArgs, CapabilityArgs: a.CapabilityArgs}
		if err := p.cni.DelNetworkList(ctx, list, rt); err != nil {
			errs = append(errs, fmt.Errorf("network %s: %w", a.Network, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cni: pod %s/%s: %w: %w", pod.Namespace, pod.Name, ErrTeardown, err)
	}
	return nil
}

// isNamespace reports whether path holds a (bind-mounted) namespace.
func isNamespace(path string) bool {
	var st unix.Statfs_t
	return path != "" && unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}
