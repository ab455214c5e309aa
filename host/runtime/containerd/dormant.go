package containerd

import (
	"context"
	"errors"
	"fmt"

	"github.com/containerd/containerd/v2/client"
	"k8s.io/apimachinery/pkg/types"
)

// A pod is dormant when this runtime finds it in its records (pods/<uid>)
// with no task left of any of its containers: the node restarted (containerd
// keeps its container records, not their tasks), or the earlier agent died
// before the first start. The kubelet starts nothing no source lists, so a
// dormant pod is reported by ListPods (agent.RuntimePod.Dormant) but has no
// sandbox set up and no container started until StartPod asks for its UID;
// StopPod cleans it up like any pod. A pod whose tasks exited but are still
// there (a completed pod, or one crash-looping when the agent stopped) is
// adopted as before: its exits are known and its restart policy applies.

// errClosing is returned to a caller waiting on a worker that ended with the
// runtime.
var errClosing = errors.New("the runtime is closing")

// uidsWithTasks tells, for the pods of byUID, which have a container with a
// task that ran (running, paused or exited). A task only created is left
// from an agent that died before starting it, and counts as none.
func uidsWithTasks(ctx context.Context, byUID map[types.UID][]client.Container) (map[types.UID]bool, error) {
	live := map[types.UID]bool{}
	for uid, ctrs := range byUID {
		for _, c := range ctrs {
			task, err := c.Task(ctx, nil)
			if err != nil {
				continue // no task: nothing runs
			}
			st, err := task.Status(ctx)
			if err != nil {
				return nil, fmt.Errorf("task status of %s: %w", c.ID(), err)
			}
			if st.Status != client.Created && st.Status != client.Unknown {
				live[uid] = true
				break
			}
		}
	}
	return live, nil
}

// wake ends the pod's dormancy: its sandbox is set up and its containers
// start on the worker's next pass (by their restart state, so a container
// whose run was found exited counts it).
func (w *worker) wake() {
	if w.dormant.CompareAndSwap(true, false) {
		w.log.Info("dormant pod wanted by a manifest; starting it")
	}
}

// wakeUp asks the worker to wake and waits for its next pass, in which
// every container was tried once.
func (w *worker) wakeUp(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case w.wakeCh <- reply:
	case <-w.done:
		return errClosing
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-reply:
		return nil
	case <-w.done:
		return errClosing
	case <-ctx.Done():
		return ctx.Err()
	}
}
