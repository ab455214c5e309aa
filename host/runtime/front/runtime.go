package front

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/agent"
)

// PodsPath is where the kubelet reads the served pods: staticPodURL is
// http://<front.address>/pods.
const PodsPath = "/pods"

// Waiting reason of a published pod whose status the kubelet has not
// reported yet (no mirror pod seen).
const ReasonServedToKubelet = "ServedToKubelet"

// Options configure the front runtime.
type Options struct {
	// NodeName is staticlet's node name, which the kubelet's must equal: the
	// served names are the agent's without "-<node>".
	NodeName string
	// StateFile keeps the published pods across staticlet restarts; "" keeps
	// them in memory only.
	StateFile string
	// AwaitStatus makes StartPod wait, at most this long, until the kubelet
	// reports the pod (Observe), so StartPod returns once the pod runs as the
	// agent.Runtime contract says; 0 returns once it is published. Set it only
	// when mirror pods are watched (WatchMirrors), to the kubelet's
	// httpCheckFrequency plus its start time: a pod not reported in time stays
	// published.
	AwaitStatus time.Duration
	Logger      hclog.Logger
}

// Runtime publishes the pods the agent starts. It implements agent.Runtime
// and agent.StatusNotifier, and http.Handler for PodsPath. Safe for
// concurrent use.
type Runtime struct {
	opts Options
	log  hclog.Logger

	mu sync.Mutex
	// pods are the agent's pods, as StartPod got them, by UID.
	pods map[types.UID]*corev1.Pod
	// observed is each pod's status as the kubelet reported it on its mirror
	// pod.
	observed map[types.UID]corev1.PodStatus
	// body is what PodsPath serves; authoritative says whether it may be
	// served: an empty list before the agent has synced would make the
	// kubelet stop every pod it runs for this source.
	body          []byte
	authoritative bool
	fetches       uint64
	changed       chan struct{}
	// reported is closed by the first Observe of a UID that StartPod waits
	// for.
	reported map[types.UID]chan struct{}
}

var (
	_ agent.Runtime        = (*Runtime)(nil)
	_ agent.StatusNotifier = (*Runtime)(nil)
	_ http.Handler         = (*Runtime)(nil)
)

// New returns a front runtime. With a StateFile that exists, its pods are
// published at once and served before the agent syncs: they are what the
// kubelet runs, and the agent adopts them from ListPods.
func New(opts Options) (*Runtime, error) {
	log := opts.Logger
	if log == nil {
		log = hclog.NewNullLogger()
	}
	r := &Runtime{opts: opts, log: log, pods: map[types.UID]*corev1.Pod{}, observed: map[types.UID]corev1.PodStatus{},
		changed: make(chan struct{}, 1), reported: map[types.UID]chan struct{}{}}
	if opts.StateFile != "" {
		data, err := os.ReadFile(opts.StateFile)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("kubelet front: read state %s: %w", opts.StateFile, err)
		default:
			var list corev1.PodList
			if err := json.Unmarshal(data, &list); err != nil {
				return nil, fmt.Errorf("kubelet front: decode state %s: %w", opts.StateFile, err)
			}
			for i := range list.Items {
				p := list.Items[i]
				r.pods[p.UID] = &p
			}
			r.authoritative = true
		}
	}
	if err := r.rebuild(); err != nil {
		return nil, err
	}
	return r, nil
}

// MarkSynced lets the handler serve the published set even when it is empty:
// the agent has listed every source and adopted what runs.
func (r *Runtime) MarkSynced() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.authoritative = true
}

// ListPods implements agent.Runtime: the published pods. None is dormant:
// the kubelet runs what is served.
func (r *Runtime) ListPods(ctx context.Context) ([]agent.RuntimePod, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]agent.RuntimePod, 0, len(r.pods))
	for uid, p := range r.pods {
		out = append(out, agent.RuntimePod{UID: uid, Key: p.Namespace + "/" + p.Name, GracePeriod: agent.GracePeriod(p)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	return out, nil
}

// StartPod implements agent.Runtime: it publishes the pod, saves the
// published set and, with AwaitStatus, waits until the kubelet reports the
// pod. The kubelet starts it at its next read.
func (r *Runtime) StartPod(ctx context.Context, p *corev1.Pod) error {
	r.mu.Lock()
	if _, ok := r.pods[p.UID]; ok {
		r.mu.Unlock()
		return nil
	}
	r.pods[p.UID] = p.DeepCopy()
	if err := r.commit(); err != nil {
		delete(r.pods, p.UID)
		_ = r.rebuild()
		r.mu.Unlock()
		return fmt.Errorf("kubelet front: publish %s/%s: %w", p.Namespace, p.Name, err)
	}
	r.log.Info("published pod", "pod", p.Namespace+"/"+p.Name, "uid", p.UID)
	if st, known := r.observed[p.UID]; (known && startedOrFailed(st)) || r.opts.AwaitStatus <= 0 {
		r.mu.Unlock()
		return nil
	}
	reported := make(chan struct{})
	r.reported[p.UID] = reported
	r.mu.Unlock()
	timer := time.NewTimer(r.opts.AwaitStatus)
	defer timer.Stop()
	select {
	case <-reported:
	case <-timer.C:
		r.log.Warn("the kubelet has not reported the pod yet; it stays published", "pod", p.Namespace+"/"+p.Name, "uid", p.UID, "waited", r.opts.AwaitStatus)
	case <-ctx.Done():
	}
	r.mu.Lock()
	delete(r.reported, p.UID)
	r.mu.Unlock()
	return nil
}

// StopPod implements agent.Runtime: it withdraws the pod and returns once
// the published set is saved. The kubelet stops it (its grace period, then
// SIGKILL) at its next read.
func (r *Runtime) StopPod(ctx context.Context, uid types.UID, gracePeriod time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[uid]
	if !ok {
		return fmt.Errorf("kubelet front: withdraw %s: %w", uid, agent.ErrPodNotFound)
	}
	delete(r.pods, uid)
	if err := r.commit(); err != nil {
		r.pods[uid] = p
		_ = r.rebuild()
		return fmt.Errorf("kubelet front: withdraw %s/%s: %w", p.Namespace, p.Name, err)
	}
	delete(r.observed, uid)
	r.log.Info("withdrew pod", "pod", p.Namespace+"/"+p.Name, "uid", uid)
	return nil
}

// PodStatus implements agent.Runtime from memory: the status the kubelet
// last reported on the pod's mirror pod, or Pending with every container
// waiting (reason ServedToKubelet) until it has reported its containers.
func (r *Runtime) PodStatus(uid types.UID) (corev1.PodStatus, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.pods[uid]
	if !ok {
		return corev1.PodStatus{}, false
	}
	if st, ok := r.observed[uid]; ok && knowsContainers(st) {
		return *st.DeepCopy(), true
	}
	waiting := corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonServedToKubelet,
		Message: "served to the kubelet on its staticPodURL; no status from its mirror pod yet"}}
	st := corev1.PodStatus{Phase: corev1.PodPending}
	for _, c := range p.Spec.InitContainers {
		st.InitContainerStatuses = append(st.InitContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: waiting})
	}
	for _, c := range p.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{Name: c.Name, Image: c.Image, State: waiting})
	}
	return st, true
}

// knowsContainers is true for a status the kubelet wrote after it synced the
// pod: the mirror pod it creates first has none, which would show containers
// that run as absent.
func knowsContainers(st corev1.PodStatus) bool { return len(st.ContainerStatuses) > 0 }

// startedOrFailed is true once the kubelet reports every container created
// (it has an ID) or stuck for a reason other than being created (an image it
// may not pull, a crash loop): StartPod's "runs, or failed to".
func startedOrFailed(st corev1.PodStatus) bool {
	if !knowsContainers(st) {
		return false
	}
	for _, cs := range append(append([]corev1.ContainerStatus(nil), st.InitContainerStatuses...), st.ContainerStatuses...) {
		if cs.ContainerID != "" || cs.State.Terminated != nil {
			continue
		}
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" && w.Reason != "PodInitializing" {
			continue
		}
		if st.Phase == corev1.PodPending || st.Phase == corev1.PodRunning {
			return false
		}
	}
	return true
}

// StatusChanged implements agent.StatusNotifier: a signal when an observed
// pod's phase or Ready condition changed.
func (r *Runtime) StatusChanged() <-chan struct{} { return r.changed }

// Observe records the status the kubelet reported for a pod (from its mirror
// pod). A UID not published (yet) is remembered too: the mirror watch may
// list a pod before a restarted agent publishes it again, and a running pod's
// mirror may not change for a long time.
func (r *Runtime) Observe(uid types.UID, st corev1.PodStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	before, seen := r.observed[uid]
	r.observed[uid] = *st.DeepCopy()
	if _, ok := r.pods[uid]; !ok {
		return
	}
	if ch, ok := r.reported[uid]; ok && startedOrFailed(st) {
		close(ch)
		delete(r.reported, uid)
	}
	if !seen || before.Phase != st.Phase || agent.PodReady(before) != agent.PodReady(st) {
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
}

// Forget drops what was observed of a UID that is not published, when its
// mirror pod is gone.
func (r *Runtime) Forget(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.pods[uid]; !ok {
		delete(r.observed, uid)
	}
}

// Fetches is how many times the pod list was served.
func (r *Runtime) Fetches() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.fetches
}

// ServeHTTP serves the published pods as a PodList on GET PodsPath, the way
// the kubelet's URL source reads them. Until the list is authoritative it
// answers 503, which the kubelet treats as "no change".
func (r *Runtime) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path != PodsPath {
		http.NotFound(w, req)
		return
	}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.mu.Lock()
	body, ok := r.body, r.authoritative
	if ok {
		r.fetches++
	}
	r.mu.Unlock()
	if !ok {
		http.Error(w, "staticlet has not listed its sources yet", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// Serve serves the handler on address (host:port) until ctx is done.
func (r *Runtime) Serve(ctx context.Context, address string) error {
	ln, err := net.Listen("tcp", address)
	if err != nil {
		return fmt.Errorf("kubelet front: listen %s: %w", address, err)
	}
	return r.ServeListener(ctx, ln)
}

// ServeListener serves the handler on ln until ctx is done, then closes it.
func (r *Runtime) ServeListener(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	err := srv.Serve(ln)
	<-done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("kubelet front: serve %s: %w", ln.Addr(), err)
}

// commit rebuilds the served body and saves the set; the caller holds mu.
func (r *Runtime) commit() error {
	if err := r.rebuild(); err != nil {
		return err
	}
	return r.save()
}

// rebuild recomputes the served body from pods; the caller holds mu.
func (r *Runtime) rebuild() error {
	served := make([]*corev1.Pod, 0, len(r.pods))
	for _, p := range r.pods {
		served = append(served, Served(p, r.opts.NodeName))
	}
	body, err := PodListJSON(served)
	if err != nil {
		return err
	}
	r.body = body
	return nil
}

// save writes the agent's pods to the state file (write elsewhere, then
// rename); the caller holds mu.
func (r *Runtime) save() error {
	if r.opts.StateFile == "" {
		return nil
	}
	pods := make([]*corev1.Pod, 0, len(r.pods))
	for _, p := range r.pods {
		pods = append(pods, p)
	}
	data, err := PodListJSON(pods)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(r.opts.StateFile), 0o700); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp := r.opts.StateFile + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp, r.opts.StateFile); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// Options returns the options the runtime was made with.
func (r *Runtime) Options() Options { return r.opts }
