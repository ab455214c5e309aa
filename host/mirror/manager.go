package mirror

import (
	"context"
	"fmt"
	"sort"
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
	// StatusInterval is how often every mirror is compared with the newest state again (a resync of the
	// API objects; pod status itself comes with each state the agent offers, whenever the runtime
	// signals a change).
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
