package config

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// TestRegisterWithTaints: unset is the default NoSchedule taint, [] is none, a list is taken as it is; a bad
// taint, port or node IP names its field.
func TestRegisterWithTaints(t *testing.T) {
	s, err := Resolve(nil, StaticletConfiguration{}, Overrides{}, "worker-1")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.RegisterWithTaints) != 1 || s.RegisterWithTaints[0].Key != DefaultNodeTaintKey || s.RegisterWithTaints[0].Effect != corev1.TaintEffectNoSchedule || s.KubeletPort != 0 {
		t.Errorf("defaults: taints %v, kubelet port %d", s.RegisterWithTaints, s.KubeletPort)
	}
	for _, tt := range []struct {
		yaml string
		want int
	}{{"registerWithTaints: []\n", 0}, {"registerWithTaints:\n- {key: dedicated, value: infra, effect: NoExecute}\n", 1}} {
		sc, err := ParseStaticletConfig("staticlet.yaml", []byte("apiVersion: staticlet.dev/v1alpha1\nkind: StaticletConfiguration\nkubeconfig: /etc/kubernetes/kubelet.conf\nkubeletPort: 10250\n"+tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		s, err := Resolve(nil, sc, Overrides{}, "worker-1")
		if err != nil || len(s.RegisterWithTaints) != tt.want || s.KubeletPort != 10250 {
			t.Errorf("%q: taints %v, port %d, %v", tt.yaml, s.RegisterWithTaints, s.KubeletPort, err)
		}
	}
	_, err = Resolve(nil, StaticletConfiguration{KubeletPort: 70000, NodeIP: "0.0.0.0", RegisterWithTaints: []corev1.Taint{{Key: "bad key", Effect: "Never"}}}, Overrides{}, "worker-1")
	for _, field := range []string{"registerWithTaints[0].key", "registerWithTaints[0].effect", "kubeletPort", "nodeIP"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("error does not name %s: %v", field, err)
		}
	}
}
