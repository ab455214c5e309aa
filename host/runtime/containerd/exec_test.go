package containerd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/internal/testenv"
)

// streamRecorder is an exec stream: it keeps what is written, says whether
// it was closed, and rings written at the first write.
type streamRecorder struct {
	testenv.SyncBuffer
	closed  atomic.Bool
	once    sync.Once
	written chan struct{}
}

func newStreamRecorder() *streamRecorder { return &streamRecorder{written: make(chan struct{})} }

func (s *streamRecorder) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.written) })
	return s.SyncBuffer.Write(p)
}

func (s *streamRecorder) Close() error {
	s.closed.Store(true)
	return nil
}

// execPod runs a pod whose container "app" keeps running and whose
// container "done" has exited, for exec tests.
func execPod(t *testing.T, name string) (*containerd.Runtime, *corev1.Pod) {
	t.Helper()
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	p := pod(name, types.UID("uid-"+name), corev1.RestartPolicyNever,
		corev1.Container{Name: "app", Image: e.image, WorkingDir: "/tmp", Env: []corev1.EnvVar{{Name: "FROM_SPEC", Value: "yes"}},
			Args: []string{"sh", "-c", trapTERM + "sleep 3600 & wait"}},
		corev1.Container{Name: "done", Image: e.image, Args: []string{"true"}})
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	waitContainer(t, rt, p.UID, "app", 20*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	waitContainer(t, rt, p.UID, "done", 20*time.Second, terminated)
	return rt, p
}

type execResult struct {
	stdout, stderr *streamRecorder
	err            error
}

func execIn(ctx context.Context, rt *containerd.Runtime, p *corev1.Pod, container string, in io.Reader, tty bool, resize <-chan remotecommand.TerminalSize, timeout time.Duration, cmd ...string) execResult {
	res := execResult{stdout: newStreamRecorder(), stderr: newStreamRecorder()}
	res.err = rt.ExecInContainer(ctx, p.Namespace+"/"+p.Name, string(p.UID), container, cmd, in, res.stdout, res.stderr, tty, resize, timeout)
	return res
}

// TestExec runs commands in a running container as kubectl exec does:
// output, stdin, separate stderr, exit codes, a terminal, and the errors of
// an exec that cannot run or is cut short.
func TestExec(t *testing.T) {
	rt, p := execPod(t, "exec-node1")
	ctx := t.Context()

	t.Run("output in the container's process spec", func(t *testing.T) {
		res := execIn(ctx, rt, p, "app", nil, false, nil, 0, "sh", "-c", "echo hi; echo $FROM_SPEC; pwd")
		if res.err != nil {
			t.Fatal(res.err)
		}
		if got := res.stdout.String(); got != "hi\nyes\n/tmp\n" {
			t.Errorf("stdout %q, want hi, the container's env and working dir", got)
		}
		if !res.stdout.closed.Load() || !res.stderr.closed.Load() {
			t.Error("stdout and stderr must be closed when the exec returns")
		}
	})

	t.Run("stdin", func(t *testing.T) {
		in := strings.Repeat("piped through cat\n", 10000)
		res := execIn(ctx, rt, p, "app", strings.NewReader(in), false, nil, 0, "cat")
		if res.err != nil {
			t.Fatal(res.err)
		}
		if got := res.stdout.String(); got != in {
			t.Errorf("cat gave %d bytes, want the %d sent", len(got), len(in))
		}
	})

	t.Run("stderr apart", func(t *testing.T) {
		res := execIn(ctx, rt, p, "app", nil, false, nil, 0, "sh", "-c", "echo out; echo err >&2")
		if res.err != nil {
			t.Fatal(res.err)
		}
		if res.stdout.String() != "out\n" || res.stderr.String() != "err\n" {
			t.Errorf("stdout %q stderr %q, want out and err apart", res.stdout.String(), res.stderr.String())
		}
	})

	t.Run("exit code", func(t *testing.T) {
		res := execIn(ctx, rt, p, "app", nil, false, nil, 0, "sh", "-c", "echo before; exit 3")
		// ServeExec asserts the type rather than unwrapping.
		exitErr, ok := res.err.(utilexec.ExitError)
		if !ok || !exitErr.Exited() || exitErr.ExitStatus() != 3 {
			t.Fatalf("err = %#v, want a utilexec.ExitError with code 3", res.err)
		}
		if !strings.Contains(res.err.Error(), "exec-node1") || res.stdout.String() != "before\n" {
			t.Errorf("err %q (want it to name the pod), stdout %q", res.err, res.stdout.String())
		}
	})

	t.Run("tty", func(t *testing.T) {
		resize := make(chan remotecommand.TerminalSize, 1)
		resize <- remotecommand.TerminalSize{Width: 100, Height: 40}
		// The resize arrives asynchronously: the command waits for it.
		script := `tty; echo "TERM=$TERM"; while [ "$(stty size)" != "40 100" ]; do sleep 0.05; done; echo resized; echo err >&2`
		tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		res := execIn(tctx, rt, p, "app", nil, true, resize, 0, "sh", "-c", script)
		if res.err != nil {
			t.Fatal(res.err)
		}
		out := res.stdout.String()
		for _, want := range []string{"/dev/pts/", "TERM=xterm\r\n", "resized\r\n", "err\r\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("terminal output lacks %q: %q", want, out)
			}
		}
		if res.stderr.String() != "" || !res.stderr.closed.Load() {
			t.Errorf("with a terminal stderr gets nothing (%q) and is closed (%v)", res.stderr.String(), res.stderr.closed.Load())
		}
	})

	t.Run("not running", func(t *testing.T) {
		for _, c := range []struct {
			uid, container string
			want           error
		}{
			{string(p.UID), "done", containerd.ErrContainerNotRunning},
			{string(p.UID), "absent", containerd.ErrContainerNotFound},
			{"uid-absent", "app", containerd.ErrPodNotFound},
		} {
			out := newStreamRecorder()
			err := rt.ExecInContainer(ctx, "default/exec-node1", c.uid, c.container, []string{"true"}, nil, out, nil, false, nil, 0)
			if !errors.Is(err, c.want) {
				t.Errorf("exec in %s %s: %v, want %v", c.uid, c.container, err, c.want)
			}
			if !out.closed.Load() {
				t.Errorf("exec in %s %s: stdout not closed on failure", c.uid, c.container)
			}
		}
	})

	t.Run("cancel kills", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		out := newStreamRecorder()
		done := make(chan error, 1)
		go func() {
			done <- rt.ExecInContainer(cctx, "default/exec-node1", string(p.UID), "app", []string{"sh", "-c", "echo started; exec sleep 7777"}, nil, out, nil, false, nil, 0)
		}()
		select {
		case <-out.written:
		case <-time.After(20 * time.Second):
			t.Fatal("the exec never started")
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("canceled exec: %v, want context.Canceled", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("a canceled exec did not return")
		}
		assertGone(t, rt, p, "sleep 7777")
	})

	t.Run("timeout kills", func(t *testing.T) {
		res := execIn(ctx, rt, p, "app", nil, false, nil, 300*time.Millisecond, "sleep", "7778")
		if !errors.Is(res.err, context.DeadlineExceeded) {
			t.Errorf("exec past its timeout: %v, want context.DeadlineExceeded", res.err)
		}
		assertGone(t, rt, p, "sleep 7778")
	})
}

// assertGone waits until no process of the app container runs command.
func assertGone(t *testing.T, rt *containerd.Runtime, p *corev1.Pod, command string) {
	t.Helper()
	testenv.Eventually(t, 10*time.Second, func() error {
		res := execIn(t.Context(), rt, p, "app", nil, false, nil, 0, "ps", "-o", "args")
		if res.err != nil {
			return res.err
		}
		if out := res.stdout.String(); strings.Contains(out, command) {
			return fmt.Errorf("%q still runs:\n%s", command, out)
		}
		return nil
	})
}
