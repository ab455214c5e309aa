package containerd_test

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/staticlet/staticlet/host/runtime/containerd"
)

// TestVolumesAndDownwardAPI runs a pod with a downwardAPI volume, a Memory
// emptyDir shared by two containers, a subPathExpr mount, resourceFieldRef
// env and cluster DNS, and checks what the containers see.
func TestVolumesAndDownwardAPI(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	opts.DNS = containerd.DNS{Servers: []string{"10.96.0.10"}, Domain: "cluster.local"}
	rt := newRuntime(t, opts)
	readOnlyMode, size := int32(0o400), resource.MustParse("1Mi")
	script := `set -e; cat /proj/ns; echo; cat /info/name; echo; cat /info/labels; echo; cat /info/sub/uid; echo; cat /info/cpu; echo
stat -c 'mode %a' /info/labels
touch /info/x 2>/dev/null && echo writable || echo read-only
echo "mem $MEM cpu-req $CPUREQ cpu-limit $CPULIM"
for i in $(seq 50); do [ -f /mem/hello ] && break; sleep 0.1; done; cat /mem/hello
df -k /mem | tail -1 | awk '{print "mem size " $2}'
echo sub > /sub/file
grep -E 'nameserver|search' /etc/resolv.conf`
	p := pod("vol-node1", "uid-vol", corev1.RestartPolicyNever,
		corev1.Container{Name: "c", Image: e.image, Args: []string{"sh", "-c", script},
			Env: []corev1.EnvVar{
				{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				{Name: "MEM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
				{Name: "CPUREQ", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "requests.cpu", Divisor: resource.MustParse("1m")}}},
				{Name: "CPULIM", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}},
			},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m")},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "info", MountPath: "/info"}, {Name: "proj", MountPath: "/proj"}, {Name: "mem", MountPath: "/mem"}, {Name: "data", MountPath: "/sub", SubPathExpr: "$(POD)"}}},
		corev1.Container{Name: "writer", Image: e.image, Args: []string{"sh", "-c", "echo hello from writer > /mem/hello"},
			VolumeMounts: []corev1.VolumeMount{{Name: "mem", MountPath: "/mem"}}},
	)
	p.Labels = map[string]string{"b": "two", "a": `o"ne`}
	p.Spec.Volumes = []corev1.Volume{
		{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}},
			{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}, Mode: &readOnlyMode},
			{Path: "sub/uid", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.uid"}},
			{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "c", Resource: "requests.cpu", Divisor: resource.MustParse("1m")}},
		}}}},
		{Name: "proj", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{
			{Path: "ns", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}}}}}}}},
		{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &size}}},
		{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	cs := waitContainer(t, rt, p.UID, "c", 20*time.Second, terminated)
	time.Sleep(200 * time.Millisecond) // the logger writes after the exit
	logs := readLog(t, opts, p, "c", 0)
	if cs.State.Terminated.ExitCode != 0 {
		t.Errorf("exit code %d; logs:\n%s", cs.State.Terminated.ExitCode, logs)
	}
	for _, want := range []string{
		"default\nvol-node1\n", "a=\"o\\\"ne\"\n", "b=\"two\"\n", "uid-vol\n", "250\n",
		"mode 400\n", "read-only\n",
		"mem 64 cpu-req 250 cpu-limit " + strconv.Itoa(runtime.NumCPU()) + "\n",
		"hello from writer\n", "mem size 1024\n",
		"nameserver 10.96.0.10\n", "search default.svc.cluster.local svc.cluster.local cluster.local",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	podDir := filepath.Join(opts.StateDir, "pods", string(p.UID))
	if data, err := os.ReadFile(filepath.Join(podDir, "volumes", "data", "vol-node1", "file")); err != nil || string(data) != "sub\n" {
		t.Errorf("subPathExpr folder: %q, %v", data, err)
	}
	if err := rt.StopPod(t.Context(), p.UID, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(podDir); !os.IsNotExist(err) {
		t.Errorf("pod folder (with its tmpfs) not removed: %v", err)
	}
}

// TestHostPathTypes checks hostPath types as the kubelet does: the OrCreate
// types create, the others must exist as that type, and a failed check
// leaves the container waiting with CreateContainerConfigError naming the
// path.
func TestHostPathTypes(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	dir := t.TempDir()
	regular := filepath.Join(dir, "regular")
	if err := os.WriteFile(regular, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	hp := func(name, path string, typ corev1.HostPathType) corev1.Volume {
		return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &typ}}}
	}
	mounter := func(name, volume string) corev1.Container {
		return corev1.Container{Name: name, Image: e.image, Args: []string{"true"}, VolumeMounts: []corev1.VolumeMount{{Name: volume, MountPath: "/v"}}}
	}
	p := pod("hostpath-node1", "uid-hostpath", corev1.RestartPolicyNever,
		mounter("mkdir", "dir-or-create"), mounter("mkfile", "file-or-create"), mounter("null", "chardev"),
		mounter("missing", "directory"), mounter("not-socket", "socket"), mounter("not-dir", "file-as-dir"))
	p.Spec.Volumes = []corev1.Volume{
		hp("dir-or-create", filepath.Join(dir, "made/deep"), corev1.HostPathDirectoryOrCreate),
		hp("file-or-create", filepath.Join(dir, "file"), corev1.HostPathFileOrCreate),
		hp("chardev", "/dev/null", corev1.HostPathCharDev),
		hp("directory", filepath.Join(dir, "absent"), corev1.HostPathDirectory),
		hp("socket", regular, corev1.HostPathSocket),
		hp("file-as-dir", regular, corev1.HostPathDirectoryOrCreate),
	}
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mkdir", "mkfile", "null"} {
		if cs := waitContainer(t, rt, p.UID, name, 10*time.Second, terminated); cs.State.Terminated.ExitCode != 0 {
			t.Errorf("%s: exit code %d", name, cs.State.Terminated.ExitCode)
		}
	}
	for name, want := range map[string]os.FileMode{"made/deep": os.ModeDir | 0o755, "file": 0o644} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode() != want {
			t.Errorf("%s: created %v, %v; want mode %v", name, st.Mode(), err, want)
		}
	}
	for name, msg := range map[string]string{
		"missing":    filepath.Join(dir, "absent") + " is not a directory",
		"not-socket": regular + " is not a socket file",
		"not-dir":    regular + " is not a directory",
	} {
		cs := waitContainer(t, rt, p.UID, name, 5*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Waiting != nil && cs.State.Waiting.Message != "" })
		if cs.State.Waiting.Reason != "CreateContainerConfigError" || !strings.Contains(cs.State.Waiting.Message, msg) {
			t.Errorf("%s: waiting %+v, want CreateContainerConfigError saying %q", name, cs.State.Waiting, msg)
		}
	}
}

// TestMountPropagation: a HostToContainer mount of a shared host folder sees
// a mount made on the host after the container started.
func TestMountPropagation(t *testing.T) {
	e := newEnv(t)
	opts := e.options(t)
	rt := newRuntime(t, opts)
	dir := t.TempDir()
	if err := unix.Mount(dir, dir, "", unix.MS_BIND, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	if err := unix.Mount("", dir, "", unix.MS_SHARED, ""); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	hostToContainer, none := corev1.MountPropagationHostToContainer, corev1.MountPropagationNone
	watcher := func(name string, prop *corev1.MountPropagationMode) corev1.Container {
		return corev1.Container{Name: name, Image: e.image,
			Args:         []string{"sh", "-c", "for i in $(seq 100); do [ -f /host/sub/marker ] && echo seen && exit 0; sleep 0.1; done; echo unseen"},
			VolumeMounts: []corev1.VolumeMount{{Name: "host", MountPath: "/host", MountPropagation: prop}}}
	}
	p := pod("prop-node1", "uid-prop", corev1.RestartPolicyNever, watcher("slave", &hostToContainer), watcher("private", &none))
	p.Spec.Volumes = []corev1.Volume{{Name: "host", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}}
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"slave", "private"} {
		waitContainer(t, rt, p.UID, name, 10*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	}
	if err := unix.Mount("tmpfs", sub, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Unmount(sub, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(sub, "marker"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"slave": "seen\n", "private": "unseen\n"} {
		waitContainer(t, rt, p.UID, name, 20*time.Second, terminated)
		time.Sleep(200 * time.Millisecond)
		if logs := readLog(t, opts, p, name, 0); !strings.Contains(logs, want) {
			t.Errorf("%s: logs %q, want %q", name, logs, want)
		}
	}
}
