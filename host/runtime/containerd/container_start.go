package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	corev1 "k8s.io/api/core/v1"

	"github.com/staticlet/staticlet/host/podlogs"
)

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

// createAndStart creates the container's next run and starts its task.
// watchCtx is the worker's: the exit watch outlives this attempt.
func (w *worker) createAndStart(ctx, watchCtx context.Context, cs *containerState, img client.Image) error {
	cl := w.rt.client
	begin := time.Now()
	id := containerID(string(w.uid), cs.name, cs.restartCount, newRunNonce())
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
		// IDs are unique per run (a random nonce); should one still be
		// taken, replace what holds it. A snapshot an agent left when it died
		// between the snapshot and the container is collected by containerd
		// once NewContainer's lease expires.
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
	// One key: the shim orders the logger's arguments by ranging over them.
	logArg := podlogs.ShimLoggerArg(logPath, w.rt.opts.logRotation())
	task, err := ctr.NewTask(ctx, cio.BinaryIO(w.rt.opts.LoggerBinary, map[string]string{podlogs.ShimLoggerCommand: logArg}))
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

// pruneLogs deletes the log files of runs older than the ones kept, with
// their rotated files (<run>.log.<time>[.gz]).
func pruneLogs(dir string, current int32) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		m := logFileName.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		if n, err := strconv.ParseInt(m[1], 10, 32); err == nil && int32(n) <= current-keepLogRuns {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// logRotation is the rotation policy of every container's logger.
func (o Options) logRotation() podlogs.Rotation {
	return podlogs.Rotation{MaxBytes: o.ContainerLogMaxSize, MaxFiles: int(o.ContainerLogMaxFiles)}
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
