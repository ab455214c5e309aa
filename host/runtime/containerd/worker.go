package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/podlogs"
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
	probeCancel    context.CancelFunc
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

	stopCh chan stopRequest
	exits  chan taskExit
	ready  chan struct{}
	done   chan struct{}
	status atomic.Pointer[corev1.PodStatus]
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
		w.adopt(wctx, w.adopted)
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

// attempt starts the container once: pulls its image as its policy says,
// removes the previous run (counting a restart) and creates and starts the
// next.
func (w *worker) attempt(parent context.Context, cs *containerState) {
	ctx, cancel := w.attemptContext(parent)
	defer cancel()
	now := w.rt.now()
	cs.pending = false
	retryIn := func(at time.Time, reason, message string) {
		cs.pending, cs.pendingAt = true, at
		cs.waiting = &corev1.ContainerStateWaiting{Reason: reason, Message: message}
	}
	img, err := w.ensureImage(ctx, cs)
	imageDone := w.rt.now()
	if err != nil {
		switch {
		case ctx.Err() != nil:
			retryIn(now, "ContainerCreating", "interrupted")
		case errors.Is(err, errImageNeverPull), errors.Is(err, errImagePull), errors.Is(err, errInvalidImage):
			cs.pull.retried(now, w.rt.opts.ImageBackoff)
			reason := "ImagePullBackOff"
			if errors.Is(err, errImageNeverPull) {
				reason = "ErrImageNeverPull"
			} else if errors.Is(err, errInvalidImage) {
				reason = "InvalidImageName"
			}
			retryIn(cs.pull.readyAt(now, w.rt.opts.ImageBackoff), reason, err.Error())
			w.log.Warn("container image not available", "container", cs.name, "reason", reason, "error", err, "retry_in", cs.pull.delay)
		default:
			retryIn(now.Add(unavailableRetry), "ContainerCreating", err.Error())
			w.log.Warn("container start deferred: containerd", "container", cs.name, "error", err)
		}
		return
	}
	cs.pull = backoffState{}
	if cs.ctr != nil {
		// A restart: the previous run goes (its exit status is in
		// lastTerminated), the count goes up.
		if err := removeContainer(ctx, cs.ctr); err != nil {
			retryIn(now.Add(unavailableRetry), "ContainerCreating", err.Error())
			return
		}
		cs.ctr = nil
		cs.restartCount++
		cs.crash.retried(now, w.rt.opts.CrashBackoff)
	}
	if err := w.createAndStart(ctx, parent, cs, img); err != nil {
		if errdefs.IsUnavailable(err) || ctx.Err() != nil {
			retryIn(now.Add(unavailableRetry), "ContainerCreating", err.Error())
			return
		}
		if cs.crash.lastRetry != now {
			cs.crash.retried(now, w.rt.opts.CrashBackoff)
		}
		reason := "RunContainerError"
		if errors.Is(err, errCreateContainerConfig) {
			reason = "CreateContainerConfigError"
		}
		retryIn(cs.crash.readyAt(now, w.rt.opts.CrashBackoff), reason, err.Error())
		w.log.Error("container failed to start", "container", cs.name, "error", err, "retry_in", cs.crash.delay)
		return
	}
	cs.waiting, cs.terminated = nil, nil
	if !w.postStart(ctx, parent, cs) {
		return
	}
	w.startProbes(parent, cs)
	w.log.Info("container started", "container", cs.name, "restart_count", cs.restartCount, "took", w.rt.now().Sub(now), "image_took", imageDone.Sub(now))
}

func normalizeImage(ref string) (string, error) {
	named, err := reference.ParseDockerRef(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w: %w", ref, errInvalidImage, err)
	}
	return named.String(), nil
}

func pullPolicy(c *corev1.Container) corev1.PullPolicy {
	if c.ImagePullPolicy != "" {
		return c.ImagePullPolicy
	}
	named, err := reference.ParseNormalizedNamed(c.Image)
	if err == nil {
		if tagged, ok := named.(reference.Tagged); ok && tagged.Tag() != "latest" {
			return corev1.PullIfNotPresent
		}
		if _, ok := named.(reference.Digested); ok {
			return corev1.PullIfNotPresent
		}
	}
	return corev1.PullAlways
}

// ensureImage returns the container's image, pulled as its policy says and
// unpacked for the snapshotter.
func (w *worker) ensureImage(ctx context.Context, cs *containerState) (client.Image, error) {
	cl := w.rt.client
	ref, err := normalizeImage(cs.spec.Image)
	if err != nil {
		return nil, err
	}
	policy := pullPolicy(cs.spec)
	img, err := cl.GetImage(ctx, ref)
	switch {
	case err == nil && policy != corev1.PullAlways:
	case err != nil && !errdefs.IsNotFound(err):
		return nil, fmt.Errorf("image %s: %w", ref, err)
	case err != nil && policy == corev1.PullNever:
		return nil, fmt.Errorf("container image %q is not present with pull policy of Never: %w", ref, errImageNeverPull)
	default:
		pctx, cancel := context.WithTimeout(ctx, w.rt.opts.PullTimeout)
		defer cancel()
		opts := []client.RemoteOpt{client.WithPullUnpack}
		if w.rt.opts.Snapshotter != "" {
			opts = append(opts, client.WithPullSnapshotter(w.rt.opts.Snapshotter))
		}
		w.log.Info("pulling image", "container", cs.name, "image", ref, "policy", policy)
		img, err = cl.Pull(pctx, ref, opts...)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("back-off pulling image %q: %w: %w", ref, errImagePull, err)
		}
	}
	digest := img.Target().Digest.String()
	if _, ok := w.rt.unpacked.Load(digest + w.rt.opts.Snapshotter); !ok {
		unpacked, err := img.IsUnpacked(ctx, w.rt.opts.Snapshotter)
		if err != nil {
			return nil, fmt.Errorf("image %s: check unpacked: %w", ref, err)
		}
		if !unpacked {
			if err := img.Unpack(ctx, w.rt.opts.Snapshotter); err != nil {
				return nil, fmt.Errorf("image %s: unpack: %w", ref, err)
			}
		}
		w.rt.unpacked.Store(digest+w.rt.opts.Snapshotter, true)
	}
	cs.imageID = ref + "@" + digest
	return img, nil
}

// createAndStart creates the container's next run and starts its task.
// watchCtx is the worker's: the exit watch outlives this attempt.
func (w *worker) createAndStart(ctx, watchCtx context.Context, cs *containerState, img client.Image) error {
	cl := w.rt.client
	begin := time.Now()
	id := containerID(string(w.uid), cs.name, cs.restartCount)
	imgConfig, err := w.rt.imageConfig(ctx, img)
	if err != nil {
		return fmt.Errorf("image config of %s: %w", cs.image, err)
	}
	opts, err := specOpts(specInput{pod: w.rt.withNetworkStatus(w.pod, w.sandbox), container: cs.spec, image: imgConfig, nodeName: w.rt.opts.NodeName, sandbox: w.sandbox, seccompRoot: w.rt.opts.SeccompProfileRoot,
		seccompDefault: w.rt.opts.SeccompDefault, host: w.rt.caps.security, sysctls: w.rt.caps.sysctls})
	if err != nil {
		return err
	}
	labels := map[string]string{
		LabelPodUID: string(w.uid), LabelPodNamespace: w.namespace, LabelPodName: w.name,
		LabelPodHash: w.pod.Annotations["kubernetes.io/config.hash"], LabelGracePeriod: gracePeriodLabel(w.grace),
		LabelContainerName: cs.name, LabelRestartCount: strconv.Itoa(int(cs.restartCount)),
	}
	newOpts := []client.NewContainerOpts{client.WithContainerLabels(labels), client.WithImage(img), client.WithImageStopSignal(img, "SIGTERM")}
	if lc := cs.spec.Lifecycle; lc != nil && lc.StopSignal != nil {
		// Replaces the image's STOPSIGNAL, in the label GetStopSignal reads.
		newOpts = append(newOpts, client.WithAdditionalContainerLabels(map[string]string{client.StopSignalLabel: string(*lc.StopSignal)}))
	}
	if w.rt.opts.Snapshotter != "" {
		newOpts = append(newOpts, client.WithSnapshotter(w.rt.opts.Snapshotter))
	}
	newOpts = append(newOpts, client.WithNewSnapshot(id, img), client.WithNewSpec(opts...))
	tCreate := time.Now()
	ctr, err := cl.NewContainer(ctx, id, newOpts...)
	if errdefs.IsAlreadyExists(err) {
		// Left by an agent that died between create and start: replace it.
		// Dying between the snapshot and the container leaves the snapshot
		// alone.
		if old, lerr := cl.LoadContainer(ctx, id); lerr == nil {
			if rerr := removeContainer(ctx, old); rerr != nil {
				return rerr
			}
		} else if errdefs.IsNotFound(lerr) {
			if rerr := w.rt.removeSnapshot(ctx, id); rerr != nil {
				return rerr
			}
		}
		ctr, err = cl.NewContainer(ctx, id, newOpts...)
	}
	if err != nil {
		return fmt.Errorf("create container %s: %w", id, err)
	}
	fail := func(err error) error {
		if rerr := removeContainer(context.WithoutCancel(ctx), ctr); rerr != nil {
			w.log.Warn("cleanup of a failed start", "container", id, "error", rerr)
		}
		return err
	}
	logPath := podlogs.ContainerLogPath(w.rt.opts.PodLogDir, w.namespace, w.name, string(w.uid), cs.name, cs.restartCount)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return fail(fmt.Errorf("log folder: %w", err))
	}
	pruneLogs(filepath.Dir(logPath), cs.restartCount)
	tTask := time.Now()
	task, err := ctr.NewTask(ctx, cio.BinaryIO(w.rt.opts.LoggerBinary, map[string]string{podlogs.ShimLoggerCommand: logPath}))
	if err != nil {
		return fail(fmt.Errorf("create task %s: %w", id, err))
	}
	// Wait before Start, so an immediate exit cannot be missed.
	exitCh, err := task.Wait(watchCtx)
	if err != nil {
		return fail(fmt.Errorf("wait task %s: %w", id, err))
	}
	tStart := time.Now()
	if err := task.Start(ctx); err != nil {
		return fail(fmt.Errorf("start task %s: %w", id, err))
	}
	w.log.Debug("container created and started", "container", cs.name, "spec", tCreate.Sub(begin), "create", tTask.Sub(tCreate),
		"new_task", tStart.Sub(tTask), "start", time.Since(tStart))
	cs.ctr = ctr
	cs.gen++
	cs.running, cs.startedAt = true, w.rt.now()
	go w.watch(watchCtx, cs.name, cs.gen, ctr, exitCh)
	return nil
}

// pruneLogs deletes the log files of runs older than the ones kept.
func pruneLogs(dir string, current int32) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		n, err := strconv.Atoi(strings.TrimSuffix(e.Name(), ".log"))
		if err == nil && int32(n) <= current-keepLogRuns {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// removeContainer deletes a container's task (killing it) and the container
// with its snapshot; what is already gone is fine.
func removeContainer(ctx context.Context, ctr client.Container) error {
	if task, err := ctr.Task(ctx, nil); err == nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete task %s: %w", ctr.ID(), err)
		}
	} else if !errdefs.IsNotFound(err) {
		return fmt.Errorf("load task %s: %w", ctr.ID(), err)
	}
	if err := ctr.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("delete container %s: %w", ctr.ID(), err)
	}
	return nil
}

// removeSnapshot deletes the active snapshot key of a container that was
// never created; one already gone is fine.
func (r *Runtime) removeSnapshot(ctx context.Context, key string) error {
	name := r.opts.Snapshotter
	if name == "" {
		name = defaults.DefaultSnapshotter
	}
	if err := r.client.SnapshotService(name).Remove(ctx, key); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove leftover snapshot %s: %w", key, err)
	}
	return nil
}

// watch forwards the task's exit to the worker. When containerd goes away
// the Wait call breaks while the shim keeps the task; watch then waits again
// once containerd answers, so an exit is never lost or invented.
func (w *worker) watch(ctx context.Context, name string, gen uint64, ctr client.Container, ch <-chan client.ExitStatus) {
	delay := 100 * time.Millisecond
	for {
		var st client.ExitStatus
		select {
		case st = <-ch:
		case <-ctx.Done():
			return
		}
		if st.Error() == nil {
			w.sendExit(ctx, taskExit{name: name, gen: gen, code: int32(st.ExitCode()), at: st.ExitTime()})
			return
		}
		if ctx.Err() != nil {
			return
		}
		w.log.Warn("lost the wait on a task; re-attaching", "container", name, "error", st.Error())
		for {
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return
			}
			delay = min(2*delay, 5*time.Second)
			task, err := ctr.Task(ctx, nil)
			if errdefs.IsNotFound(err) {
				w.sendExit(ctx, taskExit{name: name, gen: gen, code: 255, at: time.Now(), lost: true})
				return
			}
			if err != nil {
				continue
			}
			if ch, err = task.Wait(ctx); err == nil {
				w.log.Info("re-attached to a task", "container", name)
				break
			}
		}
	}
}

func (w *worker) sendExit(ctx context.Context, ex taskExit) {
	select {
	case w.exits <- ex:
	case <-ctx.Done():
	}
}

func (w *worker) find(name string) *containerState {
	for _, cs := range w.containers {
		if cs.name == name {
			return cs
		}
	}
	return nil
}

// onExit records a task's exit and applies the restart policy: the pod's
// for app containers, OnFailure at most for init containers, Always for
// sidecars until the pod finishes.
func (w *worker) onExit(ctx context.Context, ex taskExit) {
	cs := w.find(ex.name)
	if cs == nil || cs.gen != ex.gen || !cs.running {
		return
	}
	cs.running, cs.started, cs.ready = false, false, false
	if cs.probeCancel != nil {
		cs.probeCancel()
		cs.probeCancel = nil
	}
	now := w.rt.now()
	oom := w.oomKilled(cs)
	term := &corev1.ContainerStateTerminated{
		ExitCode: ex.code, Reason: terminationReason(ex.code, oom),
		StartedAt: metav1.NewTime(cs.startedAt), FinishedAt: metav1.NewTime(ex.at),
	}
	if cs.ctr != nil {
		term.ContainerID = "containerd://" + cs.ctr.ID()
	}
	if ex.lost {
		term.Reason, term.Message = "ContainerStatusUnknown", "the task vanished without an exit status (its shim died)"
	}
	if cs.killMessage != "" {
		term.Message, cs.killMessage = cs.killMessage, ""
	}
	probeKilled := cs.probeKilled
	cs.probeKilled = false
	if w.stopping || w.deadlineExceeded {
		cs.terminated, cs.pending = term, false
		return
	}
	policy := corev1.RestartPolicyNever
	if w.pod != nil {
		policy = w.pod.Spec.RestartPolicy
	}
	switch cs.kind {
	case initContainer:
		if policy == corev1.RestartPolicyAlways {
			policy = corev1.RestartPolicyOnFailure
		}
	case sidecarContainer:
		policy = corev1.RestartPolicyAlways
		if w.finishing {
			policy = corev1.RestartPolicyNever
		}
	}
	if cs.kind == initContainer && ex.code == 0 && !ex.lost {
		cs.completed = true
		w.markCompleted(ctx, cs)
	}
	if !restartWanted(policy, ex.code) && !(probeKilled && policy != corev1.RestartPolicyNever) {
		cs.terminated, cs.pending = term, false
		w.log.Info("container terminated", "container", cs.name, "kind", cs.kind, "exit_code", ex.code, "reason", term.Reason, "restart_policy", policy)
		return
	}
	cs.lastTerminated = term
	at := cs.crash.readyAt(now, w.rt.opts.CrashBackoff)
	cs.pending, cs.pendingAt = true, at
	cs.waiting = nil
	if at.After(now) {
		cs.waiting = &corev1.ContainerStateWaiting{
			Reason:  "CrashLoopBackOff",
			Message: fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", cs.crash.delay, cs.name, w.name),
		}
	}
	w.log.Info("container exited; restarting", "container", cs.name, "exit_code", ex.code, "reason", term.Reason, "restart_in", at.Sub(now))
}

// markCompleted labels a completed init container's run, so an agent that
// adopts the pod never runs it again, even if its stopped task is gone.
func (w *worker) markCompleted(ctx context.Context, cs *containerState) {
	if cs.ctr == nil {
		return
	}
	if _, err := cs.ctr.SetLabels(ctx, map[string]string{LabelCompleted: "true"}); err != nil {
		w.log.Warn("cannot label a completed init container; an agent restart may run it again", "container", cs.name, "error", err)
	}
}

// oomKilled reads the container's memory cgroup (v1 or v2) for OOM kills;
// runc keeps it until the task is deleted.
func (w *worker) oomKilled(cs *containerState) bool {
	if cs.ctr == nil {
		return false
	}
	return w.rt.oomKilledIn(w.sandbox, cs.ctr.ID())
}

// adopt takes over containers an earlier agent started: the latest run of
// each container is re-attached (running) or has its exit handled (exited);
// older runs and containers the pod does not have are removed.
func (w *worker) adopt(ctx context.Context, ctrs []client.Container) {
	type run struct {
		ctr    client.Container
		labels map[string]string
	}
	byName := map[string][]run{}
	for _, c := range ctrs {
		labels, err := c.Labels(ctx)
		if err != nil {
			w.log.Warn("adopt: cannot read labels", "container", c.ID(), "error", err)
			continue
		}
		byName[labels[LabelContainerName]] = append(byName[labels[LabelContainerName]], run{c, labels})
	}
	for name, runs := range byName {
		sort.Slice(runs, func(i, j int) bool {
			return parseRestartCount(runs[i].labels[LabelRestartCount]) > parseRestartCount(runs[j].labels[LabelRestartCount])
		})
		for _, extra := range runs[1:] {
			w.log.Warn("adopt: removing a duplicate run", "container", name, "id", extra.ctr.ID())
			if err := removeContainer(ctx, extra.ctr); err != nil {
				w.log.Error("adopt: cannot remove a duplicate run", "id", extra.ctr.ID(), "error", err)
			}
		}
		latest := runs[0]
		cs := w.find(name)
		if cs == nil {
			if w.pod != nil {
				w.log.Warn("adopt: removing a container the pod does not have", "container", name)
				_ = removeContainer(ctx, latest.ctr)
				continue
			}
			cs = &containerState{name: name}
			w.containers = append(w.containers, cs)
		}
		cs.ctr = latest.ctr
		cs.restartCount = parseRestartCount(latest.labels[LabelRestartCount])
		cs.pending = false
		if info, err := latest.ctr.Info(ctx); err == nil {
			cs.startedAt, cs.image = info.CreatedAt, info.Image
		}
		if latest.labels[LabelCompleted] == "true" {
			cs.completed = true
			cs.terminated = &corev1.ContainerStateTerminated{Reason: "Completed", ContainerID: "containerd://" + latest.ctr.ID(), StartedAt: metav1.NewTime(cs.startedAt)}
			w.log.Info("adopted a completed init container", "container", name)
			continue
		}
		task, err := latest.ctr.Task(ctx, nil)
		if err == nil {
			st, serr := task.Status(ctx)
			if serr == nil && st.Status != client.Created {
				ch, werr := task.Wait(ctx)
				if werr == nil {
					cs.gen++
					cs.running = true
					cs.startedOnce = true
					go w.watch(ctx, name, cs.gen, latest.ctr, ch)
					w.startProbes(ctx, cs)
					w.log.Info("adopted container", "container", name, "restart_count", cs.restartCount, "task", st.Status)
					continue
				}
				err = werr
			} else if serr != nil {
				err = serr
			}
		}
		// No usable task: the earlier agent died between create and start.
		// Start this run afresh under the same restart count.
		w.log.Info("adopt: container has no running task; starting it", "container", name, "error", err)
		if rerr := removeContainer(ctx, latest.ctr); rerr != nil {
			w.log.Warn("adopt: cleanup", "container", name, "error", rerr)
		}
		cs.ctr = nil
		if cs.spec != nil {
			cs.pending, cs.pendingAt = true, w.rt.now()
		}
	}
	// An app container that ever ran means the pod was initialized: init
	// containers whose runs are gone are not run again, as in the kubelet.
	appRan := false
	for _, cs := range w.containers {
		if cs.kind == appContainer && cs.ctr != nil {
			appRan = true
		}
	}
	for _, cs := range w.containers {
		if appRan && cs.kind == initContainer && !cs.completed && cs.ctr == nil {
			cs.completed, cs.pending = true, false
			cs.terminated = &corev1.ContainerStateTerminated{Reason: "Completed"}
		}
	}
	sort.SliceStable(w.containers, func(i, j int) bool { return w.specIndex(w.containers[i].name) < w.specIndex(w.containers[j].name) })
}

// specIndex orders containers as the pod lists them, init containers first.
func (w *worker) specIndex(name string) int {
	if w.pod != nil {
		for i, c := range w.pod.Spec.InitContainers {
			if c.Name == name {
				return i
			}
		}
		for i, c := range w.pod.Spec.Containers {
			if c.Name == name {
				return len(w.pod.Spec.InitContainers) + i
			}
		}
	}
	return 1 << 20
}

// stop ends the pod: the stop signal (the image's STOPSIGNAL or SIGTERM) to
// every running container, up to grace for them to exit, then SIGKILL; then
// removes containers, namespaces and folders. An error leaves the pod to be
// stopped again.
func (w *worker) stop(ctx context.Context, grace time.Duration) error {
	w.stopping = true
	w.log.Info("stopping pod", "grace_period", grace)
	if err := w.terminateAll(ctx, grace); err != nil {
		return err
	}
	var errs []error
	for _, cs := range w.containers {
		if cs.ctr != nil {
			if err := removeContainer(ctx, cs.ctr); err != nil {
				errs = append(errs, err)
				continue
			}
			cs.ctr = nil
		}
	}
	// Anything else labelled with this pod (a run created by an agent that
	// died before recording it) goes too: no container outlives its pod.
	left, err := w.rt.client.Containers(ctx, fmt.Sprintf(`labels.%q==%q`, LabelPodUID, string(w.uid)))
	if err != nil {
		errs = append(errs, fmt.Errorf("list leftovers: %w", err))
	}
	for _, c := range left {
		if err := removeContainer(ctx, c); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return w.rt.teardownSandbox(string(w.uid), w.namespace, w.name)
}

// terminateAll ends every container of the pod as the kubelet kills a pod:
// nothing starts again and the probes stop; the app containers get their
// preStop hooks and stop signal within grace, then the sidecars (reverse
// order) within what is left, so a proxy or log shipper outlives what it
// serves; what still runs then gets SIGKILL. It returns once all exited.
func (w *worker) terminateAll(ctx context.Context, grace time.Duration) error {
	for _, cs := range w.containers {
		cs.pending = false
		if cs.probeCancel != nil {
			cs.probeCancel()
			cs.probeCancel = nil
		}
	}
	deadline := time.Now().Add(grace)
	isSidecar := func(cs *containerState) bool { return cs.kind == sidecarContainer }
	notSidecar := func(cs *containerState) bool { return cs.kind != sidecarContainer }
	deadline = w.preStopAll(ctx, deadline, notSidecar)
	if err := w.signalRunning(ctx, 0, notSidecar); err != nil {
		return err
	}
	w.waitExits(ctx, deadline, notSidecar)
	deadline = w.preStopAll(ctx, deadline, isSidecar)
	if err := w.signalRunning(ctx, 0, isSidecar); err != nil {
		return err
	}
	if !w.waitExits(ctx, deadline, nil) {
		w.log.Info("grace period over; killing", "grace_period", grace)
		if err := w.signalRunning(ctx, syscall.SIGKILL, nil); err != nil {
			return err
		}
		if !w.waitExits(ctx, time.Now().Add(killTimeout), nil) {
			return fmt.Errorf("containers still running %s after SIGKILL", killTimeout)
		}
	}
	return nil
}

// preStopAll runs the preStop hooks of the running containers which
// selects, together, within what is left until deadline, and returns the
// deadline for their stop signal: at least minStopGrace after the hooks, as
// the kubelet gives each container.
func (w *worker) preStopAll(ctx context.Context, deadline time.Time, which func(*containerState) bool) time.Time {
	var wg sync.WaitGroup
	hooks := false
	for _, cs := range w.containers {
		if !cs.running || cs.ctr == nil || !which(cs) || preStopOf(cs.spec) == nil {
			continue
		}
		left := time.Until(deadline)
		if left <= 0 {
			continue
		}
		hooks = true
		wg.Go(func() { w.preStop(ctx, cs.ctr, cs.spec, left) })
	}
	if !hooks {
		return deadline
	}
	wg.Wait()
	if floor := time.Now().Add(minStopGrace); floor.After(deadline) {
		return floor
	}
	return deadline
}

// signalRunning sends sig, or each container's stop signal when sig is 0,
// to every running container that which selects (nil: all). Sidecars are
// signalled in reverse order, as the kubelet stops them.
func (w *worker) signalRunning(ctx context.Context, sig syscall.Signal, which func(*containerState) bool) error {
	for i := range w.containers {
		cs := w.containers[len(w.containers)-1-i]
		if !cs.running || cs.ctr == nil || (which != nil && !which(cs)) {
			continue
		}
		s := sig
		if s == 0 {
			var err error
			if s, err = client.GetStopSignal(ctx, cs.ctr, syscall.SIGTERM); err != nil {
				s = syscall.SIGTERM
			}
		}
		task, err := cs.ctr.Task(ctx, nil)
		if errdefs.IsNotFound(err) {
			cs.running = false
			continue
		}
		if err != nil {
			return fmt.Errorf("signal %s: %w", cs.name, err)
		}
		if err := task.Kill(ctx, s); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("signal %s with %s: %w", cs.name, s, err)
		}
	}
	return nil
}

// waitExits handles exits until no container that which selects (nil: all)
// runs (true) or the deadline passes (false).
func (w *worker) waitExits(ctx context.Context, deadline time.Time, which func(*containerState) bool) bool {
	timer := time.NewTimer(max(time.Until(deadline), 0))
	defer timer.Stop()
	for w.anyRunning(which) {
		select {
		case ex := <-w.exits:
			w.onExit(ctx, ex)
		case <-w.probeEvents:
			// Probes of a stopping pod change nothing.
		case <-timer.C:
			return !w.anyRunning(which)
		case <-ctx.Done():
			return false
		}
	}
	return true
}

func (w *worker) anyRunning(which func(*containerState) bool) bool {
	for _, cs := range w.containers {
		if cs.running && (which == nil || which(cs)) {
			return true
		}
	}
	return false
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
		views = append(views, v)
	}
	policy := corev1.RestartPolicyNever
	if w.pod != nil {
		policy = w.pod.Spec.RestartPolicy
	}
	st := buildPodStatus(policy, w.startTime, views)
	w.applyDeadlineStatus(&st)
	if w.pod != nil {
		st.QOSClass = w.qos
		w.rt.applyNetworkStatus(&st, w.sandbox)
	}
	if previous := w.status.Swap(&st); previous == nil || previous.Phase != st.Phase || agent.PodReady(*previous) != agent.PodReady(st) {
		w.rt.signalStatusChanged()
	}
}
