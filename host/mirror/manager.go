package mirror

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
)

// Defaults for Config's tunables.
const (
	DefaultStatusInterval     = time.Second
	DefaultStatusQPS          = 10
	DefaultStatusBurst        = 20
	DefaultNodeStatusInterval = time.Minute
	// DefaultRequestTimeout bounds every request, so a black-holed API server cannot stall the worker.
	DefaultRequestTimeout = 10 * time.Second
	// retryBase and retryMax bound the back-off of a failing key: when the API server comes back, every
	// pending change is applied within retryMax (plus jitter).
	retryBase = 100 * time.Millisecond
	retryMax  = 3 * time.Second
)

// Keys of the work queue that are not pod keys (pod keys are namespace/name and never start with NUL).
const (
	keyState = "\x00state" // a new snapshot waits in the inbox
	keyNode  = "\x00node"  // the Node object changed
	keyAll   = "\x00all"   // look at every pod: status poll, node UID change, full relist
)

// Config wires a Manager.
type Config struct {
	// Client talks to the API server as system:node:NodeName.
	Client   kubernetes.Interface
	NodeName string
	// RegisterNode creates and maintains the Node object and renews its Lease; otherwise the manager waits
	// for another agent to register the node before it creates mirror pods.
	RegisterNode bool
	Node         NodeOptions
	// HostIP is reported as the pods' hostIP when the Node has no InternalIP address.
	HostIP string
	// RuntimeStatus, when set, is polled every StatusInterval for fresher pod status than the snapshots
	// carry (containers crash and restart without the agent's loop running). It must not do IO.
	RuntimeStatus  func(types.UID) (corev1.PodStatus, bool)
	StatusInterval time.Duration
	// StatusQPS and StatusBurst rate-limit status patches across all pods.
	StatusQPS   float64
	StatusBurst int
	// NodeStatusInterval is how often a registered node's status (Ready heartbeat) is patched; the
	// runtime's health is checked every NodeStatusInterval or LeaseRenewInterval, whichever is shorter, and
	// a change of Ready is patched at once.
	NodeStatusInterval time.Duration
	// RuntimeHealth, when set, is the container runtime's health check: a registered Node is Ready only
	// while it passes. RuntimeVersion, when set, names the runtime in nodeInfo ("containerd://1.7.24").
	RuntimeHealth  func(context.Context) error
	RuntimeVersion func(context.Context) (string, error)
	RequestTimeout time.Duration
	// CountCall, when set, counts each API server request by verb and outcome ("ok" or "error"), for metrics.
	CountCall func(verb, outcome string)
	Logger    hclog.Logger
	// Now defaults to time.Now.
	Now func() time.Time
}

// Stats counts what the manager did, for tests and metrics.
type Stats struct {
	Creates, Deletes, StatusPatches, Events int64
	// Forbidden counts requests the API server refused with 403: always 0 when every request is one a node
	// may make.
	Forbidden int64
}

// Manager keeps the mirror pods; see the package documentation. Create it with New, start Run, feed it
// with Offer.
type Manager struct {
	cfg      Config
	log      hclog.Logger
	queue    workqueue.TypedRateLimitingInterface[string]
	inbox    latest
	pods     *notifyingStore
	nodes    *notifyingStore
	limiter  *rate.Limiter
	recorder record.EventRecorder

	creates, deletes, patches, events, forbidden atomic.Int64
	runtimeDown, taintsWarned                    atomic.Bool

	// Everything below is owned by the worker goroutine (Run's).
	state    State
	desired  map[string]*Pod
	nodeUID  types.UID
	hostIP   string
	rejected map[string]string // file -> message last reported
	warnings chan nodeWarning
	// created holds mirrors this manager created that its watch has not shown yet, so a rejection
	// reported right after a create still lands on the mirror.
	created     map[string]*corev1.Pod
	lastRuntime map[string]*corev1.PodStatus
	stopping    map[string]*corev1.Pod // removed static pods whose mirror still gets Killing events
	// terminating holds, by pod key, the version of a static pod that no manifest wants but whose
	// containers are still stopping (State.Terminating).
	terminating map[string]Terminating
	conflicts   map[string]string
	// refused holds, by pod key, the UID of the pod bound to this node that was rejected (admission.go).
	refused map[string]types.UID
}

// New returns a manager; call Run to start it.
func New(cfg Config) *Manager {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = DefaultStatusInterval
	}
	if cfg.StatusQPS <= 0 {
		cfg.StatusQPS = DefaultStatusQPS
	}
	if cfg.StatusBurst <= 0 {
		cfg.StatusBurst = DefaultStatusBurst
	}
	if cfg.NodeStatusInterval <= 0 {
		cfg.NodeStatusInterval = DefaultNodeStatusInterval
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.CountCall == nil {
		cfg.CountCall = func(string, string) {}
	}
	m := &Manager{
		cfg:         cfg,
		log:         cfg.Logger,
		limiter:     rate.NewLimiter(rate.Limit(cfg.StatusQPS), cfg.StatusBurst),
		desired:     map[string]*Pod{},
		rejected:    map[string]string{},
		created:     map[string]*corev1.Pod{},
		lastRuntime: map[string]*corev1.PodStatus{},
		stopping:    map[string]*corev1.Pod{},
		terminating: map[string]Terminating{},
		conflicts:   map[string]string{},
		refused:     map[string]types.UID{},
		warnings:    make(chan nodeWarning, nodeWarningBacklog),
	}
	m.queue = workqueue.NewTypedRateLimitingQueueWithConfig[string](newJitteredBackoff(retryBase, retryMax, 0.5),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "mirror"})
	m.pods = newNotifyingStore(m.queue.Add, func() { m.queue.Add(keyAll) })
	m.nodes = newNotifyingStore(func(string) { m.queue.Add(keyNode) }, func() { m.queue.Add(keyNode) })
	return m
}

// nodeWarningBacklog bounds the Node warnings waiting for Run; more are
// dropped (and logged): they report conditions the agent also logs.
const nodeWarningBacklog = 16

type nodeWarning struct{ reason, message string }

// WarnNode records a Warning Event on the Node (e.g. PluginQuarantined).
// It never blocks and may be called from any goroutine.
func (m *Manager) WarnNode(reason, message string) {
	select {
	case m.warnings <- nodeWarning{reason: reason, message: message}:
	default:
		m.log.Warn("node event dropped: too many pending", "reason", reason, "message", message)
	}
}

// Offer hands the manager the agent's newest state. It never blocks: a snapshot not yet taken is replaced.
func (m *Manager) Offer(s State) {
	m.inbox.put(s)
	m.queue.Add(keyState)
}

// Stats returns the counters.
func (m *Manager) Stats() Stats {
	return Stats{Creates: m.creates.Load(), Deletes: m.deletes.Load(), StatusPatches: m.patches.Load(),
		Events: m.events.Load(), Forbidden: m.forbidden.Load()}
}

// Run keeps the mirror pods until ctx is cancelled. Mirror pods are left in place when it returns: a
// restarted agent adopts them.
func (m *Manager) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: m.cfg.Client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	m.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "staticlet", Host: m.cfg.NodeName})

	done := make(chan struct{})
	var running int
	start := func(f func()) {
		running++
		go func() { defer func() { done <- struct{}{} }(); f() }()
	}
	start(func() { m.reflector(m.podListWatch(), &corev1.Pod{}, m.pods).RunWithContext(ctx) })
	start(func() { m.reflector(m.nodeListWatch(), &corev1.Node{}, m.nodes).RunWithContext(ctx) })
	if m.cfg.RegisterNode {
		start(func() { m.keepNode(ctx) })
	}
	start(func() {
		t := time.NewTicker(m.cfg.StatusInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				m.queue.Add(keyAll)
			}
		}
	})
	start(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case w := <-m.warnings:
				m.recorder.Event(m.nodeRef(), corev1.EventTypeWarning, w.reason, w.message)
				m.events.Add(1)
			}
		}
	})
	start(func() { <-ctx.Done(); m.queue.ShutDown() })

	m.log.Info("mirror pods: starting", "node", m.cfg.NodeName, "register_node", m.cfg.RegisterNode)
	for m.processNext(ctx) {
	}
	cancel()
	for ; running > 0; running-- {
		<-done
	}
	m.log.Info("mirror pods: stopped; mirror pods stay in place")
	return nil
}

// reflector lists and watches with a short, jittered back-off, so that a watch lost while the API server
// was down comes back within seconds of its return (client-go's default waits up to 30 s).
func (m *Manager) reflector(lw cache.ListerWatcher, expected runtime.Object, store *notifyingStore) *cache.Reflector {
	return cache.NewReflectorWithOptions(lw, expected, store, cache.ReflectorOptions{
		Name:    fmt.Sprintf("staticlet-mirror-%T", expected),
		Backoff: &wait.Backoff{Duration: 200 * time.Millisecond, Cap: 2 * time.Second, Factor: 2, Jitter: 0.5, Steps: 1 << 20},
	})
}

// podListWatch lists and watches only the pods bound to this node: the only pod list the Node authorizer
// grants a node.
func (m *Manager) podListWatch() cache.ListerWatcher {
	selector := fields.OneTermEqualSelector("spec.nodeName", m.cfg.NodeName).String()
	pods := m.cfg.Client.CoreV1().Pods(metav1.NamespaceAll)
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return pods.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return pods.Watch(ctx, o)
		},
	}
}

// nodeListWatch watches this node's own Node object (metadata.name selector, as the Node authorizer
// requires).
func (m *Manager) nodeListWatch() cache.ListerWatcher {
	selector := fields.OneTermEqualSelector("metadata.name", m.cfg.NodeName).String()
	nodes := m.cfg.Client.CoreV1().Nodes()
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = selector
			return nodes.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = selector
			return nodes.Watch(ctx, o)
		},
	}
}

func (m *Manager) processNext(ctx context.Context) bool {
	key, quit := m.queue.Get()
	if quit {
		return false
	}
	defer m.queue.Done(key)
	err := m.sync(ctx, key)
	if err == nil {
		m.queue.Forget(key)
		return true
	}
	if ctx.Err() != nil {
		return true
	}
	if apierrors.IsForbidden(err) {
		m.forbidden.Add(1)
	}
	// The first failure and every tenth are warnings; the rest would only repeat them while the API server
	// is away.
	attempt := m.queue.NumRequeues(key) + 1
	if attempt%10 == 1 {
		m.log.Warn("mirror pods: request failed; retrying", "key", key, "error", err, "attempt", attempt)
	} else {
		m.log.Debug("mirror pods: request failed; retrying", "key", key, "error", err, "attempt", attempt)
	}
	m.queue.AddRateLimited(key)
	return true
}

func (m *Manager) sync(ctx context.Context, key string) error {
	switch key {
	case keyState:
		if s, ok := m.inbox.take(); ok {
			m.apply(s)
		}
		return nil
	case keyNode:
		m.nodeChanged()
		return nil
	case keyAll:
		m.queueAll()
		return nil
	}
	return m.syncPod(ctx, key)
}

// apply takes a new snapshot: records what is desired, queues every pod whose mirror may change and
// reports newly rejected manifests.
func (m *Manager) apply(s State) {
	before := m.desired
	m.state = s
	m.desired = make(map[string]*Pod, len(s.Pods))
	for i := range s.Pods {
		p := &s.Pods[i]
		m.desired[mirrorpod.Key(p.Pod)] = p
	}
	for k, p := range before {
		if _, ok := m.desired[k]; !ok {
			m.stopping[k] = p.Pod
			delete(m.lastRuntime, k)
		}
	}
	for k := range m.desired {
		delete(m.stopping, k)
	}
	m.terminating = make(map[string]Terminating, len(s.Terminating))
	for _, t := range s.Terminating {
		m.terminating[t.Key] = t
	}
	m.queueAll()
	m.reportRejections(s.Rejected)
}

// queueAll queues every pod key, except those already waiting out a back-off: their retry reads the newest
// state anyway, and queueing them now would defeat the back-off while the API server is away.
func (m *Manager) queueAll() {
	for _, k := range m.allKeys() {
		if m.queue.NumRequeues(k) == 0 {
			m.queue.Add(k)
		}
	}
}

func (m *Manager) allKeys() []string {
	seen := map[string]bool{}
	for k := range m.desired {
		seen[k] = true
	}
	for _, k := range m.pods.ListKeys() {
		seen[k] = true
	}
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (m *Manager) nodeChanged() {
	n := m.nodes.node(m.cfg.NodeName)
	var uid types.UID
	if n != nil {
		uid = n.UID
		m.hostIP = mirrorpod.InternalIP(n)
	}
	if m.hostIP == "" {
		m.hostIP = m.cfg.HostIP
	}
	if uid == m.nodeUID {
		return
	}
	if uid == "" {
		m.log.Warn("mirror pods: node object is gone; waiting for it", "node", m.cfg.NodeName)
	} else {
		m.log.Info("mirror pods: node object found", "node", m.cfg.NodeName, "uid", uid)
	}
	m.nodeUID = uid
	m.queue.Add(keyAll)
}

func (m *Manager) syncPod(ctx context.Context, key string) error {
	if !m.pods.synced.Load() || m.nodeUID == "" {
		return nil // keyAll runs once both are known
	}
	want := m.desired[key]
	var static *corev1.Pod
	if want != nil {
		static = want.Pod
	}
	actual := m.pods.pod(key)
	if err := m.refuseForeign(ctx, key, actual); err != nil {
		return err
	}
	term := m.terminating[key]
	d := mirrorpod.Decide(static, actual, m.cfg.NodeName, m.nodeUID, m.state.Synced, term.UID)
	if d.Action != mirrorpod.SyncStatus && d.Action != mirrorpod.Nothing {
		m.log.Debug("mirror pod: sync", "pod", key, "action", d.Action, "reason", d.Reason)
	}
	if d.Action != mirrorpod.Conflict {
		delete(m.conflicts, key)
	}
	switch d.Action {
	case mirrorpod.Nothing:
		if actual == nil {
			delete(m.stopping, key)
		}
		return nil
	case mirrorpod.Create:
		return m.create(ctx, want)
	case mirrorpod.Recreate:
		m.log.Info("mirror pod: recreating", "pod", key, "reason", d.Reason, "old_uid", actual.UID)
		if err := m.delete(ctx, actual); err != nil {
			return err
		}
		return m.create(ctx, want)
	case mirrorpod.Delete:
		if gone := m.stopping[key]; gone != nil {
			m.record(actual, mirrorpod.KillingEvents(gone))
			delete(m.stopping, key)
		}
		m.log.Info("mirror pod: deleting", "pod", key, "reason", d.Reason, "uid", actual.UID)
		return m.delete(ctx, actual)
	case mirrorpod.Conflict:
		if m.conflicts[key] != d.Reason {
			m.conflicts[key] = d.Reason
			m.log.Warn("mirror pod: cannot create", "pod", key, "reason", d.Reason)
			m.recorder.Eventf(m.nodeRef(), corev1.EventTypeWarning, "MirrorPodConflict", "static pod %s has no mirror pod: %s", key, d.Reason)
			m.events.Add(1)
		}
		return nil
	case mirrorpod.SyncStatus:
		return m.syncStatus(ctx, want, actual, false)
	case mirrorpod.SyncTerminating:
		if gone := m.stopping[key]; gone != nil {
			m.record(actual, mirrorpod.KillingEvents(gone))
			delete(m.stopping, key)
		}
		// The mirror is a copy of the pod it mirrors: its spec lays out the container statuses, and the
		// agent's UID for the pod finds the runtime's status.
		spec := actual.DeepCopy()
		spec.UID = types.UID(term.UID)
		return m.syncStatus(ctx, &Pod{Pod: spec, Runtime: term.Runtime}, actual, true)
	case mirrorpod.Wait:
		return nil
	}
	return nil
}

func (m *Manager) create(ctx context.Context, want *Pod) error {
	mirror := mirrorpod.BuildMirror(want.Pod, m.cfg.NodeName, m.nodeUID)
	key := mirrorpod.Key(mirror)
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	created, err := m.cfg.Client.CoreV1().Pods(mirror.Namespace).Create(rctx, mirror, metav1.CreateOptions{})
	m.count("create", err)
	if err == nil {
		m.creates.Add(1)
		m.log.Info("mirror pod: created", "pod", key, "uid", created.UID, "hash", mirrorpod.Hash(want.Pod))
		m.created[key] = created
		return m.syncStatus(ctx, want, created, false)
	}
	if !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create mirror pod: %s: %w", key, err)
	}
	// Our cache is behind: look at what is there. The same hash is success, as for the kubelet; anything
	// else is handled when the watch event for it arrives (or on retry).
	existing, getErr := m.cfg.Client.CoreV1().Pods(mirror.Namespace).Get(rctx, mirror.Name, metav1.GetOptions{})
	m.count("get", getErr)
	if getErr != nil {
		return fmt.Errorf("create mirror pod: %s: already exists, and reading it failed: %w", key, getErr)
	}
	if d := mirrorpod.Decide(want.Pod, existing, m.cfg.NodeName, m.nodeUID, m.state.Synced, m.terminating[key].UID); d.Action != mirrorpod.SyncStatus {
		return fmt.Errorf("create mirror pod: %s: %w (%s)", key, err, d.Reason)
	}
	return m.syncStatus(ctx, want, existing, false)
}

// delete removes a mirror pod at once (grace period 0) and only the object that was looked at (UID
// precondition), never a newer one created meanwhile.
func (m *Manager) delete(ctx context.Context, p *corev1.Pod) error {
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	zero := int64(0)
	uid := p.UID
	if c := m.created[mirrorpod.Key(p)]; c != nil && c.UID == uid {
		delete(m.created, mirrorpod.Key(p))
	}
	err := m.cfg.Client.CoreV1().Pods(p.Namespace).Delete(rctx, p.Name, metav1.DeleteOptions{
		GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &uid}})
	m.count("delete", err)
	switch {
	case err == nil:
		m.deletes.Add(1)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		// Gone already, or another object holds the name now: its own watch event brings it to us.
		return nil
	}
	return fmt.Errorf("delete mirror pod: %s (uid %s): %w", mirrorpod.Key(p), uid, err)
}

// syncStatus patches the mirror's status from what the runtime reports of want (or from the start failure
// the agent reports). terminating is set for a pod on its way out: its mirror shows its status but gets no
// lifecycle Events (Killing was recorded when it began).
func (m *Manager) syncStatus(ctx context.Context, want *Pod, mirror *corev1.Pod, terminating bool) error {
	key := mirrorpod.Key(mirror)
	rs := want.Runtime
	if m.cfg.RuntimeStatus != nil {
		if s, ok := m.cfg.RuntimeStatus(want.Pod.UID); ok {
			rs = &s
		}
	}
	if rs == nil && want.LastError == "" {
		// Nothing is known of the pod yet: the agent has not started it, or the runtime is still adopting
		// it after an agent restart. A status made up now (Pending, containers waiting) would only be
		// taken back; the kubelet, too, sends a pod's status only once it has synced the pod.
		return nil
	}
	if !terminating {
		prev := m.lastRuntime[key]
		if prev == nil && len(mirror.Status.ContainerStatuses)+len(mirror.Status.InitContainerStatuses) > 0 {
			// First look since this agent started: what the mirror shows is what was announced, so
			// containers that kept running across an agent restart get no second Created and Started.
			prev = &mirror.Status
		}
		m.record(mirror, mirrorpod.LifecycleEvents(prev, rs))
	}
	if rs != nil {
		m.lastRuntime[key] = rs.DeepCopy()
	}
	status := mirrorpod.MirrorStatus(mirrorpod.StatusInput{Static: want.Pod, Runtime: rs, AgentPhase: want.Phase, LastError: want.LastError,
		HostIP: m.hostIP, Mirror: mirror, Now: m.cfg.Now()})
	patch, changed, err := mirrorpod.StatusPatch(mirror, status)
	if err != nil || !changed {
		return err
	}
	if r := m.limiter.Reserve(); r.Delay() > 0 {
		// Over the budget: come back when a token is free; the queue coalesces changes until then.
		delay := r.Delay()
		r.Cancel()
		m.queue.AddAfter(key, delay)
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	_, err = m.cfg.Client.CoreV1().Pods(mirror.Namespace).Patch(rctx, mirror.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	m.count("patch_status", err)
	switch {
	case err == nil:
		m.patches.Add(1)
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil // the mirror changed under us; its watch event brings it back here
	}
	return fmt.Errorf("patch mirror pod status: %s: %w", key, err)
}

// count reports one request; NotFound and Conflict are answers the manager expects, not errors.
func (m *Manager) count(verb string, err error) {
	outcome := "ok"
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
		outcome = "error"
	}
	m.cfg.CountCall(verb, outcome)
}

func (m *Manager) record(obj *corev1.Pod, evs []mirrorpod.Event) {
	for _, e := range evs {
		m.recorder.Event(obj, e.Type, e.Reason, e.Message)
		m.events.Add(1)
	}
}

func (m *Manager) nodeRef() *corev1.ObjectReference {
	// The kubelet refers to its node by name, with the name as UID.
	return &corev1.ObjectReference{Kind: "Node", Name: m.cfg.NodeName, UID: types.UID(m.cfg.NodeName)}
}

// reportRejections records a Warning Event for each newly rejected manifest (or one whose reasons
// changed): on the mirror pod of the last good version when one still runs, else on the Node.
func (m *Manager) reportRejections(rejected []Rejection) {
	now := map[string]string{}
	for _, r := range rejected {
		id := r.Source + "\x00" + r.File
		msg := fmt.Sprintf("manifest %s rejected: %s", r.File, strings.Join(r.Reasons, "; "))
		now[id] = msg
		if m.rejected[id] == msg {
			continue
		}
		var ref runtime.Object = m.nodeRef()
		if r.PodKey != "" {
			mp := m.pods.pod(r.PodKey)
			if mp != nil {
				delete(m.created, r.PodKey)
			} else {
				mp = m.created[r.PodKey]
			}
			if mp != nil && mirrorpod.IsOurs(mp) {
				ref = mp
				msg += "; the last good version keeps running"
			}
		}
		m.log.Info("mirror pods: reporting rejected manifest", "file", r.File)
		m.recorder.Event(ref, corev1.EventTypeWarning, "ManifestRejected", msg)
		m.events.Add(1)
	}
	m.rejected = now
}

// keepNode registers the Node when it is missing, renews its Lease every LeaseRenewInterval and patches
// its Ready condition every NodeStatusInterval, retrying with jittered back-off while the API server is away.
func (m *Manager) keepNode(ctx context.Context) {
	var lastStatus time.Time
	backoff := newJitteredBackoff(retryBase, retryMax, 0.5)
	for {
		err := m.ensureNode(ctx, &lastStatus)
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if apierrors.IsForbidden(err) {
				m.forbidden.Add(1)
			}
			wait = backoff.When("node")
			m.log.Warn("node: request failed; retrying", "error", err, "retry_in", wait)
		} else {
			backoff.Forget("node")
			wait = wait4(min(mirrorpod.LeaseRenewInterval, m.cfg.NodeStatusInterval))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// wait4 spreads periodic work by up to -10%, as the kubelet's lease controller does.
func wait4(d time.Duration) time.Duration { return wait.Jitter(d*9/10, 0.1) }

func (m *Manager) ensureNode(ctx context.Context, lastStatus *time.Time) error {
	health := m.nodeHealth(ctx)
	rctx, cancel := context.WithTimeout(ctx, m.cfg.RequestTimeout)
	defer cancel()
	nodes := m.cfg.Client.CoreV1().Nodes()
	now := m.cfg.Now()
	node, err := nodes.Get(rctx, m.cfg.NodeName, metav1.GetOptions{})
	m.count("get_node", err)
	if apierrors.IsNotFound(err) {
		node, err = nodes.Create(rctx, mirrorpod.NodeObject(m.cfg.NodeName, m.cfg.Node, health, now), metav1.CreateOptions{})
		m.count("create_node", err)
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("register node: %s: %w", m.cfg.NodeName, err)
		}
		if err == nil {
			m.log.Info("node: registered", "node", m.cfg.NodeName, "uid", node.UID)
			*lastStatus = now
		} else {
			node, err = nodes.Get(rctx, m.cfg.NodeName, metav1.GetOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("register node: get %s: %w", m.cfg.NodeName, err)
	}
	if node, err = m.reconcileNodeLabels(rctx, node); err != nil {
		return err
	}
	m.warnMissingTaints(node)
	if now.Sub(*lastStatus) >= m.cfg.NodeStatusInterval || mirrorpod.NodeReady(node) == health.RuntimeDown {
		if err := m.patchNodeStatus(rctx, node, health, now); err != nil {
			return err
		}
		*lastStatus = now
	}
	return m.renewLease(rctx, node, now)
}

// reconcileNodeLabels patches the Node's labels when they differ from the configured ones (see
// mirrorpod.NodeLabelsPatch) and returns the Node as it is now.
func (m *Manager) reconcileNodeLabels(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	patch, err := mirrorpod.NodeLabelsPatch(node, m.cfg.Node)
	if err != nil || patch == nil {
		return node, err
	}
	patched, err := m.cfg.Client.CoreV1().Nodes().Patch(ctx, m.cfg.NodeName, types.MergePatchType, patch, metav1.PatchOptions{})
	m.count("patch_node_labels", err)
	if err != nil {
		return node, fmt.Errorf("node labels: patch %s: %w", m.cfg.NodeName, err)
	}
	m.log.Info("node: labels reconciled", "node", m.cfg.NodeName, "patch", string(patch))
	return patched, nil
}

func (m *Manager) patchNodeStatus(ctx context.Context, node *corev1.Node, health mirrorpod.NodeHealth, now time.Time) error {
	patch, err := mirrorpod.NodeStatusPatch(node, m.cfg.Node, health, now)
	if err != nil {
		return fmt.Errorf("node status: %s: %w", m.cfg.NodeName, err)
	}
	_, err = m.cfg.Client.CoreV1().Nodes().Patch(ctx, m.cfg.NodeName, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
	m.count("patch_node_status", err)
	if err != nil {
		return fmt.Errorf("node status: patch %s: %w", m.cfg.NodeName, err)
	}
	m.readyChanged(mirrorpod.NodeReady(node), !health.RuntimeDown)
	return nil
}

func (m *Manager) renewLease(ctx context.Context, node *corev1.Node, now time.Time) error {
	leases := m.cfg.Client.CoordinationV1().Leases(NodeLeaseNamespace)
	want := mirrorpod.LeaseObject(m.cfg.NodeName, node.UID, now)
	lease, err := leases.Get(ctx, m.cfg.NodeName, metav1.GetOptions{})
	m.count("get_lease", err)
	if apierrors.IsNotFound(err) {
		_, err := leases.Create(ctx, want, metav1.CreateOptions{})
		m.count("create_lease", err)
		if err != nil {
			return fmt.Errorf("node lease: create %s/%s: %w", NodeLeaseNamespace, m.cfg.NodeName, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("node lease: get %s/%s: %w", NodeLeaseNamespace, m.cfg.NodeName, err)
	}
	lease.Spec = want.Spec
	lease.OwnerReferences = want.OwnerReferences
	_, err = leases.Update(ctx, lease, metav1.UpdateOptions{})
	m.count("update_lease", err)
	if err != nil {
		return fmt.Errorf("node lease: renew %s/%s: %w", NodeLeaseNamespace, m.cfg.NodeName, err)
	}
	return nil
}
