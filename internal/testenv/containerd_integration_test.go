package testenv_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/core/transfer/archive"
	transferimage "github.com/containerd/containerd/v2/core/transfer/image"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/staticlet/staticlet/internal/testenv"
	"github.com/staticlet/staticlet/internal/testenv/ociimage"
)

// namespace is where every test here works; container IDs come from testenv.ContainerID.
const namespace = "staticlet-test"

// capSysResource is CAP_SYS_RESOURCE's bit in /proc/PID/status's capability masks.
const capSysResource = 24

// rig is a client connected to the test containerd, with the busybox image imported and unpacked.
type rig struct {
	address     string
	snapshotter string
	client      *client.Client
	ctx         context.Context
	image       client.Image
}

func newRig(t *testing.T) rig {
	t.Helper()
	address := testenv.Containerd(t)
	c, err := client.New(address)
	if err != nil {
		t.Fatalf("client.New(%s): %v", address, err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := namespaces.WithNamespace(t.Context(), namespace)
	ref := testenv.ImportBusybox(t, address, namespace)
	image, err := c.GetImage(ctx, ref)
	if err != nil {
		t.Fatalf("GetImage(%s): %v", ref, err)
	}
	snapshotter := testenv.Snapshotter(address)
	if snapshotter == "" {
		// What the client falls back to: the namespace's default, then its own.
		labels, err := c.NamespaceService().Labels(ctx, namespace)
		if err != nil {
			t.Fatalf("namespace labels: %v", err)
		}
		if snapshotter = labels[defaults.DefaultSnapshotterNSLabel]; snapshotter == "" {
			snapshotter = defaults.DefaultSnapshotter
		}
	}
	unpacked, err := image.IsUnpacked(ctx, snapshotter)
	if err != nil || !unpacked {
		t.Fatalf("image %s unpacked for %q = %v, %v; want true", ref, snapshotter, unpacked, err)
	}
	return rig{address: address, snapshotter: snapshotter, client: c, ctx: ctx, image: image}
}

// started is a running busybox container.
type started struct {
	container client.Container
	task      client.Task
	exit      <-chan client.ExitStatus
	// createStart is the time from NewContainer until Start returned; the other durations split it.
	createStart, newContainer, newTask, startTask time.Duration
}

// start creates a container from the unpacked image with a fresh snapshot and runs args in it. The
// container, its task and its snapshot are removed when the test ends, whatever state they are in.
func (r rig) start(t *testing.T, id string, stdio cio.Creator, args ...string) started {
	t.Helper()
	begin := time.Now()
	container, err := r.client.NewContainer(r.ctx, id,
		client.WithImage(r.image),
		client.WithNewSnapshot(id+"-rootfs", r.image),
		client.WithNewSpec(oci.WithImageConfig(r.image), oci.WithProcessArgs(args...)))
	if err != nil {
		t.Fatalf("NewContainer %s: %v", id, err)
	}
	created := time.Now()
	t.Cleanup(func() { removeContainer(t, r.ctx, container) })
	task, err := container.NewTask(r.ctx, stdio)
	if err != nil {
		t.Fatalf("NewTask %s: %v", id, err)
	}
	// Wait before Start, so an exit right after Start cannot be missed.
	exit, err := task.Wait(r.ctx)
	if err != nil {
		t.Fatalf("Wait %s: %v", id, err)
	}
	taskCreated := time.Now()
	if err := task.Start(r.ctx); err != nil {
		t.Fatalf("Start %s: %v", id, err)
	}
	end := time.Now()
	return started{
		container: container, task: task, exit: exit, createStart: end.Sub(begin),
		newContainer: created.Sub(begin), newTask: taskCreated.Sub(created), startTask: end.Sub(taskCreated),
	}
}

func removeContainer(t *testing.T, ctx context.Context, container client.Container) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if task, err := container.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			t.Errorf("cleanup: delete task %s: %v", container.ID(), err)
		}
	}
	if err := container.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		t.Errorf("cleanup: delete container %s: %v", container.ID(), err)
	}
}

// waitExit returns the task's exit status, or fails the test after timeout.
func waitExit(t *testing.T, exit <-chan client.ExitStatus, timeout time.Duration) client.ExitStatus {
	t.Helper()
	select {
	case status := <-exit:
		if err := status.Error(); err != nil {
			t.Fatalf("exit status: %v", err)
		}
		return status
	case <-time.After(timeout):
		t.Fatalf("task did not exit within %v", timeout)
		return client.ExitStatus{}
	}
}

// waitForFile waits until path contains want: the shim writes a cio.LogFile at its own pace.
func waitForFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want it to contain %q", path, data, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestLifecycle is the compatibility proof: client v2 drives a containerd 1.6 daemon through import,
// unpack, create, start, output capture, kill, wait, delete and snapshot cleanup, and the task events
// arrive on the event stream.
func TestLifecycle(t *testing.T) {
	r := newRig(t)
	version, err := r.client.Version(r.ctx)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	t.Logf("containerd %s (%s), snapshotter %q, runtime %s", version.Version, version.Revision, r.snapshotter, r.client.Runtime())

	events, eventErrs := r.client.Subscribe(r.ctx, `topic~="^/tasks/"`)
	id := testenv.ContainerID("lifecycle")
	logPath := filepath.Join(t.TempDir(), "stdout.log")
	// sh ignores SIGTERM as PID 1 unless it traps it (TestUntrappedSIGTERM); `sleep & wait` lets the
	// trap run at once instead of after the foreground sleep.
	run := r.start(t, id, cio.LogFile(logPath), "sh", "-c", "trap 'exit 143' TERM; echo hello; sleep 30 & wait")
	t.Logf("create+start from an unpacked image: %v (NewContainer %v, NewTask %v, Start %v)",
		run.createStart, run.newContainer, run.newTask, run.startTask)
	waitForFile(t, logPath, "hello\n")

	checkOOMScoreAdj(t, r, run)
	info, err := run.container.Info(r.ctx)
	if err != nil {
		t.Fatalf("container Info: %v", err)
	}

	if err := run.task.Kill(r.ctx, syscall.SIGTERM); err != nil {
		t.Fatalf("Kill SIGTERM: %v", err)
	}
	status := waitExit(t, run.exit, 10*time.Second)
	if status.ExitCode() != 143 {
		t.Errorf("exit code %d after SIGTERM, want 143", status.ExitCode())
	}
	deleted, err := run.task.Delete(r.ctx)
	if err != nil {
		t.Fatalf("task Delete: %v", err)
	}
	if deleted.ExitCode() != 143 {
		t.Errorf("task Delete reports exit code %d, want 143", deleted.ExitCode())
	}
	if err := run.container.Delete(r.ctx, client.WithSnapshotCleanup); err != nil {
		t.Fatalf("container Delete: %v", err)
	}
	if _, err := r.client.LoadContainer(r.ctx, id); !errdefs.IsNotFound(err) {
		t.Errorf("LoadContainer after Delete: %v, want not found", err)
	}
	if _, err := r.client.SnapshotService(info.Snapshotter).Stat(r.ctx, info.SnapshotKey); !errdefs.IsNotFound(err) {
		t.Errorf("%s snapshot %s after WithSnapshotCleanup: %v, want not found", info.Snapshotter, info.SnapshotKey, err)
	}

	checkTaskEvents(t, events, eventErrs, id, 143)
}

// checkOOMScoreAdj shows the containers run without CAP_SYS_RESOURCE: nothing sets an oom_score_adj,
// so the container inherits the shim's, which is containerd's plus one and never negative.
func checkOOMScoreAdj(t *testing.T, r rig, run started) {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err == nil {
		for line := range strings.Lines(string(status)) {
			if mask, ok := strings.CutPrefix(line, "CapEff:"); ok {
				caps, _ := strconv.ParseUint(strings.TrimSpace(mask), 16, 64)
				t.Logf("this process has CAP_SYS_RESOURCE: %v", caps&(1<<capSysResource) != 0)
			}
		}
	}
	spec, err := run.container.Spec(r.ctx)
	if err != nil {
		t.Fatalf("Spec: %v", err)
	}
	if spec.Process.OOMScoreAdj != nil {
		t.Errorf("spec sets oom_score_adj %d; the default spec should leave it alone", *spec.Process.OOMScoreAdj)
	}
	score, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", run.task.Pid()))
	if err != nil {
		t.Fatalf("read the task's oom_score_adj: %v", err)
	}
	if n, err := strconv.Atoi(strings.TrimSpace(string(score))); err != nil || n < 0 {
		t.Errorf("task oom_score_adj = %q, want a non-negative number", score)
	}
	t.Logf("task oom_score_adj = %s", bytes.TrimSpace(score))
}

// checkTaskEvents reads the event stream until the container's task is deleted, and checks that its
// create, start, exit and delete events arrived with the exit status.
func checkTaskEvents(t *testing.T, events <-chan *events.Envelope, errs <-chan error, id string, exitCode uint32) {
	t.Helper()
	var topics []string
	timeout := time.After(10 * time.Second)
	for !slices.Contains(topics, "/tasks/delete") {
		select {
		case envelope := <-events:
			if envelope.Namespace != namespace {
				continue
			}
			event, err := typeurl.UnmarshalAny(envelope.Event)
			if err != nil {
				t.Fatalf("decode event %s: %v", envelope.Topic, err)
			}
			switch e := event.(type) {
			case *apievents.TaskCreate:
				if e.ContainerID != id {
					continue
				}
			case *apievents.TaskStart:
				if e.ContainerID != id {
					continue
				}
			case *apievents.TaskExit:
				if e.ContainerID != id {
					continue
				}
				if e.ExitStatus != exitCode {
					t.Errorf("TaskExit event exit status %d, want %d", e.ExitStatus, exitCode)
				}
			case *apievents.TaskDelete:
				if e.ContainerID != id {
					continue
				}
			default:
				continue
			}
			topics = append(topics, envelope.Topic)
		case err := <-errs:
			t.Fatalf("event stream: %v", err)
		case <-timeout:
			t.Fatalf("events for %s so far %v, want through /tasks/delete", id, topics)
		}
	}
	if want := []string{"/tasks/create", "/tasks/start", "/tasks/exit", "/tasks/delete"}; !slices.Equal(topics, want) {
		t.Errorf("task events %v, want %v", topics, want)
	}
}

// TestUntrappedSIGTERM pins a behaviour the agent's stop logic must handle: a shell that is PID 1 and
// does not trap SIGTERM ignores it (the kernel drops signals without a handler for a namespace's init),
// so stopping takes SIGKILL after a grace period.
func TestUntrappedSIGTERM(t *testing.T) {
	r := newRig(t)
	logPath := filepath.Join(t.TempDir(), "stdout.log")
	run := r.start(t, testenv.ContainerID("sigterm"), cio.LogFile(logPath), "sh", "-c", "echo hello; sleep 30")
	waitForFile(t, logPath, "hello\n")
	if err := run.task.Kill(r.ctx, syscall.SIGTERM); err != nil {
		t.Fatalf("Kill SIGTERM: %v", err)
	}
	select {
	case status := <-run.exit:
		t.Fatalf("task exited with %d after SIGTERM; PID 1 was expected to ignore it", status.ExitCode())
	case <-time.After(time.Second):
	}
	if err := run.task.Kill(r.ctx, syscall.SIGKILL); err != nil {
		t.Fatalf("Kill SIGKILL: %v", err)
	}
	if status := waitExit(t, run.exit, 10*time.Second); status.ExitCode() != 137 {
		t.Errorf("exit code %d after SIGKILL, want 137", status.ExitCode())
	}
}

// TestFIFOStreams checks the FIFO-based cio with the FIFOs in a directory of our choosing (the default
// is /run/containerd/fifo), the image config's Env and WorkingDir, and a non-zero exit code.
func TestFIFOStreams(t *testing.T) {
	r := newRig(t)
	var stdout, stderr testenv.SyncBuffer
	stdio := cio.NewCreator(cio.WithStreams(nil, &stdout, &stderr), cio.WithFIFODir(t.TempDir()))
	run := r.start(t, testenv.ContainerID("fifo"), stdio,
		"sh", "-c", `echo "out $PATH $(pwd) $(id -u)"; echo err >&2; exit 3`)
	if status := waitExit(t, run.exit, 10*time.Second); status.ExitCode() != 3 {
		t.Errorf("exit code %d, want 3", status.ExitCode())
	}
	// Delete waits for the copy goroutines to drain the FIFOs.
	if _, err := run.task.Delete(r.ctx); err != nil {
		t.Fatalf("task Delete: %v", err)
	}
	wantOut := "out " + strings.TrimPrefix(ociimage.DefaultPathEnv, "PATH=") + " / 0\n"
	if stdout.String() != wantOut || stderr.String() != "err\n" {
		t.Errorf("stdout %q stderr %q, want %q and %q", stdout.String(), stderr.String(), wantOut, "err\n")
	}
}

// TestCreateStartLatency measures create+start of containers from the already unpacked image.
func TestCreateStartLatency(t *testing.T) {
	r := newRig(t)
	const runs = 5
	var total, newContainer, newTask, startTask []time.Duration
	for range runs {
		run := r.start(t, testenv.ContainerID("latency"), cio.NullIO, "sleep", "30")
		total = append(total, run.createStart)
		newContainer = append(newContainer, run.newContainer)
		newTask = append(newTask, run.newTask)
		startTask = append(startTask, run.startTask)
		removeContainer(t, r.ctx, run.container)
	}
	median := func(samples []time.Duration) time.Duration {
		slices.Sort(samples)
		return samples[len(samples)/2]
	}
	t.Logf("create+start from an unpacked image, %q snapshotter, %d runs: median %v (NewContainer %v, NewTask %v, Start %v); min %v, max %v",
		r.snapshotter, runs, median(total), median(newContainer), median(newTask), median(startTask), total[0], total[runs-1])
}

// TestAPISurface records which client calls this containerd serves. The ones the agent needs must
// work; the newer ones may be missing, but then they must fail as "not implemented", which callers
// can detect, and not in some other way.
func TestAPISurface(t *testing.T) {
	r := newRig(t)
	version, err := r.client.Version(r.ctx)
	if err != nil {
		t.Fatalf("Version: %v", err)
	}
	archiveData := new(bytes.Buffer)
	if _, err := ociimage.Build(archiveData, ociimage.Options{Name: "staticlet.test/busybox:transfer"}); err != nil {
		t.Fatalf("build image: %v", err)
	}
	for _, probe := range []struct {
		name     string
		required bool
		call     func(ctx context.Context) error
	}{
		{"IsServing (health)", true, func(ctx context.Context) error {
			serving, err := r.client.IsServing(ctx)
			if err == nil && !serving {
				err = errors.New("not serving")
			}
			return err
		}},
		{"Server (introspection UUID)", false, func(ctx context.Context) error {
			_, err := r.client.Server(ctx)
			return err
		}},
		{"GetSnapshotterCapabilities", true, func(ctx context.Context) error {
			_, err := r.client.GetSnapshotterCapabilities(ctx, r.snapshotter)
			return err
		}},
		{"ListImages", true, func(ctx context.Context) error {
			_, err := r.client.ListImages(ctx)
			return err
		}},
		{"Containers", true, func(ctx context.Context) error {
			_, err := r.client.Containers(ctx)
			return err
		}},
		{"LeasesService().List", true, func(ctx context.Context) error {
			_, err := r.client.LeasesService().List(ctx)
			return err
		}},
		{"RuntimeInfo (introspection PluginInfo)", false, func(ctx context.Context) error {
			_, err := r.client.RuntimeInfo(ctx, "", nil)
			return err
		}},
		{"SandboxStore().List", false, func(ctx context.Context) error {
			_, err := r.client.SandboxStore().List(ctx)
			return err
		}},
		{"MountManager().List", false, func(ctx context.Context) error {
			_, err := r.client.MountManager().List(ctx)
			return err
		}},
		{"Transfer (import stream to image store)", false, func(ctx context.Context) error {
			src := archive.NewImageImportStream(bytes.NewReader(archiveData.Bytes()), "")
			return r.client.Transfer(ctx, src, transferimage.NewStore("staticlet.test/busybox:transfer"))
		}},
	} {
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		err := probe.call(ctx)
		cancel()
		switch {
		case err == nil:
			t.Logf("containerd %s: %s: works", version.Version, probe.name)
		case probe.required:
			t.Errorf("containerd %s: %s: %v", version.Version, probe.name, err)
		case errdefs.IsNotImplemented(err):
			t.Logf("containerd %s: %s: not implemented (%v)", version.Version, probe.name, err)
		default:
			t.Errorf("containerd %s: %s: fails with %v, want success or a not-implemented error", version.Version, probe.name, err)
		}
	}
}
