package mirror

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
)

// NodeOptions is what a registered Node says about this host (see mirrorpod.NodeOptions).
type NodeOptions = mirrorpod.NodeOptions

// NodeLeaseNamespace is where nodes renew their Lease.
const NodeLeaseNamespace = mirrorpod.NodeLeaseNamespace

// HostNodeOptions fills what opts leaves empty from this host: capacity (CPUs, /proc/meminfo, 110 pods)
// and addresses (the first global unicast IPv4 address of an interface that is up, else 127.0.0.1).
func HostNodeOptions(nodeName string, opts NodeOptions) (NodeOptions, error) {
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
