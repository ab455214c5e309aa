package fake_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/runtime/conformance"
	"github.com/staticlet/staticlet/host/runtime/fake"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		New: func(t *testing.T) agent.Runtime { return fake.New() },
		Pod: func(t *testing.T, ns, name string, uid types.UID) *corev1.Pod {
			return conformance.BasicPod(ns, name, uid, "busybox")
		},
		Reopen: func(t *testing.T, rt agent.Runtime) agent.Runtime { return rt.(*fake.Runtime).Restarted() },
		Reboot: func(t *testing.T, rt agent.Runtime) agent.Runtime { return rt.(*fake.Runtime).Rebooted() },
	})
}
