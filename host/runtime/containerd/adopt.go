package containerd

import (
	"context"
	"path/filepath"
	"sort"

	"github.com/containerd/containerd/v2/client"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/staticlet/staticlet/host/podlogs"
)

// adopt takes over containers an earlier agent started: the latest run of
// each container is re-attached (running) or has its exit handled (exited);
// older runs and containers the pod does not have are removed. It returns
// the exits of runs that had already stopped, for the caller to handle once
// every container is adopted, before the pod's first status.
func (w *worker) adopt(ctx context.Context, ctrs []client.Container) (exited []taskExit) {
	type run struct {
		ctr    client.Container
		labels map[string]string
	}
	verdicts := w.loadVerdicts()
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
		if img, err := latest.ctr.Image(ctx); err == nil {
			// As pullImage names it, so the status of an adopted run does not change.
			cs.imageID = img.Name() + "@" + img.Target().Digest.String()
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
			if serr == nil && st.Status == client.Stopped {
				// It exited while no agent watched: its exit is known now,
				// so no status shows it running.
				cs.gen++
				cs.running = true
				cs.startedOnce = true
				exited = append(exited, taskExit{name: name, gen: cs.gen, code: int32(st.ExitStatus), at: st.ExitTime})
				w.log.Info("adopted an exited container", "container", name, "restart_count", cs.restartCount, "exit_code", st.ExitStatus)
				continue
			}
			if serr == nil && st.Status != client.Created {
				ch, werr := task.Wait(ctx)
				if werr == nil {
					cs.gen++
					cs.running = true
					cs.startedOnce = true
					go w.watch(ctx, name, cs.gen, latest.ctr, ch)
					resumeRun(verdicts, cs)
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
		if cs.completed || cs.ctr != nil {
			continue
		}
		if appRan && cs.kind == initContainer {
			cs.completed, cs.pending = true, false
			cs.terminated = &corev1.ContainerStateTerminated{Reason: "Completed", Message: initStatusLost}
			continue
		}
		if _, found := byName[cs.name]; found {
			continue // its run had no task: it starts again under its count
		}
		// Every run of this container is gone (removed behind the agent's
		// back): its next run counts on from the log files left, as the
		// kubelet counts, so restartCount does not go back.
		cs.restartCount = max(cs.restartCount, restartCountFromLogs(w.containerLogDir(cs.name)))
	}
	sort.SliceStable(w.containers, func(i, j int) bool { return w.specIndex(w.containers[i].name) < w.specIndex(w.containers[j].name) })
	return exited
}

// initStatusLost is the kubelet's message for an init container whose runs
// are gone from the runtime in a pod whose app containers ran
// (pkg/kubelet/kubelet_pods.go, convertToAPIContainerStatuses): it counts
// as completed, with no container ID or times to show.
const initStatusLost = "Unable to get init container status from container runtime and pod has been initialized, treat it as exited normally"

// containerLogDir is the folder of a container's log files, one per run.
func (w *worker) containerLogDir(container string) string {
	return filepath.Dir(podlogs.ContainerLogPath(w.rt.opts.PodLogDir, w.namespace, w.name, string(w.uid), container, 0))
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
