package containerd_test

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func fastProbe(h corev1.ProbeHandler, failures int32) *corev1.Probe {
	return &corev1.Probe{ProbeHandler: h, PeriodSeconds: 1, TimeoutSeconds: 1, SuccessThreshold: 1, FailureThreshold: failures}
}

// TestReadinessHTTPInPodNetns: an httpGet readiness probe on a named port
// reaches a server on the pod's own loopback (inside its network
// namespace), and drives the container's and the pod's readiness.
func TestReadinessHTTPInPodNetns(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	c := corev1.Container{Name: "web", Image: e.image,
		Args:  []string{"sh", "-c", "mkdir -p /www; echo ok > /www/healthz; sleep 1.5; exec httpd -f -p 8081 -h /www"},
		Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8081}},
		ReadinessProbe: fastProbe(corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http"),
			Scheme: corev1.URISchemeHTTP, HTTPHeaders: []corev1.HTTPHeader{{Name: "X-Test", Value: "1"}}}}, 1),
	}
	p := pod("ready-node1", "uid-ready", corev1.RestartPolicyAlways, c)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "web", 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	if cs.Ready {
		t.Error("ready before its readiness probe passed")
	}
	st, _ := rt.PodStatus(p.UID)
	if condition(st, corev1.PodReady) != corev1.ConditionFalse {
		t.Errorf("pod Ready before the probe passed: %+v", st.Conditions)
	}
	waitContainer(t, rt, p.UID, "web", 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.Ready })
	st, _ = rt.PodStatus(p.UID)
	if condition(st, corev1.PodReady) != corev1.ConditionTrue || condition(st, corev1.ContainersReady) != corev1.ConditionTrue {
		t.Errorf("pod not Ready after the probe passed: %+v", st.Conditions)
	}
}

// TestLivenessRestarts: a failing tcpSocket liveness probe kills the
// container (SIGKILL after the grace period: sleep as PID 1 ignores
// SIGTERM) and the restart policy restarts it, with the reason in its last
// state; a passing exec readiness probe keeps it ready meanwhile.
func TestLivenessRestarts(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	c := corev1.Container{Name: "app", Image: e.image, Args: []string{"sleep", "3600"},
		LivenessProbe:  fastProbe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9)}}, 2),
		ReadinessProbe: fastProbe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-d", "/proc/1"}}}, 1),
	}
	p := pod("live-node1", "uid-live", corev1.RestartPolicyAlways, c)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	waitContainer(t, rt, p.UID, "app", 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.Ready })
	cs := waitContainer(t, rt, p.UID, "app", 20*time.Second, func(cs corev1.ContainerStatus) bool { return cs.RestartCount >= 1 })
	last := cs.LastTerminationState.Terminated
	if last == nil || !strings.Contains(last.Message, "liveness probe failed") || last.ExitCode != 137 {
		t.Errorf("last state after a liveness kill: %+v", last)
	}
}

// TestStartupProbeGates: until the exec startup probe passes the container
// is neither started nor ready and its readiness probe does not run; a
// startup probe that never passes kills the container.
func TestStartupProbeGates(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	c := corev1.Container{Name: "slow", Image: e.image, Args: []string{"sh", "-c", "sleep 2; touch /tmp/up; " + trapTERM + "sleep 3600 & wait"},
		StartupProbe:   fastProbe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"test", "-f", "/tmp/up"}}}, 10),
		ReadinessProbe: fastProbe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}, 1),
	}
	never := corev1.Container{Name: "never", Image: e.image, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"},
		StartupProbe: fastProbe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo not yet; exit 1"}}}, 2),
	}
	p := pod("startup-node1", "uid-startup", corev1.RestartPolicyAlways, c, never)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "slow", 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	if *cs.Started || cs.Ready {
		t.Errorf("started %v ready %v before the startup probe passed", *cs.Started, cs.Ready)
	}
	cs = waitContainer(t, rt, p.UID, "slow", 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.Ready })
	if !*cs.Started {
		t.Error("ready but not started")
	}
	cs = waitContainer(t, rt, p.UID, "never", 15*time.Second, func(cs corev1.ContainerStatus) bool { return cs.RestartCount >= 1 })
	if last := cs.LastTerminationState.Terminated; last == nil || !strings.Contains(last.Message, "startup probe failed") || !strings.Contains(last.Message, "not yet") {
		t.Errorf("last state after a startup kill: %+v", last)
	}
}

// TestLivenessKillRestartsOnFailure: under restartPolicy OnFailure a
// container a liveness probe killed is restarted even when it exits 0 on
// the stop signal, as the kubelet restarts it whatever the exit code.
func TestLivenessKillRestartsOnFailure(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	c := corev1.Container{Name: "app", Image: e.image, Args: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"},
		LivenessProbe: fastProbe(corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9)}}, 2),
	}
	p := pod("live-onfailure-node1", "uid-live-onfailure", corev1.RestartPolicyOnFailure, c)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "app", 20*time.Second, func(cs corev1.ContainerStatus) bool { return cs.RestartCount >= 1 })
	last := cs.LastTerminationState.Terminated
	if last == nil || last.ExitCode != 0 || !strings.Contains(last.Message, "liveness probe failed") {
		t.Errorf("last state after a liveness kill: %+v", last)
	}
}
