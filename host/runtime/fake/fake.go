// Package fake is an in-memory agent.Runtime for unit tests of the agent. It
// does no IO. It records every call, can be told to fail starts or stops, and
// can hold a stop open to test grace periods and ordering.
package fake

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/agent"
)

// Call is one recorded runtime call.
type Call struct {
	Op  string // "start" or "stop"
	UID types.UID
	Key string
}

// Runtime is the fake. The zero value is not usable; call New.
type Runtime struct {
	mu      sync.Mutex
	pods    map[types.UID]agent.RuntimePod
	specs   map[types.UID]*corev1.Pod
	started map[types.UID]time.Time
	calls   []Call
	failing map[types.UID]error
	// StopDelay makes every stop take this long (bounded by its grace
	// period and the context), like a container that traps SIGTERM.
	StopDelay time.Duration
	changed   chan struct{}
	// unready holds the pods reported not Ready; startUnready the keys
	// whose pods start so (see SetReady).
	unready       map[types.UID]bool
	startUnready  map[string]bool
	statusChanged chan struct{}
}

var (
	_ agent.Runtime        = (*Runtime)(nil)
	_ agent.StatusNotifier = (*Runtime)(nil)
)

// New returns an empty fake runtime.
func New() *Runtime {
	return &Runtime{
		pods: map[types.UID]agent.RuntimePod{}, specs: map[types.UID]*corev1.Pod{}, started: map[types.UID]time.Time{},
		failing: map[types.UID]error{}, changed: make(chan struct{}),
		unready: map[types.UID]bool{}, startUnready: map[string]bool{}, statusChanged: make(chan struct{}, 1),
	}
}

// Restarted returns a new fake holding the pods r holds, with their specs,
// as a new agent process finds the containers an earlier one left running.
func (r *Runtime) Restarted() *Runtime {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := New()
	for uid, p := range r.pods {
		n.pods[uid] = p
		n.specs[uid] = r.specs[uid]
		n.started[uid] = r.started[uid]
		n.unready[uid] = r.unready[uid]
	}
	return n
}

// Rebooted returns a new fake holding r's pods as after a node restart:
// known from records, dormant, nothing running until StartPod asks.
func (r *Runtime) Rebooted() *Runtime {
	n := r.Restarted()
	for uid, p := range n.pods {
		p.Dormant = true
		n.pods[uid] = p
	}
	return n
}

// Seed adds pods as if an earlier agent had started them.
func (r *Runtime) Seed(pods ...agent.RuntimePod) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range pods {
		r.pods[p.UID] = p
	}
}

// FailNext makes the next start or stop of uid fail with err.
func (r *Runtime) FailNext(uid types.UID, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failing[uid] = err
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
	r.record(Call{Op: "start", UID: pod.UID, Key: key})
	if err := r.takeFailure(pod.UID); err != nil {
		return err
	}
	for _, p := range r.pods {
		if p.Key == key && p.UID != pod.UID {
			return fmt.Errorf("start %s: another version (uid %s) still runs", key, p.UID)
		}
	}
	if p, ok := r.pods[pod.UID]; !ok || p.Dormant {
		r.specs[pod.UID] = pod.DeepCopy()
		r.started[pod.UID] = time.Now()
	}
	if _, held := r.pods[pod.UID]; !held && r.startUnready[key] {
		r.unready[pod.UID] = true
	}
	r.pods[pod.UID] = agent.RuntimePod{UID: pod.UID, Key: key, GracePeriod: agent.GracePeriod(pod)}
	r.signalStatus()
	return nil
}

// StartUnready makes the pods started under key (namespace/name) report
// not Ready until SetReady says otherwise, like a readiness probe that has
// not passed yet.
func (r *Runtime) StartUnready(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.startUnready[key] = true
}

// SetReady sets the readiness the held pods under key report, and future
// starts under key begin that way too.
func (r *Runtime) SetReady(key string, ready bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.startUnready[key] = !ready
	for uid, p := range r.pods {
		if p.Key == key {
			r.unready[uid] = !ready
		}
	}
	r.signalStatus()
	r.notify()
}

// StatusChanged implements agent.StatusNotifier: it signals after a start,
// a stop and every SetReady.
func (r *Runtime) StatusChanged() <-chan struct{} { return r.statusChanged }

func (r *Runtime) signalStatus() {
	select {
	case r.statusChanged <- struct{}{}:
	default:
	}
}

// PodStatus implements agent.Runtime: every container of a held pod runs
// and is ready (unless SetReady said otherwise); a seeded pod has no
// container statuses; a dormant one is Pending, its containers waiting.
func (r *Runtime) PodStatus(uid types.UID) (corev1.PodStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[uid]
	if !ok {
		return corev1.PodStatus{}, false
	}
	if p.Dormant {
		st := corev1.PodStatus{Phase: corev1.PodPending}
		if spec := r.specs[uid]; spec != nil {
			for _, c := range spec.Spec.Containers {
				st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image,
					State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}})
			}
		}
		return st, true
	}
	since := metav1.NewTime(r.started[uid])
	ready := !r.unready[uid]
	readyCondition := corev1.ConditionTrue
	if !ready {
		readyCondition = corev1.ConditionFalse
	}
	st := corev1.PodStatus{Phase: corev1.PodRunning, StartTime: &since, Conditions: []corev1.PodCondition{
		{Type: corev1.ContainersReady, Status: readyCondition}, {Type: corev1.PodReady, Status: readyCondition}}}
	if spec := r.specs[uid]; spec != nil {
		for _, c := range spec.Spec.Containers {
			st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, Ready: ready, Started: ptrTrue(),
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: since}},
			})
		}
	}
	return st, true
}

func ptrTrue() *bool { t := true; return &t }

// StopPod implements agent.Runtime.
func (r *Runtime) StopPod(ctx context.Context, uid types.UID, grace time.Duration) error {
	r.mu.Lock()
	p, ok := r.pods[uid]
	r.record(Call{Op: "stop", UID: uid, Key: p.Key})
	if err := r.takeFailure(uid); err != nil {
		r.mu.Unlock()
		return err
	}
	delay := min(r.StopDelay, grace)
	r.mu.Unlock()
	if !ok {
		return fmt.Errorf("stop %s: %w", uid, agent.ErrPodNotFound)
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pods, uid)
	delete(r.specs, uid)
	delete(r.started, uid)
	delete(r.unready, uid)
	r.signalStatus()
	r.notify()
	return nil
}

func (r *Runtime) takeFailure(uid types.UID) error {
	if err, ok := r.failing[uid]; ok {
		delete(r.failing, uid)
		return err
	}
	return nil
}

func (r *Runtime) record(c Call) {
	r.calls = append(r.calls, c)
	r.notify()
}

func (r *Runtime) notify() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// Calls returns the calls so far.
func (r *Runtime) Calls() []Call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Call(nil), r.calls...)
}

// Running returns the keys of the pods held, sorted, as "key@uid".
func (r *Runtime) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, p := range r.pods {
		out = append(out, p.Key+"@"+string(p.UID))
	}
	sort.Strings(out)
	return out
}

// WaitFor blocks until cond holds or ctx ends; cond is checked after every
// change.
func (r *Runtime) WaitFor(ctx context.Context, cond func(r *Runtime) bool) error {
	for {
		r.mu.Lock()
		ch := r.changed
		r.mu.Unlock()
		if cond(r) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
