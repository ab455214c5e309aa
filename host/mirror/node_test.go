package mirror

import (
	"net"
	"strings"
	"testing"
)

// TestCheckNodeIP: an address of one of this host's interfaces passes; loopback, a foreign address and a
// non-address are named with the reason.
func TestCheckNodeIP(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() {
			if err := CheckNodeIP(ipn.IP.String()); err != nil {
				t.Errorf("%s, an address of this host: %v", ipn.IP, err)
			}
		}
	}
	for ip, want := range map[string]string{"127.0.0.1": "loopback", "192.0.2.77": "no interface", "nope": "not an IP"} {
		if err := CheckNodeIP(ip); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("CheckNodeIP(%s) = %v, want %q", ip, err, want)
		}
	}
}

func TestOSImage(t *testing.T) {
	for in, want := range map[string]string{
		"NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n": "Debian GNU/Linux 12 (bookworm)",
		"PRETTY_NAME='Alpine Linux v3.20'\n":                                          "Alpine Linux v3.20",
		"PRETTY_NAME=Plain\n":                                                         "Plain",
		"ID=x\n":                                                                      "Linux",
	} {
		if got := osImage(in); got != want {
			t.Errorf("osImage(%q) = %q, want %q", in, got, want)
		}
	}
}
