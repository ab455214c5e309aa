package containerd_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// TestLifecycleHooks: postStart (exec, sleep) runs right after the start;
// at stop, preStop (exec, httpGet) runs before the stop signal, which is
// lifecycle.stopSignal; a failing postStart kills the container with the
// reason in its status.
func TestLifecycleHooks(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	data := t.TempDir()
	usr1 := corev1.Signal("SIGUSR1")
	app := corev1.Container{Name: "app", Image: e.image,
		Args:         []string{"sh", "-c", "trap 'echo $(cat /data/pre) > /data/sig; exit 0' USR1; sleep 3600 & wait"},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		Lifecycle: &corev1.Lifecycle{
			PostStart:  &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo post > /data/post"}}},
			PreStop:    &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo pre > /data/pre"}}},
			StopSignal: &usr1,
		},
	}
	web := corev1.Container{Name: "web", Image: e.image,
		Args:         []string{"sh", "-c", "mkdir -p /www; echo ok > /www/prestop; " + trapTERM + "httpd -f -vv -p 8082 -h /www 2>/data/httpd.log & wait"},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		Lifecycle: &corev1.Lifecycle{
			PostStart: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 1}},
			PreStop:   &corev1.LifecycleHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/prestop", Port: intstr.FromInt32(8082)}},
		},
	}
	p := pod("hooks-node1", "uid-hooks", corev1.RestartPolicyAlways, app, web)
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: data}}}}
	grace := int64(5)
	p.Spec.TerminationGracePeriodSeconds = &grace
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	waitContainer(t, rt, p.UID, "app", 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	if b, err := os.ReadFile(filepath.Join(data, "post")); err != nil || string(b) != "post\n" {
		t.Errorf("postStart did not run before the container counted as running: %q %v", b, err)
	}
	waitContainer(t, rt, p.UID, "web", 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	begin := time.Now()
	if err := rt.StopPod(t.Context(), p.UID, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 4*time.Second {
		t.Errorf("stop took %s: the stop signal after preStop was not heeded", took)
	}
	if b, err := os.ReadFile(filepath.Join(data, "sig")); err != nil || string(b) != "pre\n" {
		t.Errorf("stop signal SIGUSR1 after preStop: %q %v", b, err)
	}
	if logs, _ := os.ReadFile(filepath.Join(data, "httpd.log")); !strings.Contains(string(logs), "/prestop") {
		t.Errorf("the httpGet preStop hook never reached the server:\n%s", logs)
	}

	bad := corev1.Container{Name: "bad", Image: e.image, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"},
		Lifecycle: &corev1.Lifecycle{PostStart: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo nope; exit 3"}}}}}
	p = pod("badhook-node1", "uid-badhook", corev1.RestartPolicyNever, bad)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "bad", 10*time.Second, terminated)
	if m := cs.State.Terminated.Message; !strings.Contains(m, "PostStartHookError") || !strings.Contains(m, "nope") {
		t.Errorf("terminated after a failed postStart: %+v", cs.State.Terminated)
	}
}

// TestPreStopOnLivenessKill: a container killed by its liveness probe runs
// its preStop hook first, as the kubelet does.
func TestPreStopOnLivenessKill(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	data := t.TempDir()
	c := corev1.Container{Name: "app", Image: e.image, Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"},
		VolumeMounts:  []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
		LivenessProbe: fastProbe(corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}}, 1),
		Lifecycle:     &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Exec: &corev1.ExecAction{Command: []string{"sh", "-c", "echo pre >> /data/prestop"}}}},
	}
	p := pod("prestop-node1", "uid-prestop", corev1.RestartPolicyAlways, c)
	p.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: data}}}}
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "app", 15*time.Second, func(cs corev1.ContainerStatus) bool { return cs.RestartCount >= 1 })
	if last := cs.LastTerminationState.Terminated; last == nil || last.ExitCode != 143 {
		t.Errorf("last state: %+v, want the stop signal's exit after preStop", last)
	}
	if b, err := os.ReadFile(filepath.Join(data, "prestop")); err != nil || !strings.HasPrefix(string(b), "pre\n") {
		t.Errorf("preStop before the liveness kill: %q %v", b, err)
	}
}
