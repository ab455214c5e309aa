package containerd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/network/cni"
)

// NetworkOptions say where the CNI network configs and plugins are.
type NetworkOptions struct {
	// CNIConfDir holds the network configs; empty turns CNI off: pods
	// without hostNetwork get loopback only, and no condition says so.
	CNIConfDir string
	// CNIBinDirs are searched for plugins, in order.
	CNIBinDirs []string
	// CNICacheDir keeps libcni's results, for DEL.
	CNICacheDir string
}

// PodNetworkCondition is the pod condition that tells a pod without
// hostNetwork runs with loopback only: status False, reason NoCNIConfig.
const PodNetworkCondition corev1.PodConditionType = "staticlet.dev/PodNetwork"

// ReasonNoCNIConfig is PodNetworkCondition's reason when the conf dir held
// no valid network config at the pod's setup.
const ReasonNoCNIConfig = "NoCNIConfig"

// cniTimeout bounds one ADD or DEL: plugins are programs that can hang.
const cniTimeout = 2 * time.Minute

const networkStateName = "network.json"

// Network phases recorded in the pod folder.
const (
	// phaseAttaching is written before ADD: an agent that dies during
	// ADD leaves it, and the next one undoes ADD before trying again.
	phaseAttaching = "attaching"
	phaseAttached  = "attached"
	// phaseLoopback: no config at setup; the pod keeps loopback only for
	// its life, as a sandbox's network never changes under it.
	phaseLoopback = "loopback"
)

// networkState is the pod's network as set up, saved in the pod folder so
// an adopting agent reports the same IPs without a second ADD.
type networkState struct {
	Phase     string   `json:"phase"`
	Network   string   `json:"network,omitempty"`
	IPs       []string `json:"ips,omitempty"`
	ConfDir   string   `json:"confDir,omitempty"`
	Namespace string   `json:"namespace,omitempty"`
	Name      string   `json:"name,omitempty"`
	// NetNSInode identifies the namespace the attachment was made in: a
	// namespace made anew (after a reboot) has another and is attached
	// again.
	NetNSInode uint64 `json:"netnsInode,omitempty"`
}

func readNetworkState(dir string) (networkState, error) {
	var st networkState
	data, err := os.ReadFile(filepath.Join(dir, networkStateName))
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read pod network state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("read pod network state %s: %w", dir, err)
	}
	return st, nil
}

func writeNetworkState(dir string, st networkState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("write pod network state: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, networkStateName), data, 0o600)
}

func nsInode(path string) uint64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

// hostIPs are the node's addresses as configured (nodeIP), empty when not.
func (r *Runtime) hostIPs() []string {
	if r.opts.NodeIP == "" {
		return nil
	}
	return []string{r.opts.NodeIP}
}

func cniPod(pod *corev1.Pod, netns string) cni.Pod {
	return cni.Pod{
		Namespace: pod.Namespace, Name: pod.Name, UID: string(pod.UID), SandboxID: string(pod.UID),
		NetNS: netns, PortMappings: cni.PortMappings(pod), Annotations: pod.Annotations,
	}
}

// setupNetwork gives the pod its addresses: the node's for a host-network
// pod; for the others, what the pod folder records (an adopted pod), else
// a CNI ADD on the pod's network namespace, else (no config) loopback only
// with a condition saying so. The pod's /etc/hosts then maps its hostname
// to its IPs.
func (r *Runtime) setupNetwork(pod *corev1.Pod, sb *sandbox) error {
	if pod.Spec.HostNetwork {
		sb.podIPs = r.hostIPs()
		return nil
	}
	if r.cni == nil {
		return nil
	}
	netns := sb.namespaces[specs.NetworkNamespace]
	inode := nsInode(netns)
	st, err := readNetworkState(sb.dir)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.ctx, cniTimeout)
	defer cancel()
	switch {
	case st.Phase == phaseAttached && !sb.netnsFresh && st.NetNSInode == inode:
		sb.podIPs = st.IPs
		return r.writeHosts(pod, sb)
	case st.Phase == phaseLoopback && !sb.netnsFresh:
		sb.noNetworkConfig = st.ConfDir
		return nil
	case st.Phase == phaseAttaching || st.Phase == phaseAttached:
		// An ADD cut short, or made in a namespace that is gone: undo it
		// before attaching again.
		if err := r.cni.Teardown(ctx, cniPod(pod, netns)); err != nil {
			return fmt.Errorf("pod network: %w", err)
		}
	}
	network, err := r.cni.LoadNetwork()
	if errors.Is(err, cni.ErrNoConfig) {
		r.log.Warn("no CNI network config: the pod runs with loopback only", "pod", pod.Namespace+"/"+pod.Name, "conf_dir", r.cni.ConfDir(), "error", err)
		sb.noNetworkConfig = r.cni.ConfDir()
		return writeNetworkState(sb.dir, networkState{Phase: phaseLoopback, ConfDir: r.cni.ConfDir(), Namespace: pod.Namespace, Name: pod.Name})
	}
	if err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	st = networkState{Phase: phaseAttaching, Network: network.Name, ConfDir: r.cni.ConfDir(), Namespace: pod.Namespace, Name: pod.Name, NetNSInode: inode}
	if err := writeNetworkState(sb.dir, st); err != nil {
		return err
	}
	attach := cniPod(pod, netns)
	if data, err := os.ReadFile(sb.resolvPath); err == nil {
		rc := parseResolvConf(data)
		attach.DNS = &cni.DNS{Servers: rc.nameservers, Searches: rc.searches, Options: rc.options}
	}
	att, err := r.cni.Setup(ctx, network, attach)
	if err != nil {
		// Setup undid what it did: nothing is left to tear down.
		if rerr := os.Remove(filepath.Join(sb.dir, networkStateName)); rerr != nil {
			r.log.Warn("remove the pod network state after a failed ADD", "pod", pod.Namespace+"/"+pod.Name, "error", rerr)
		}
		return fmt.Errorf("pod network: %w", err)
	}
	st.Phase, st.IPs = phaseAttached, att.IPs
	if err := writeNetworkState(sb.dir, st); err != nil {
		return err
	}
	sb.podIPs = att.IPs
	return r.writeHosts(pod, sb)
}

func (r *Runtime) writeHosts(pod *corev1.Pod, sb *sandbox) error {
	hostHosts, _ := os.ReadFile(r.opts.HostsFile)
	if err := writeFileAtomic(sb.hostsPath, hostsFile(pod, hostHosts, sb.podIPs), 0o644); err != nil {
		return fmt.Errorf("pod files: %w", err)
	}
	return nil
}

// teardownNetwork detaches the pod in folder dir (CNI DEL) if it was
// attached, with the config libcni cached at ADD; the network namespace
// must still be mounted for plugins that clean up inside it, but a missing
// one is fine. Nothing is done for host-network and loopback-only pods.
func (r *Runtime) teardownNetwork(uid, dir string) error {
	st, err := readNetworkState(dir)
	if err != nil {
		return err
	}
	if st.Phase != phaseAttaching && st.Phase != phaseAttached {
		return nil
	}
	if r.cni == nil {
		return fmt.Errorf("pod network: %w: the pod was attached to network %s but CNI is off (cniConfDir is empty)", cni.ErrTeardown, st.Network)
	}
	ctx, cancel := context.WithTimeout(r.ctx, cniTimeout)
	defer cancel()
	pod := cni.Pod{Namespace: st.Namespace, Name: st.Name, UID: uid, SandboxID: uid, NetNS: filepath.Join(dir, "ns", nsKinds[specs.NetworkNamespace].proc)}
	if err := r.cni.Teardown(ctx, pod); err != nil {
		return fmt.Errorf("pod network: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, networkStateName)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pod network: %w", err)
	}
	return nil
}

// withNetworkStatus is pod with the status fields the downward API reads
// (status.podIP(s), status.hostIP(s)) filled from the sandbox; a shallow
// copy, the spec is shared.
func (r *Runtime) withNetworkStatus(pod *corev1.Pod, sb *sandbox) *corev1.Pod {
	p := *pod
	p.Status = corev1.PodStatus{}
	r.applyNetworkStatus(&p.Status, sb)
	return &p
}

// applyNetworkStatus fills the pod's IPs, the node's IPs and, for a pod
// left with loopback only, the condition saying so.
func (r *Runtime) applyNetworkStatus(st *corev1.PodStatus, sb *sandbox) {
	for _, ip := range r.hostIPs() {
		st.HostIPs = append(st.HostIPs, corev1.HostIP{IP: ip})
	}
	if len(st.HostIPs) > 0 {
		st.HostIP = st.HostIPs[0].IP
	}
	if sb == nil {
		return
	}
	for _, ip := range sb.podIPs {
		st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: ip})
	}
	if len(st.PodIPs) > 0 {
		st.PodIP = st.PodIPs[0].IP
	}
	if sb.noNetworkConfig != "" {
		st.Conditions = append(st.Conditions, corev1.PodCondition{
			Type: PodNetworkCondition, Status: corev1.ConditionFalse, Reason: ReasonNoCNIConfig,
			Message: fmt.Sprintf("no CNI network config in %s: the pod has loopback only; add a config there and recreate the pod to attach it", sb.noNetworkConfig),
		})
	}
}

// statusIPField is a downward-API status.podIP(s) or status.hostIP(s)
// from pod's status; the lists are comma separated, as the kubelet's.
func statusIPField(pod *corev1.Pod, path string) string {
	var ips []string
	switch path {
	case "status.podIP":
		return pod.Status.PodIP
	case "status.hostIP":
		return pod.Status.HostIP
	case "status.podIPs":
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
	case "status.hostIPs":
		for _, ip := range pod.Status.HostIPs {
			ips = append(ips, ip.IP)
		}
	}
	return strings.Join(ips, ",")
}
