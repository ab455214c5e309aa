package containerd

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// podHostname is the pod's hostname as the kubelet sets it: spec.hostname or
// the pod name, at most 63 characters, without a trailing dash or dot.
func podHostname(pod *corev1.Pod) string {
	h := pod.Name
	if pod.Spec.Hostname != "" {
		h = pod.Spec.Hostname
	}
	if len(h) > 63 {
		h = strings.TrimRight(h[:63], "-.")
	}
	return h
}

// hostsFile is the /etc/hosts the kubelet writes: for a host-network pod the
// host's own file, otherwise the standard local entries; then hostAliases.
// The pod's IPs (none with loopback only) map its hostname.
func hostsFile(pod *corev1.Pod, hostHosts []byte, podIPs []string) []byte {
	var b bytes.Buffer
	if pod.Spec.HostNetwork {
		b.WriteString("# Kubernetes-managed hosts file (host network).\n")
		b.Write(hostHosts)
		if len(hostHosts) > 0 && hostHosts[len(hostHosts)-1] != '\n' {
			b.WriteByte('\n')
		}
	} else {
		b.WriteString("# Kubernetes-managed hosts file.\n")
		b.WriteString("127.0.0.1\tlocalhost\n")
		b.WriteString("::1\tlocalhost ip6-localhost ip6-loopback\n")
		b.WriteString("fe00::0\tip6-localnet\n")
		b.WriteString("fe00::0\tip6-mcastprefix\n")
		b.WriteString("fe00::1\tip6-allnodes\n")
		b.WriteString("fe00::2\tip6-allrouters\n")
		for _, ip := range podIPs {
			fmt.Fprintf(&b, "%s\t%s\n", ip, podHostname(pod))
		}
	}
	if len(pod.Spec.HostAliases) > 0 {
		b.WriteString("\n# Entries added by HostAliases.\n")
		for _, a := range pod.Spec.HostAliases {
			fmt.Fprintf(&b, "%s\t%s\n", a.IP, strings.Join(a.Hostnames, "\t"))
		}
	}
	return b.Bytes()
}

// DNS is the node's cluster DNS, from the KubeletConfiguration's clusterDNS
// and clusterDomain; empty when none is configured.
type DNS struct {
	Servers []string
	Domain  string
}

const maxNameservers, maxSearches, maxSearchChars = 3, 32, 2048

type resolvConf struct {
	nameservers, searches, options []string
}

func parseResolvConf(data []byte) resolvConf {
	var rc resolvConf
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = line[:i]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "nameserver":
			if len(f) > 1 {
				rc.nameservers = append(rc.nameservers, f[1])
			}
		case "search", "domain":
			rc.searches = f[1:]
		case "options":
			rc.options = append(rc.options, f[1:]...)
		}
	}
	return rc
}

// resolvConfFile is the /etc/resolv.conf the kubelet writes for the pod's
// dnsPolicy: the host's settings (Default, or ClusterFirst without cluster
// DNS or on the host network), the cluster's (ClusterFirst,
// ClusterFirstWithHostNet), or only dnsConfig (None); dnsConfig is merged in
// last.
func resolvConfFile(pod *corev1.Pod, hostResolv []byte, dns DNS) []byte {
	host := parseResolvConf(hostResolv)
	var rc resolvConf
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	cluster := len(dns.Servers) > 0
	switch {
	case policy == corev1.DNSNone:
	case policy == corev1.DNSDefault,
		policy == corev1.DNSClusterFirst && (pod.Spec.HostNetwork || !cluster),
		policy == corev1.DNSClusterFirstWithHostNet && !cluster:
		rc = host
	default:
		rc.nameservers = append(rc.nameservers, dns.Servers...)
		if dns.Domain != "" {
			rc.searches = []string{pod.Namespace + ".svc." + dns.Domain, "svc." + dns.Domain, dns.Domain}
		}
		rc.searches = append(rc.searches, host.searches...)
		rc.options = []string{"ndots:5"}
	}
	if c := pod.Spec.DNSConfig; c != nil {
		rc.nameservers = appendNew(rc.nameservers, c.Nameservers...)
		rc.searches = appendNew(rc.searches, c.Searches...)
		for _, o := range c.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			rc.options = setOption(rc.options, o.Name, opt)
		}
	}
	// The kubelet's limits: three nameservers, 32 search domains of at
	// most 2048 characters in all.
	rc.nameservers = rc.nameservers[:min(len(rc.nameservers), maxNameservers)]
	rc.searches = rc.searches[:min(len(rc.searches), maxSearches)]
	for len(rc.searches) > 0 && len(strings.Join(rc.searches, " ")) > maxSearchChars {
		rc.searches = rc.searches[:len(rc.searches)-1]
	}
	var b bytes.Buffer
	for _, ns := range rc.nameservers {
		fmt.Fprintf(&b, "nameserver %s\n", ns)
	}
	if len(rc.searches) > 0 {
		fmt.Fprintf(&b, "search %s\n", strings.Join(rc.searches, " "))
	}
	if len(rc.options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(rc.options, " "))
	}
	return b.Bytes()
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		found := false
		for _, l := range list {
			found = found || l == it
		}
		if !found {
			list = append(list, it)
		}
	}
	return list
}

func setOption(opts []string, name, opt string) []string {
	for i, o := range opts {
		if o == name || strings.HasPrefix(o, name+":") {
			opts[i] = opt
			return opts
		}
	}
	return append(opts, opt)
}
