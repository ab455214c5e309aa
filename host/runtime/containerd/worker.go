package containerd

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/pod"
	"github.com/staticlet/staticlet/host/probe"
)

// Sentinel kinds of a container's start failure, shown as waiting reasons.
var (
	errImageNeverPull = errors.New("ErrImageNeverPull")
	errImagePull      = errors.New("ErrImagePull")
	errInvalidImage   = errors.New("InvalidImageName")
)

const (
	// killTimeout bounds the wait for exits after SIGKILL.
	killTimeout = 15 * time.Second
	// unavailableRetry is how soon a start is retried while containerd does
	// not answer; it is not a crash, so the back-off is untouched.
	unavailableRetry = time.Second
	// keepLogRuns is how many runs' log files a container keeps: the
	// current one and the previous, as the kubelet does.
	keepLogRuns = 2
)

// containerKind tells a pod's regular containers from its init containers.
type containerKind int

const (
	appContainer containerKind = iota
	// initContainer runs to completion before the next one starts.
	initContainer
	// sidecarContainer is an init container with restartPolicy Always: it
	// is started in order, kept running and stopped after the app
	// containers.
	sidecarContainer
)

func (k containerKind) String() string {
	switch k {
	case initContainer:
		return "init"
	case sidecarContainer:
		return "sidecar"
	}
	return "app"
}

func kindOf(c *corev1.Container, isInit bool) containerKind {
	switch {
	case !isInit:
		return appContainer
	case c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways:
		return sidecarContainer
	}
	return initContainer
}

// containerState is one container of a pod, owned by the pod's worker.
type containerState struct {
	name  string
	kind  containerKind
	spec  *corev1.Container // nil for an adopted container without a record
	image string
	// restartCount is the current run's: the log file and label say it too.
	restartCount int32
	ctr          client.Container // the current run's, nil when none
	gen          uint64           // tags exits so a stale one is ignored
	running      bool
	startedAt    time.Time
	imageID      string

	waiting        *corev1.ContainerStateWaiting
	terminated     *corev1.ContainerStateTerminated
	lastTerminated *corev1.ContainerStateTerminated
	crash, pull    backoffState
	// completed is set once an init container exited 0: it never runs
	// again, even after an agent restart (LabelCompleted).
	completed bool
	// startedOnce is set when a sidecar first counted as started, which
	// lets the next init container begin.
	startedOnce bool
	// started and ready are the probes' verdicts on the current run.
	started, ready bool
	// resume is an earlier agent's verdict on an adopted run (verdicts.go),
	// for startProbes to go on from.
	resume      *probe.State
	probeCancel context.CancelFunc
	// killMessage explains a kill the worker decided (a failed liveness
	// probe); it becomes the terminated state's message.
	killMessage string
	// probeKilled is set when a failed liveness or startup probe killed the
	// current run: it restarts unless the policy is Never.
	probeKilled bool
	// pending means a (re)start is due at pendingAt.
	pending   bool
	pendingAt time.Time
}

type taskExit struct {
	name string
	gen  uint64
	code int32
	at   time.Time
	// lost means the task vanished (its shim died) without an exit status.
	lost bool
}

type stopRequest struct {
	grace time.Duration
	reply chan error
}

// worker owns one pod: see the package documentation. All fields below
// stopCh are touched only by the run goroutine, except status (published
// atomically) and the interrupt fields.
type worker struct {
	rt        *Runtime
	log       hclog.Logger
	uid       types.UID
	namespace string
	name      string
	pod       *corev1.Pod // nil for an adopted pod without a record
	grace     time.Duration
	sandbox   *sandbox
	adopted   []client.Container
	// adopting is set, before the worker starts, for a pod found by
	// ListPods with containers to adopt: PodStatus reports nothing until
	// ready, once the worker has adopted them and published its first
	// status.
	adopting bool

	stopCh chan stopRequest
	exits  chan taskExit
	ready  chan struct{}
	done   chan struct{}
	status atomic.Pointer[corev1.PodStatus]
	// targets is published with status for exec and port-forward
	// (streaming.go).
	targets atomic.Pointer[podTargets]
	// dormant is set for a pod adopted from its record with no container
	// running: nothing starts, and no sandbox is set up, until wakeCh
	// (StartPod) asks (dormant.go).
	dormant atomic.Bool
	wakeCh  chan chan struct{}

	attemptMu     sync.Mutex
	attemptCancel context.CancelFunc
	interrupted   atomic.Bool

	probeEvents chan probeEvent

	containers []*containerState
	qos        corev1.PodQOSClass
	startTime  time.Time
	stopping   bool
	// finishing is set once the pod's app containers are done for good (or
	// an init container failed for good): sidecars are stopped and not
	// restarted.
	finishing bool
	// deadlineExceeded is set once activeDeadlineSeconds ran out: nothing
	// starts again and the pod is Failed.
	deadlineExceeded bool
	// sandboxRetryAt and sandboxBackoff pace the retries of an adopted
	// pod's failed sandbox setup (ensureSandbox).
	sandboxRetryAt time.Time
	sandboxBackoff backoffState
	// savedVerdicts is the verdicts file's content as last written or read.
	savedVerdicts string
}

func newWorker(r *Runtime, uid types.UID, pod *corev1.Pod, sb *sandbox, labels map[string]string) *worker {
	w := &worker{
		rt: r, uid: uid, pod: pod, sandbox: sb,
		stopCh: make(chan stopRequest), exits: make(chan taskExit), probeEvents: make(chan probeEvent), wakeCh: make(chan chan struct{}),
		ready: make(chan struct{}), done: make(chan struct{}),
		startTime: r.now(),
	}
	if pod != nil {
		w.namespace, w.name, w.grace = pod.Namespace, pod.Name, gracePeriod(pod)
		w.qos = qosClass(pod)
		for i := range pod.Spec.InitContainers {
			c := &pod.Spec.InitContainers[i]
			w.containers = append(w.containers, &containerState{name: c.Name, kind: kindOf(c, true), spec: c, image: c.Image, pending: true, pendingAt: w.startTime})
		}
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			w.containers = append(w.containers, &containerState{name: c.Name, spec: c, image: c.Image, pending: true, pendingAt: w.startTime})
		}
	} else {
		w.namespace, w.name = labels[LabelPodNamespace], labels[LabelPodName]
		w.grace = parseGracePeriod(labels[LabelGracePeriod])
	}
	w.log = r.log.With("pod", w.key(), "uid", uid)
	w.publish()
	return w
}

func gracePeriod(p *corev1.Pod) time.Duration {
	if p.Spec.TerminationGracePeriodSeconds == nil {
		return 30 * time.Second
	}
	return time.Duration(*p.Spec.TerminationGracePeriodSeconds) * time.Second
}

func (w *worker) key() string { return w.namespace + "/" + w.name }

// run owns the pod until it is stopped or ctx ends; on ctx's end the
// containers keep running.
func (w *worker) run(ctx context.Context) {
	defer close(w.done)
	wctx, cancelWatches := context.WithCancel(ctx)
	defer cancelWatches()
	if w.sandbox != nil {
		w.loadLifetime()
	} else if !w.dormant.Load() {
		w.ensureSandbox() // loads the lifetime once it succeeds
	}
	if len(w.adopted) > 0 {
		for _, ex := range w.adopt(wctx, w.adopted) {
			w.onExit(wctx, ex)
		}
		w.adopted = nil
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	first := true
	var woken []chan struct{}
	for {
		w.sync(wctx)
		w.publish()
		if first {
			close(w.ready)
			first = false
		}
		for _, reply := range woken {
			close(reply)
		}
		woken = nil
		timer.Stop()
		var timerC <-chan time.Time
		if at, ok := w.nextAttempt(); ok {
			timer.Reset(max(at.Sub(w.rt.now()), 0))
			timerC = timer.C
		}
		select {
		case <-ctx.Done():
			return
		case ex := <-w.exits:
			w.onExit(wctx, ex)
		case ev := <-w.probeEvents:
			w.onProbe(wctx, ev)
		case reply := <-w.wakeCh:
			w.wake()
			woken = append(woken, reply)
		case req := <-w.stopCh:
			err := w.stop(wctx, req.grace)
			w.publish()
			req.reply <- err
			if err == nil {
				return
			}
		case <-timerC:
		}
	}
}

func (w *worker) nextAttempt() (time.Time, bool) {
	if w.dormant.Load() {
		return time.Time{}, false
	}
	if w.pod != nil && w.sandbox == nil {
		// Nothing starts before the sandbox: its retry is the next event.
		return w.sandboxRetryAt, !w.stopping
	}
	var at time.Time
	found := false
	for _, cs := range w.containers[:w.startable()] {
		if cs.pending && (!found || cs.pendingAt.Before(at)) {
			at, found = cs.pendingAt, true
		}
	}
	if d, ok := w.activeDeadline(); ok && (!found || d.Before(at)) {
		at, found = d, true
	}
	return at, found && !w.stopping && !w.deadlineExceeded
}

// interrupt cancels a start in progress (a slow pull) so a stop is served
// at once, and keeps further starts from beginning.
func (w *worker) interrupt() {
	w.interrupted.Store(true)
	w.attemptMu.Lock()
	defer w.attemptMu.Unlock()
	if w.attemptCancel != nil {
		w.attemptCancel()
	}
}

func (w *worker) attemptContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	w.attemptMu.Lock()
	w.attemptCancel = cancel
	w.attemptMu.Unlock()
	if w.interrupted.Load() {
		cancel()
	}
	return ctx, cancel
}

// initProgress walks the init containers in order: initialized is true
// once every one completed (sidecars: started); otherwise next is the index
// of the one the pod waits for, and failed says it failed for good.
func (w *worker) initProgress() (initialized, failed bool, next int) {
	for i, cs := range w.containers {
		switch cs.kind {
		case appContainer:
			return true, false, i
		case sidecarContainer:
			if !cs.startedOnce {
				return false, false, i
			}
		case initContainer:
			if cs.completed {
				continue
			}
			return false, cs.terminated != nil, i
		}
	}
	return true, false, len(w.containers)
}

// startable is how many of w.containers, from the first, may be (re)started
// now: init containers up to the one the pod waits for, and every
// container once the pod is initialized.
func (w *worker) startable() int {
	if w.finishing {
		return 0
	}
	initialized, failed, next := w.initProgress()
	switch {
	case initialized:
		return len(w.containers)
	case failed:
		return 0
	}
	return next + 1
}

func (w *worker) sync(ctx context.Context) {
	if w.pod == nil || w.stopping || w.dormant.Load() || !w.ensureSandbox() || w.enforceDeadline(ctx) {
		return
	}
	for {
		n := w.startable()
		for _, cs := range w.containers[:n] {
			if w.interrupted.Load() {
				return
			}
			if cs.pending && !cs.pendingAt.After(w.rt.now()) {
				w.attempt(ctx, cs)
			}
		}
		// A sidecar that just started lets the next init container begin
		// in this same pass.
		if w.startable() <= n {
			break
		}
	}
	w.finishSidecars(ctx)
}

// finishSidecars stops the sidecars once the app containers are done for
// good, or an init container failed for good, as the kubelet does.
func (w *worker) finishSidecars(ctx context.Context) {
	if w.finishing {
		return
	}
	initialized, failed, _ := w.initProgress()
	if !failed {
		if !initialized {
			return
		}
		apps := 0
		for _, cs := range w.containers {
			if cs.kind == appContainer {
				apps++
				if cs.terminated == nil {
					return
				}
			}
		}
		if apps == 0 {
			return
		}
	}
	w.finishing = true
	for _, cs := range w.containers {
		if cs.kind == sidecarContainer {
			cs.pending = false
		}
	}
	for _, cs := range w.containers {
		if cs.kind == sidecarContainer && !cs.running && cs.terminated == nil {
			cs.waiting, cs.terminated = nil, cs.lastTerminated
			if cs.terminated == nil {
				cs.terminated = &corev1.ContainerStateTerminated{Reason: "Completed"}
			}
		}
	}
	w.log.Info("stopping sidecars: the pod's containers are done")
	for i := range w.containers {
		cs := w.containers[len(w.containers)-1-i]
		if cs.kind == sidecarContainer && cs.running && cs.ctr != nil {
			if err := w.killRun(ctx, cs.ctr, cs.spec, w.grace); err != nil {
				w.log.Warn("stopping a sidecar", "container", cs.name, "error", err)
			}
		}
	}
}

// publish stores a fresh status for PodStatus to read.
func (w *worker) publish() {
	views := make([]containerStatusView, 0, len(w.containers))
	for _, cs := range w.containers {
		v := containerStatusView{
			name: cs.name, kind: cs.kind, image: cs.image, imageID: cs.imageID, restartCount: cs.restartCount,
			started: cs.started, ready: cs.ready, startedOnce: cs.startedOnce, completed: cs.completed, running: cs.running, startedAt: cs.startedAt, waiting: cs.waiting, terminated: cs.terminated, lastTerminated: cs.lastTerminated,
		}
		if cs.ctr != nil {
			v.containerID = "containerd://" + cs.ctr.ID()
		}
		if cs.spec != nil {
			v.volumeMounts = pod.VolumeMountStatuses(cs.spec, w.rt.caps.security.recursiveReadOnly)
		}
		views = append(views, v)
	}
	policy := corev1.RestartPolicyNever
	if w.pod != nil {
		policy = w.pod.Spec.RestartPolicy
	}
	w.targets.Store(w.streamTargets())
	st := buildPodStatus(policy, w.startTime, views)
	w.applyDeadlineStatus(&st)
	if w.pod != nil {
		st.QOSClass = w.qos
		w.rt.applyNetworkStatus(&st, w.sandbox)
	}
	// Any change is signalled, not only phase and readiness: the agent
	// publishes its state on the signal, and mirror pods take their status
	// (restart counts, container states) from that state alone.
	if previous := w.status.Swap(&st); previous == nil || !equality.Semantic.DeepEqual(*previous, st) {
		w.rt.signalStatusChanged()
	}
}
