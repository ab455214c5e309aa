package config

import (
	"errors"
	"strings"
	"testing"
)

func TestMirrorSettings(t *testing.T) {
	tests := []struct {
		name    string
		sc      StaticletConfiguration
		wantErr string // a field name the error must start a line with; empty for none
	}{
		{"standalone", StaticletConfiguration{}, ""},
		{"register with kubeconfig", StaticletConfiguration{Kubeconfig: "/etc/staticlet/kubeconfig", RegisterNode: true, NodeIP: "192.0.2.10",
			NodeLabels: map[string]string{"tier": "edge", "node.kubernetes.io/pool": "a", "topology.kubernetes.io/zone": "z1", "example.com/x": "y"}}, ""},
		{"register without kubeconfig", StaticletConfiguration{RegisterNode: true}, "registerNode"},
		{"bad node IP", StaticletConfiguration{NodeIP: "not-an-ip"}, "nodeIP"},
		{"label NodeRestriction refuses", StaticletConfiguration{NodeLabels: map[string]string{"node-role.kubernetes.io/control-plane": ""}}, "nodeLabels[node-role.kubernetes.io/control-plane]"},
		{"node-restriction prefix", StaticletConfiguration{NodeLabels: map[string]string{"node-restriction.kubernetes.io/x": "y"}}, "nodeLabels[node-restriction.kubernetes.io/x]"},
		{"k8s.io label", StaticletConfiguration{NodeLabels: map[string]string{"k8s.io/x": "y"}}, "nodeLabels[k8s.io/x]"},
		{"invalid key", StaticletConfiguration{NodeLabels: map[string]string{"bad key": "y"}}, "nodeLabels[bad key]"},
		{"invalid value", StaticletConfiguration{NodeLabels: map[string]string{"tier": "no spaces"}}, "nodeLabels[tier]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Resolve(nil, tt.sc, Overrides{}, "worker-1")
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if s.RegisterNode != tt.sc.RegisterNode || s.NodeIP != tt.sc.NodeIP || len(s.NodeLabels) != len(tt.sc.NodeLabels) {
					t.Errorf("settings = %+v", s)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.HasPrefix(err.Error(), tt.wantErr+":") {
				t.Errorf("err = %v, want one naming %s", err, tt.wantErr)
			}
		})
	}
}
