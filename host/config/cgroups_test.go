package config

import (
	"errors"
	"strings"
	"testing"
)

// TestCgroupSettings: the KubeletConfiguration's cgroup fields with the
// kubelet's defaults, and staticlet's own cgroupRoot winning over them.
func TestCgroupSettings(t *testing.T) {
	const header = "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n"
	defaults, err := ParseKubeletConfig("k.yaml", []byte(header))
	if err != nil {
		t.Fatal(err)
	}
	if defaults.CgroupRoot != "/" || defaults.CgroupsPerQOS != nil || defaults.CgroupDriver != "cgroupfs" || defaults.PodPidsLimit != -1 {
		t.Errorf("kubelet defaults: %+v", defaults)
	}
	set, err := ParseKubeletConfig("k.yaml", []byte(header+"cgroupRoot: /nodes\ncgroupsPerQOS: false\ncgroupDriver: systemd\npodPidsLimit: 4096\n"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Resolve(&set, StaticletConfiguration{}, Overrides{}, "n1")
	if err != nil {
		t.Fatal(err)
	}
	if s.CgroupRoot != "/nodes" || s.CgroupsPerQOS || s.CgroupDriver != "systemd" || s.PodPidsLimit != 4096 {
		t.Errorf("from the KubeletConfiguration: %+v", s)
	}
	s, err = Resolve(&set, StaticletConfiguration{CgroupRoot: "/staticlet"}, Overrides{}, "n1")
	if err != nil || s.CgroupRoot != "/staticlet" {
		t.Errorf("staticlet's cgroupRoot: %q, %v", s.CgroupRoot, err)
	}
	s, err = Resolve(nil, StaticletConfiguration{}, Overrides{}, "n1")
	if err != nil || s.CgroupRoot != "/" || !s.CgroupsPerQOS || s.CgroupDriver != "cgroupfs" || s.PodPidsLimit != -1 {
		t.Errorf("without a KubeletConfiguration: %+v, %v", s, err)
	}

	bad, err := ParseKubeletConfig("k.yaml", []byte(header+"cgroupDriver: runit\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Resolve(&bad, StaticletConfiguration{CgroupRoot: "staticlet"}, Overrides{}, "n1")
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "cgroupDriver") || !strings.Contains(err.Error(), "cgroupRoot") {
		t.Errorf("bad driver and relative root: %v", err)
	}
}
