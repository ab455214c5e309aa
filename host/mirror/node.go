package mirror

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	utilnet "k8s.io/apimachinery/pkg/util/net"

	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
)

// NodeOptions is what a registered Node says about this host (see mirrorpod.NodeOptions).
type NodeOptions = mirrorpod.NodeOptions

// NodeLeaseNamespace is where nodes renew their Lease.
const NodeLeaseNamespace = mirrorpod.NodeLeaseNamespace

// HostNodeOptions fills what opts leaves empty from this host: capacity (CPUs, /proc/meminfo, 110 pods),
// addresses (the address of the interface with the default route, as the kubelet chooses it without
// --node-ip, else the first global unicast IPv4 address of an interface that is up, else 127.0.0.1) and
// the system facts of nodeInfo (HostSystemInfo).
func HostNodeOptions(nodeName string, opts NodeOptions) (NodeOptions, error) {
	if opts.SystemInfo == (corev1.NodeSystemInfo{}) {
		opts.SystemInfo = HostSystemInfo()
	}
	if len(opts.Capacity) == 0 {
		mem, err := memTotal()
		if err != nil {
			return opts, fmt.Errorf("node capacity: %w", err)
		}
		opts.Capacity = corev1.ResourceList{
			corev1.ResourceCPU:    *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
			corev1.ResourceMemory: *resource.NewQuantity(mem, resource.BinarySI),
			corev1.ResourcePods:   *resource.NewQuantity(110, resource.DecimalSI),
		}
	}
	if len(opts.Addresses) == 0 {
		opts.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: hostIPv4()}, {Type: corev1.NodeHostName, Address: nodeName}}
	}
	return opts, nil
}

func memTotal() (int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("read memory size: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("read memory size: /proc/meminfo: MemTotal: %w", err)
			}
			return kib * 1024, nil
		}
	}
	return 0, fmt.Errorf("read memory size: /proc/meminfo has no MemTotal line")
}

func hostIPv4() string {
	if ip, err := utilnet.ChooseHostInterface(); err == nil && ip.To4() != nil {
		return ip.String()
	}
	ifaces, err := net.Interfaces()
	if err == nil {
		for _, iface := range ifaces {
			if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
				continue
			}
			addrs, err := iface.Addrs()
			if err != nil {
				continue
			}
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && ipn.IP.IsGlobalUnicast() {
					return ipn.IP.String()
				}
			}
		}
	}
	return "127.0.0.1"
}

// HostSystemInfo reads the facts the kubelet reports in a Node's nodeInfo (through cAdvisor): the kernel
// release (/proc/sys/kernel/osrelease), the OS image (/etc/os-release PRETTY_NAME, else "Linux"), the boot
// ID (/proc/sys/kernel/random/boot_id), the machine ID (/etc/machine-id, else /var/lib/dbus/machine-id)
// and the system UUID (/sys/class/dmi/id/product_uuid, readable by root only on most hosts). A fact that
// cannot be read is left empty, as the kubelet leaves it.
func HostSystemInfo() corev1.NodeSystemInfo {
	return corev1.NodeSystemInfo{
		KernelVersion: readFact("/proc/sys/kernel/osrelease"),
		OSImage:       osImage(readFact("/etc/os-release")),
		BootID:        readFact("/proc/sys/kernel/random/boot_id"),
		MachineID:     cmp.Or(readFact("/etc/machine-id"), readFact("/var/lib/dbus/machine-id")),
		SystemUUID:    readFact("/sys/class/dmi/id/product_uuid"),
	}
}

func readFact(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}

// osImage is os-release's PRETTY_NAME, unquoted, or "Linux" as cAdvisor reports a host without one.
func osImage(osRelease string) string {
	for _, line := range strings.Split(osRelease, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "PRETTY_NAME="); ok {
			if u, err := strconv.Unquote(v); err == nil {
				v = u
			}
			if v = strings.Trim(v, "'"); v != "" {
				return v
			}
		}
	}
	return "Linux"
}

// CheckNodeIP says why a configured nodeIP may not be one the API server reaches this node on: a loopback
// address (only this host reaches it), or one no interface of this host has (a typo, a moved address). The
// kubelet refuses both for --node-ip; staticlet warns, since a single-host cluster and tests use loopback.
func CheckNodeIP(nodeIP string) error {
	ip := net.ParseIP(nodeIP)
	if ip == nil {
		return fmt.Errorf("node IP %q: not an IP address", nodeIP)
	}
	if ip.IsLoopback() {
		return fmt.Errorf("node IP %s: a loopback address, which only this host reaches", nodeIP)
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("node IP %s: list this host's addresses: %w", nodeIP, err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(ip) {
			return nil
		}
	}
	return fmt.Errorf("node IP %s: no interface of this host has this address", nodeIP)
}
