package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"
)

// execCleanupTimeout bounds the containerd calls that set up an exec process
// or clean up after it, which its context does not cancel.
const execCleanupTimeout = 5 * time.Second

// ExecInContainer implements remotecommand.Executor, as containerd's CRI
// plugin execs for the kubelet: cmd runs in container of the pod uid (name,
// "namespace/name", is for messages) with the container's own process spec
// (env, cwd, user, capabilities), wired to in, out and err (with tty, out
// carries both streams). It returns once the command exited and its output
// was copied, having closed out and err. A non-zero exit is a
// utilexec.CodeExitError, unwrapped, for ServeExec to report its code; ctx's
// end or timeout (when > 0) kills the command with SIGKILL.
func (r *Runtime) ExecInContainer(ctx context.Context, name, uid, container string, cmd []string, in io.Reader, out, errOut io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, timeout time.Duration) error {
	defer closeWriters(out, errOut)
	what := fmt.Sprintf("exec %q in pod %s container %s", cmd, name, container)
	targets, err := r.targetsOf(ctx, what, uid)
	if err != nil {
		return err
	}
	target, ok := targets.containers[container]
	switch {
	case !ok:
		return fmt.Errorf("%s: %w", what, ErrContainerNotFound)
	case !target.running:
		return fmt.Errorf("%s: %w", what, ErrContainerNotRunning)
	}
	if len(cmd) == 0 {
		return fmt.Errorf("%s: no command", what)
	}
	code, err := runExec(r.nsContext(ctx), target.ctr, r.log, execOptions{cmd: cmd, in: in, out: out, errOut: errOut, tty: tty, resize: resize, timeout: timeout})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("%s: exit code %d", what, code), Code: int(code)}
	}
	return nil
}

type execOptions struct {
	cmd         []string
	in          io.Reader
	out, errOut io.Writer
	tty         bool
	resize      <-chan remotecommand.TerminalSize
	timeout     time.Duration
}

// runExec runs one exec process in ctr's task and returns its exit code: for
// the kubelet API's exec, and for exec probes and hooks.
func runExec(ctx context.Context, ctr client.Container, log hclog.Logger, o execOptions) (uint32, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		// The run ended after the worker last published.
		if errdefs.IsNotFound(err) {
			return 0, fmt.Errorf("task of %s: %w: %w", ctr.ID(), ErrContainerNotRunning, err)
		}
		return 0, fmt.Errorf("task of %s: %w", ctr.ID(), err)
	}
	spec, err := ctr.Spec(ctx)
	if err != nil {
		return 0, fmt.Errorf("spec of %s: %w", ctr.ID(), err)
	}
	if o.tty {
		// As the CRI plugin: a terminal wants a TERM whatever the image sets.
		if err := oci.WithEnv([]string{"TERM=xterm"})(ctx, nil, nil, spec); err != nil {
			return 0, fmt.Errorf("TERM: %w", err)
		}
	}
	pspec := *spec.Process
	pspec.Args, pspec.CommandLine, pspec.Terminal = o.cmd, "", o.tty
	id, err := newExecID()
	if err != nil {
		return 0, err
	}
	// Stdin's end reaches the process through CloseIO, since the shim holds
	// the stdin FIFO open too.
	var stdin *stdinCloser
	var stdinReader io.Reader
	if o.in != nil {
		stdin = &stdinCloser{r: o.in}
		stdinReader = stdin
	}
	// Output nobody asked for is discarded rather than left without a
	// FIFO, which the shim cannot start a process with.
	out, errOut := o.out, o.errOut
	if out == nil {
		out = io.Discard
	}
	if errOut == nil {
		errOut = io.Discard
	}
	streams := []cio.Opt{cio.WithStreams(stdinReader, out, errOut)}
	if o.tty {
		// One stream: a terminal has no separate stderr.
		streams = []cio.Opt{cio.WithStreams(stdinReader, out, nil), cio.WithTerminal}
	}
	// Creating and starting the process are not cut short by ctx: a start
	// the shim goes on with after the call gave up would leave a process
	// running that nothing kills. ctx's end is served once it started.
	callCtx, cancelCalls := context.WithTimeout(context.WithoutCancel(ctx), execCleanupTimeout)
	defer cancelCalls()
	proc, err := task.Exec(callCtx, id, &pspec, cio.NewCreator(streams...))
	if err != nil {
		return 0, fmt.Errorf("create exec %s: %w", id, err)
	}
	defer func() {
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), execCleanupTimeout)
		defer dcancel()
		// Delete also ends the IO copies; when it cannot, they are ended
		// here so the caller's writers are no longer used once we return.
		if _, err := proc.Delete(dctx, client.WithProcessKill); err != nil {
			log.Debug("delete exec process", "container", ctr.ID(), "exec", id, "error", err)
			proc.IO().Cancel()
			proc.IO().Wait()
			proc.IO().Close()
		}
	}()
	exitCh, err := proc.Wait(context.WithoutCancel(ctx))
	if err != nil {
		return 0, fmt.Errorf("wait for exec %s: %w", id, err)
	}
	if err := proc.Start(callCtx); err != nil {
		return 0, fmt.Errorf("start exec %s: %w", id, err)
	}
	if stdin != nil {
		// Only now: CloseIO before the start reaches no stdin yet.
		stdin.setCloser(func() error { return proc.CloseIO(context.WithoutCancel(ctx), client.WithStdinCloser) })
	}
	if o.resize != nil {
		go forwardResizes(ctx, proc, o.resize, log.With("container", ctr.ID(), "exec", id))
	}
	ioDone := make(chan struct{})
	go func() {
		proc.IO().Wait()
		close(ioDone)
	}()

	runCtx := ctx
	if o.timeout > 0 {
		var cancelRun context.CancelFunc
		runCtx, cancelRun = context.WithTimeout(ctx, o.timeout)
		defer cancelRun()
	}
	select {
	case st := <-exitCh:
		code, _, err := st.Result()
		if err != nil {
			return 0, fmt.Errorf("exec %s: %w", id, err)
		}
		// Output still in the FIFOs is copied before the caller hears of
		// the exit, as the CRI plugin drains it; a background process still
		// holding them keeps the exec going, as there.
		select {
		case <-ioDone:
			return code, nil
		case <-ctx.Done():
			return 0, fmt.Errorf("exec %s: copying its output: %w", id, ctx.Err())
		}
	case <-runCtx.Done():
		kctx, kcancel := context.WithTimeout(context.WithoutCancel(ctx), killTimeout)
		defer kcancel()
		if err := proc.Kill(kctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			return 0, fmt.Errorf("kill exec %s: %w", id, err)
		}
		select {
		case <-exitCh:
		case <-kctx.Done():
		}
		if ctx.Err() == nil {
			return 0, fmt.Errorf("exec %s: timed out after %s: %w", id, o.timeout, runCtx.Err())
		}
		return 0, fmt.Errorf("exec %s: %w", id, ctx.Err())
	}
}

// stdinCloser tells the exec process its stdin ended when r does; an end
// read before the process started is told once it has.
type stdinCloser struct {
	r     io.Reader
	mu    sync.Mutex
	ended bool
	close func() error
}

func (s *stdinCloser) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil {
		s.mu.Lock()
		s.ended = true
		closeIO := s.close
		s.mu.Unlock()
		if closeIO != nil {
			_ = closeIO() // the process may be gone already: nothing to tell
		}
	}
	return n, err
}

func (s *stdinCloser) setCloser(closeIO func() error) {
	s.mu.Lock()
	s.close = closeIO
	ended := s.ended
	s.mu.Unlock()
	if ended {
		_ = closeIO()
	}
}

func forwardResizes(ctx context.Context, proc client.Process, resize <-chan remotecommand.TerminalSize, log hclog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case size, ok := <-resize:
			if !ok {
				return
			}
			if size.Width == 0 || size.Height == 0 {
				continue
			}
			if err := proc.Resize(ctx, uint32(size.Width), uint32(size.Height)); err != nil {
				log.Debug("resize exec terminal", "error", err)
			}
		}
	}
}

// newExecID is unique per exec: execs of a task are keyed by ID, and an
// earlier agent's may still be there.
func newExecID() (string, error) {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("exec ID: %w", err)
	}
	return "exec-" + hex.EncodeToString(b), nil
}

func closeWriters(ws ...io.WriteCloser) {
	for _, w := range ws {
		if w != nil {
			_ = w.Close() // the client may have gone: nothing to tell it
		}
	}
}
