package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/hashicorp/go-hclog"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/probe"
)

// probeHost is where httpGet, tcpSocket and grpc probes without a host go:
// the pod has no IP of its own yet (no CNI), so the kubelet's default, the
// pod IP, is the pod's loopback here, seen from inside its network
// namespace (or the host's, with hostNetwork).
const probeHost = "127.0.0.1"

// probeEvent carries a changed probe verdict from a container run's probe
// loop to the worker.
type probeEvent struct {
	name  string
	gen   uint64
	state probe.State
}

// startProbes begins the probing of cs's current run, or, for a container
// without probes, marks it started and ready at once.
func (w *worker) startProbes(ctx context.Context, cs *containerState) {
	var startup, liveness, readiness *probe.Spec
	c := cs.spec
	if c != nil && cs.kind != initContainer {
		for _, p := range []struct {
			probe *corev1.Probe
			spec  **probe.Spec
		}{{c.StartupProbe, &startup}, {c.LivenessProbe, &liveness}, {c.ReadinessProbe, &readiness}} {
			if p.probe != nil {
				s := probe.SpecOf(p.probe)
				*p.spec = &s
			}
		}
	}
	m := probe.New(w.rt.now(), startup, liveness, readiness)
	if cs.resume != nil {
		m.Resume(*cs.resume, w.rt.now())
		cs.resume = nil
	}
	w.applyProbeState(cs, m.State())
	if _, _, ok := m.Due(); !ok {
		return
	}
	pctx, cancel := context.WithCancel(ctx)
	cs.probeCancel = cancel
	// The dialer is fixed here, in the worker's goroutine, which alone
	// touches w.sandbox.
	go w.probeLoop(pctx, cs.name, cs.gen, cs.ctr, c, m, w.dialer())
}

func (w *worker) applyProbeState(cs *containerState, st probe.State) {
	if cs.kind == initContainer {
		cs.started, cs.ready = true, false
		return
	}
	cs.started, cs.ready = st.Started, st.Ready
	if cs.kind == sidecarContainer && st.Started {
		cs.startedOnce = true
	}
	w.saveVerdicts()
}

// probeLoop runs one container run's probes on their schedule until the
// run ends (ctx) or a probe says to kill it. It owns m.
func (w *worker) probeLoop(ctx context.Context, name string, gen uint64, ctr client.Container, c *corev1.Container, m *probe.Machine, dial probe.Dial) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		kind, at, ok := m.Due()
		if !ok {
			return
		}
		timer.Reset(max(at.Sub(w.rt.now()), 0))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		cctx, cancel := context.WithTimeout(ctx, m.Timeout(kind))
		res := w.runProbe(cctx, ctr, c, kind, dial)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if !res.OK {
			w.log.Debug("probe failed", "container", name, "probe", kind, "message", res.Message)
		}
		if st, changed := m.Record(kind, res, w.rt.now()); changed {
			select {
			case w.probeEvents <- probeEvent{name: name, gen: gen, state: st}:
			case <-ctx.Done():
				return
			}
		}
	}
}

func probeOf(c *corev1.Container, kind probe.Kind) *corev1.Probe {
	switch kind {
	case probe.Startup:
		return c.StartupProbe
	case probe.Liveness:
		return c.LivenessProbe
	}
	return c.ReadinessProbe
}

// runProbe runs one probe once, within ctx's deadline.
func (w *worker) runProbe(ctx context.Context, ctr client.Container, c *corev1.Container, kind probe.Kind, dial probe.Dial) probe.Result {
	h := probeOf(c, kind).ProbeHandler
	switch {
	case h.Exec != nil:
		return execProbe(ctx, ctr, w.log, h.Exec.Command)
	case h.HTTPGet != nil:
		return probe.HTTPGet(ctx, dial, h.HTTPGet, c, probeHost)
	case h.TCPSocket != nil:
		return probe.TCPSocket(ctx, dial, h.TCPSocket, c, probeHost)
	case h.GRPC != nil:
		return probe.GRPC(ctx, dial, h.GRPC, probeHost)
	}
	return probe.Result{Message: "the probe has no handler"}
}

// errNoSandbox fails the network probes of a pod whose sandbox is not set
// up yet (ensureSandbox retries it).
var errNoSandbox = errors.New("the pod's sandbox is not set up")

// dialer dials from the pod's network view: inside its network namespace,
// or the host's with hostNetwork.
func (w *worker) dialer() probe.Dial {
	var d net.Dialer
	switch {
	case w.pod.Spec.HostNetwork:
		return d.DialContext
	case w.sandbox == nil:
		return func(context.Context, string, string) (net.Conn, error) { return nil, errNoSandbox }
	}
	if path, ok := w.sandbox.namespaces[specs.NetworkNamespace]; ok {
		return func(ctx context.Context, network, address string) (net.Conn, error) {
			return dialInNetns(ctx, path, network, address)
		}
	}
	return d.DialContext
}

// execProbe runs command in the container (its process spec: user, env,
// cwd) through runExec and succeeds on exit 0. When ctx ends (the probe's
// timeout) the process is killed.
func execProbe(ctx context.Context, ctr client.Container, log hclog.Logger, command []string) probe.Result {
	out := &limitedBuffer{max: 10 << 10}
	code, err := runExec(ctx, ctr, log, execOptions{cmd: command, out: out, errOut: out})
	switch {
	case err != nil && ctx.Err() != nil:
		return probe.Result{Message: fmt.Sprintf("exec %q: timed out", command)}
	case err != nil:
		return probe.Result{Message: fmt.Sprintf("exec %q: %v", command, err)}
	case code != 0:
		return probe.Result{Message: fmt.Sprintf("exec %q: exit code %d: %s", command, code, strings.TrimSpace(out.String()))}
	}
	return probe.Result{OK: true}
}

// limitedBuffer keeps the first max bytes of a probe's output.
type limitedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *limitedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// onProbe applies a probe verdict to the container's current run; a kill
// verdict stops the run (stop signal, then SIGKILL after the probe's or
// the pod's grace period) and its exit then follows the restart policy.
func (w *worker) onProbe(ctx context.Context, ev probeEvent) {
	cs := w.find(ev.name)
	if cs == nil || cs.gen != ev.gen || !cs.running || w.stopping {
		return
	}
	w.applyProbeState(cs, ev.state)
	if !ev.state.Kill {
		return
	}
	w.log.Info("killing container: probe failed", "container", cs.name, "message", ev.state.Message)
	cs.killMessage = ev.state.Message
	// The kubelet restarts a container its probe killed whatever the exit
	// code, unless the policy is Never: a process that exits 0 on SIGTERM
	// must not end an OnFailure pod.
	cs.probeKilled = true
	grace := w.grace
	for _, p := range []*corev1.Probe{cs.spec.LivenessProbe, cs.spec.StartupProbe} {
		if p != nil && p.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
		}
	}
	if err := w.killRun(ctx, cs.ctr, cs.spec, grace); err != nil {
		w.log.Warn("killing a container after a failed probe", "container", cs.name, "error", err)
	}
}

// killRun stops ctr's run as the kubelet kills a container: c's preStop
// hook within grace, then the stop signal, then SIGKILL once the rest of
// grace (at least minStopGrace after a hook) has passed. It does not wait:
// the exit comes through the run's watch.
func (w *worker) killRun(ctx context.Context, ctr client.Container, c *corev1.Container, grace time.Duration) error {
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return fmt.Errorf("kill %s: %w", ctr.ID(), err)
	}
	signal := func() error {
		sig, err := client.GetStopSignal(ctx, ctr, syscall.SIGTERM)
		if err != nil {
			sig = syscall.SIGTERM
		}
		if err := task.Kill(ctx, sig); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("kill %s: %w", ctr.ID(), err)
		}
		return nil
	}
	hook := preStopOf(c) != nil && grace > 0
	if !hook {
		if err := signal(); err != nil {
			return err
		}
	}
	go func() {
		if hook {
			grace = w.preStop(ctx, ctr, c, grace)
			if err := signal(); err != nil {
				w.log.Debug("stop signal after the preStop hook", "container", ctr.ID(), "error", err)
			}
		}
		select {
		case <-time.After(grace):
		case <-ctx.Done():
			return
		}
		if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) && !errors.Is(err, context.Canceled) {
			w.log.Debug("SIGKILL after the grace period", "container", ctr.ID(), "error", err)
		}
	}()
	return nil
}
