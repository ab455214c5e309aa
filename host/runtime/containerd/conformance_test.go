package containerd_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/runtime/conformance"
	"github.com/staticlet/staticlet/host/runtime/containerd"
)

func contextWithTimeout(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	_ = cancel // released when the timer fires; cleanup contexts are few
	return ctx
}

// trapTERM makes sh, as PID 1, exit at once on SIGTERM: without a handler
// the kernel drops SIGTERM for a namespace's init.
const trapTERM = "trap 'exit 143' TERM; "

func TestConformance(t *testing.T) {
	e := newEnv(t)
	optsOf := map[agent.Runtime]containerd.Options{}
	newRT := func(t *testing.T) agent.Runtime {
		opts := e.options(t)
		rt := newRuntime(t, opts)
		optsOf[rt] = opts
		return rt
	}
	conformance.Run(t, conformance.Harness{
		New: newRT,
		Pod: func(t *testing.T, ns, name string, uid types.UID) *corev1.Pod {
			return conformance.BasicPod(ns, name, uid, e.image, "sh", "-c", trapTERM+"sleep 3600 & wait")
		},
		Reopen: func(t *testing.T, old agent.Runtime) agent.Runtime {
			if err := old.(*containerd.Runtime).Close(); err != nil {
				t.Fatal(err)
			}
			rt := newRuntime(t, optsOf[old])
			optsOf[rt] = optsOf[old]
			return rt
		},
		Reboot: func(t *testing.T, old agent.Runtime) agent.Runtime {
			if err := old.(*containerd.Runtime).Close(); err != nil {
				t.Fatal(err)
			}
			simulateReboot(t, optsOf[old])
			rt := newRuntime(t, optsOf[old])
			optsOf[rt] = optsOf[old]
			return rt
		},
		ExitingPod: func(t *testing.T, ns, name string, uid types.UID, code int, policy corev1.RestartPolicy) *corev1.Pod {
			p := conformance.BasicPod(ns, name, uid, e.image, "sh", "-c", fmt.Sprintf("sleep 0.2; exit %d", code))
			p.Spec.RestartPolicy = policy
			return p
		},
		SignalPod: func(t *testing.T, ns, name string, uid types.UID, trap bool) *corev1.Pod {
			script := "trap '' TERM; sleep 3600 & wait"
			if trap {
				script = trapTERM + "sleep 3600 & wait"
			}
			return conformance.BasicPod(ns, name, uid, e.image, "sh", "-c", script)
		},
		CrashLoopBase: testBackoff.Base,
		Timeout:       60 * time.Second,
	})
}
