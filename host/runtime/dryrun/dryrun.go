// Package dryrun is an agent.Runtime that runs nothing: it logs what it
// would start and stop and remembers it in memory. `staticlet run --dry-run`
// uses it to show what the agent would do on a node without touching
// containers. No IO beyond logging.
package dryrun

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/agent"
)

// Runtime is the dry-run runtime.
type Runtime struct {
	log  hclog.Logger
	mu   sync.Mutex
	pods map[types.UID]agent.RuntimePod
	// names holds each pod's container names, for PodStatus.
	names map[types.UID][]string
}

var _ agent.Runtime = (*Runtime)(nil)

// New returns an empty dry-run runtime logging to log.
func New(log hclog.Logger) *Runtime {
	return &Runtime{log: log.Named("dry-run"), pods: map[types.UID]agent.RuntimePod{}, names: map[types.UID][]string{}}
}

// ListPods implements agent.Runtime.
func (r *Runtime) ListPods(ctx context.Context) ([]agent.RuntimePod, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]agent.RuntimePod, 0, len(r.pods))
	for _, p := range r.pods {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out, nil
}

// StartPod implements agent.Runtime.
func (r *Runtime) StartPod(ctx context.Context, pod *corev1.Pod) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := pod.Namespace + "/" + pod.Name
	if _, ok := r.pods[pod.UID]; !ok {
		images := make([]string, 0, len(pod.Spec.Containers))
		for _, c := range pod.Spec.Containers {
			images = append(images, c.Name+"="+c.Image)
		}
		r.log.Info("would start pod", "pod", key, "uid", pod.UID, "containers", images)
	}
	r.pods[pod.UID] = agent.RuntimePod{UID: pod.UID, Key: key, GracePeriod: agent.GracePeriod(pod)}
	r.names[pod.UID] = nil
	for _, c := range pod.Spec.Containers {
		r.names[pod.UID] = append(r.names[pod.UID], c.Name)
	}
	return nil
}

// PodStatus implements agent.Runtime: nothing runs, so every container
// waits with reason DryRun and the pod stays Pending.
func (r *Runtime) PodStatus(uid types.UID) (corev1.PodStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pods[uid]; !ok {
		return corev1.PodStatus{}, false
	}
	st := corev1.PodStatus{Phase: corev1.PodPending}
	for _, name := range r.names[uid] {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
			Name:  name,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "DryRun", Message: "staticlet run --dry-run starts nothing"}},
		})
	}
	return st, true
}

// StopPod implements agent.Runtime.
func (r *Runtime) StopPod(ctx context.Context, uid types.UID, grace time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[uid]
	if !ok {
		return fmt.Errorf("dry-run stop %s: %w", uid, agent.ErrPodNotFound)
	}
	r.log.Info("would stop pod", "pod", p.Key, "uid", uid, "grace_period", grace)
	delete(r.pods, uid)
	delete(r.names, uid)
	return nil
}
