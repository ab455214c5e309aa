package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/hashicorp/go-hclog"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/network/cni"
	"github.com/staticlet/staticlet/host/runtime/cgroups"
)

// Options configure the runtime.
type Options struct {
	// Address is containerd's gRPC socket.
	Address string
	// Namespace is the containerd namespace staticlet keeps its containers in.
	Namespace string
	// StateDir holds a folder per pod (pods/<uid>).
	StateDir string
	// PodLogDir is the root of the CRI log files (/var/log/pods).
	PodLogDir string
	// NodeName is spec.nodeName for the downward API.
	NodeName string
	// LoggerBinary is the absolute path of a program the shim runs as
	// `LoggerBinary shim-logger FILE` to write a container's logs (the
	// staticlet binary; see podlogs.RunShimLogger).
	LoggerBinary string
	// ContainerLogMaxSize (bytes) and ContainerLogMaxFiles are how each
	// container's logger rotates its file (the KubeletConfiguration's
	// fields); a zero size rotates nothing.
	ContainerLogMaxSize  int64
	ContainerLogMaxFiles int32
	// Snapshotter names containerd's snapshotter; empty means the
	// namespace's default label, else containerd's default.
	Snapshotter string
	// DNS is the cluster DNS for ClusterFirst pods; empty uses the host's.
	DNS DNS
	// HostsFile and ResolvConf are the host's files (defaults /etc/hosts,
	// /etc/resolv.conf).
	HostsFile, ResolvConf string
	// CrashBackoff and ImageBackoff default to the kubelet's.
	CrashBackoff, ImageBackoff Backoff
	// SeccompProfileRoot holds the profiles seccompProfile type Localhost
	// names, as the kubelet's <root-dir>/seccomp; default
	// /var/lib/kubelet/seccomp.
	SeccompProfileRoot string
	// SeccompDefault makes RuntimeDefault the seccomp profile of containers
	// that set none, as the KubeletConfiguration's seccompDefault.
	SeccompDefault bool
	// Sysctls says which pod sysctls run: the kubelet's safe set plus the
	// KubeletConfiguration's allowedUnsafeSysctls.
	Sysctls SysctlPolicy
	// Network attaches pods without hostNetwork to the pod network
	// through CNI (network.go); a zero value gives them loopback only.
	Network NetworkOptions
	// NodeIP is the node's address: the pods' hostIP and a host-network
	// pod's podIP; empty leaves both unset.
	NodeIP string
	// Cgroups places pod cgroups as the kubelet does with the
	// KubeletConfiguration's cgroupRoot, cgroupsPerQOS and cgroupDriver
	// (cgroups.go); an empty Root is /<Namespace>.
	Cgroups cgroups.Layout
	// PodPidsLimit is the KubeletConfiguration's podPidsLimit: the pids
	// limit of each pod's cgroup; -1 and 0 mean unlimited.
	PodPidsLimit int64
	// PullTimeout bounds one image pull; default 5 minutes.
	PullTimeout time.Duration
	Logger      hclog.Logger
	// Now defaults to time.Now; back-off decisions read it.
	Now func() time.Time
}

// Runtime is the containerd agent.Runtime. Call Close when done; pods keep
// running.
type Runtime struct {
	opts   Options
	log    hclog.Logger
	client *client.Client
	// ctx is the workers' lifetime: Close cancels it, which ends the
	// workers without touching containers.
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu      sync.Mutex
	workers map[types.UID]*worker
	// unpacked remembers images known to be unpacked, by digest.
	unpacked sync.Map
	// configs caches image configs by manifest digest: content-addressed,
	// so they never change.
	configs sync.Map
	// caps is what this host lets pods ask for; admission checks the same.
	caps Capabilities
	// cni is nil when Options.Network has no conf dir.
	cni *cni.Plugins
	// cgroups makes and removes pod cgroups on this host's hierarchies.
	cgroups *cgroups.Manager
	// statusChanged rings when a pod's published status changes
	// (agent.StatusNotifier); one slot, so signals coalesce.
	statusChanged chan struct{}
}

func (r *Runtime) imageConfig(ctx context.Context, img client.Image) (ocispec.ImageConfig, error) {
	key := img.Target().Digest.String()
	if c, ok := r.configs.Load(key); ok {
		return c.(ocispec.ImageConfig), nil
	}
	spec, err := img.Spec(ctx)
	if err != nil {
		return ocispec.ImageConfig{}, err
	}
	r.configs.Store(key, spec.Config)
	return spec.Config, nil
}

var (
	_ agent.Runtime        = (*Runtime)(nil)
	_ agent.StatusNotifier = (*Runtime)(nil)
)

// New returns a runtime for the containerd at opts.Address. It does not
// need containerd to be up yet: calls fail until it is, and the client
// reconnects by itself.
func New(opts Options) (*Runtime, error) {
	var errs []error
	if opts.Address == "" {
		errs = append(errs, errors.New("containerd address is required"))
	}
	if opts.Namespace == "" {
		errs = append(errs, errors.New("containerd namespace is required"))
	}
	for name, p := range map[string]string{"state dir": opts.StateDir, "pod log dir": opts.PodLogDir, "logger binary": opts.LoggerBinary} {
		if !filepath.IsAbs(p) {
			errs = append(errs, fmt.Errorf("%s %q must be an absolute path", name, p))
		}
	}
	if err := opts.logRotation().Validate(); err != nil {
		errs = append(errs, fmt.Errorf("container logs: %w", err))
	}
	if err := opts.Sysctls.Validate(); err != nil {
		errs = append(errs, err)
	}
	if opts.NodeIP != "" && net.ParseIP(opts.NodeIP) == nil {
		errs = append(errs, fmt.Errorf("node IP %q is not an IP address", opts.NodeIP))
	}
	var plugins *cni.Plugins
	if n := opts.Network; n.CNIConfDir != "" {
		if n.CNICacheDir == "" {
			n.CNICacheDir = filepath.Join(opts.StateDir, "cni-cache")
		}
		if len(n.CNIBinDirs) == 0 {
			n.CNIBinDirs = cni.DefaultBinDirs()
		}
		var err error
		if plugins, err = cni.New(cni.Config{ConfDir: n.CNIConfDir, BinDirs: n.CNIBinDirs, CacheDir: n.CNICacheDir}); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("containerd runtime: %w", err)
	}
	if opts.SeccompProfileRoot == "" {
		opts.SeccompProfileRoot = "/var/lib/kubelet/seccomp"
	}
	if opts.HostsFile == "" {
		opts.HostsFile = "/etc/hosts"
	}
	if opts.ResolvConf == "" {
		opts.ResolvConf = "/etc/resolv.conf"
	}
	if opts.CrashBackoff == (Backoff{}) {
		opts.CrashBackoff = DefaultCrashBackoff
	}
	if opts.ImageBackoff == (Backoff{}) {
		opts.ImageBackoff = DefaultImageBackoff
	}
	if opts.PullTimeout == 0 {
		opts.PullTimeout = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = hclog.NewNullLogger()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := os.MkdirAll(filepath.Join(opts.StateDir, "pods"), 0o700); err != nil {
		return nil, fmt.Errorf("containerd runtime: state dir: %w", err)
	}
	cgroupDefaults(&opts)
	cgroupManager, err := cgroups.Detect()
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: %w", err)
	}
	// A short reconnect cap: after a containerd restart the agent should
	// notice within seconds, not the gRPC default of two minutes.
	c, err := client.New(opts.Address, client.WithDefaultNamespace(opts.Namespace), client.WithTimeout(2*time.Second))
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: connect %s: %w", opts.Address, err)
	}
	ctx, cancel := context.WithCancel(namespaces.WithNamespace(context.Background(), opts.Namespace))
	r := &Runtime{opts: opts, log: opts.Logger, client: c, ctx: ctx, cancel: cancel, workers: map[types.UID]*worker{}, caps: DetectCapabilities(opts.Sysctls), cni: plugins}
	r.cgroups = cgroupManager
	r.statusChanged = make(chan struct{}, 1)
	r.logCgroupLayout()
	return r, nil
}

// Capabilities is what this runtime can run on this host, as probed at
// New: the check admission runs before a pod reaches StartPod.
func (r *Runtime) Capabilities() Capabilities { return r.caps }

// StatusChanged implements agent.StatusNotifier: workers ring it when a
// pod's published status changes in any way, so a pod waiting for a
// dependency (start-after) starts at once and mirror pods hear of a restart
// or a probe's verdict without polling.
func (r *Runtime) StatusChanged() <-chan struct{} { return r.statusChanged }

func (r *Runtime) signalStatusChanged() {
	select {
	case r.statusChanged <- struct{}{}:
	default:
	}
}

// Close ends every pod worker, leaving the containers running for the next
// agent to adopt, and closes the connection.
func (r *Runtime) Close() error {
	r.cancel()
	r.wg.Wait()
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("containerd runtime: close: %w", err)
	}
	return nil
}

func (r *Runtime) now() time.Time { return r.opts.Now() }

func (r *Runtime) nsContext(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.opts.Namespace)
}

// ListPods implements agent.Runtime. Pods found in containerd or in the
// state folder that this process does not hold yet are adopted: a worker
// re-attaches to their running tasks and resumes restart handling. A pod
// with a record and no task left is adopted dormant (dormant.go): reported,
// but started only by StartPod.
func (r *Runtime) ListPods(ctx context.Context) ([]agent.RuntimePod, error) {
	ctx = r.nsContext(ctx)
	ctrs, err := r.client.Containers(ctx, podUIDFilter)
	if err != nil {
		return nil, fmt.Errorf("list pods: containers: %w", err)
	}
	byUID := map[types.UID][]client.Container{}
	labelsOf := map[types.UID]map[string]string{}
	for _, c := range ctrs {
		labels, err := c.Labels(ctx)
		if err != nil {
			return nil, fmt.Errorf("list pods: labels of %s: %w", c.ID(), err)
		}
		uid := types.UID(labels[LabelPodUID])
		byUID[uid] = append(byUID[uid], c)
		labelsOf[uid] = labels
	}
	records := map[types.UID]*corev1.Pod{}
	entries, err := os.ReadDir(filepath.Join(r.opts.StateDir, "pods"))
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		pod, err := readRecord(filepath.Join(r.opts.StateDir, "pods", e.Name()))
		if err != nil || string(pod.UID) != e.Name() {
			r.log.Warn("pod folder without a readable record; its containers are handled from their labels", "dir", e.Name(), "error", err)
			continue
		}
		records[pod.UID] = pod
	}

	// Which found pods have tasks left: asked outside the lock, for the
	// pods no worker holds yet.
	r.mu.Lock()
	unheld := map[types.UID][]client.Container{}
	for uid, cs := range byUID {
		if _, ok := r.workers[uid]; !ok {
			unheld[uid] = cs
		}
	}
	r.mu.Unlock()
	withTasks, err := uidsWithTasks(ctx, unheld)
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}

	r.mu.Lock()
	uids := map[types.UID]bool{}
	var adopting []*worker
	for uid := range byUID {
		uids[uid] = true
	}
	for uid := range records {
		uids[uid] = true
	}
	for uid := range uids {
		if _, ok := r.workers[uid]; ok {
			continue
		}
		pod := records[uid]
		// Known from its record with no task left: not started, and no
		// sandbox set up, until a source lists it (dormant.go). A pod
		// without a record has no spec to start anyway.
		dormant := pod != nil && !withTasks[uid]
		var sb *sandbox
		if pod != nil && !dormant {
			if sb, err = r.setupSandbox(pod); err != nil {
				// The worker retries it (ensureSandbox): after a reboot a CNI
				// plugin may not be ready yet.
				r.log.Warn("cannot restore an adopted pod's sandbox yet; retrying", "uid", uid, "error", err)
				sb = nil
			}
		}
		w := newWorker(r, uid, pod, sb, labelsOf[uid])
		w.adopted = byUID[uid]
		w.adopting = len(byUID[uid]) > 0 && !dormant
		w.dormant.Store(dormant)
		r.log.Info("adopting pod", "pod", w.key(), "uid", uid, "containers", len(byUID[uid]), "record", pod != nil, "dormant", dormant)
		r.startWorker(w)
		if w.adopting {
			adopting = append(adopting, w)
		}
	}
	r.resizeBurstableLocked("")
	out := make([]agent.RuntimePod, 0, len(r.workers))
	for uid, w := range r.workers {
		out = append(out, agent.RuntimePod{UID: uid, Key: w.key(), GracePeriod: w.grace, Dormant: w.dormant.Load()})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].UID < out[j].UID })
	r.awaitAdoption(ctx, adopting)
	return out, nil
}

// adoptionWait bounds how long ListPods waits for its workers to adopt what
// runs and publish a first status (a few containerd calls per container;
// longer when a sandbox must be set up again, or a container the runtime
// lost is started again first).
const adoptionWait = 5 * time.Second

// awaitAdoption returns once every worker in ws has adopted its containers,
// so PodStatus answers for the pods ListPods returns; after adoptionWait, or
// when ctx ends, it returns anyway and PodStatus answers later.
func (r *Runtime) awaitAdoption(ctx context.Context, ws []*worker) {
	if len(ws) == 0 {
		return
	}
	timeout := time.NewTimer(adoptionWait)
	defer timeout.Stop()
	for _, w := range ws {
		select {
		case <-w.ready:
		case <-w.done:
		case <-timeout.C:
			r.log.Warn("adoption is taking long; its pods' status follows when it is done", "pod", w.key())
			return
		case <-ctx.Done():
			return
		}
	}
}

func (r *Runtime) startWorker(w *worker) {
	r.workers[w.uid] = w
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		w.run(r.ctx)
	}()
}

// StartPod implements agent.Runtime. It returns once every container was
// tried once: running, or waiting with a reason (an image missing under
// pullPolicy Never, a pull back-off) that PodStatus reports. It fails only
// when the pod cannot be set up at all.
func (r *Runtime) StartPod(ctx context.Context, pod *corev1.Pod) error {
	key := pod.Namespace + "/" + pod.Name
	// Admission refuses these pods already (Capabilities); this backstop
	// keeps a caller without admission from half-creating one.
	if err := r.caps.check(pod); err != nil {
		return fmt.Errorf("start pod %s: %w", key, err)
	}
	r.mu.Lock()
	w := r.workers[pod.UID]
	r.mu.Unlock()
	if w != nil && w.dormant.Load() {
		if err := w.wakeUp(ctx); err != nil {
			return fmt.Errorf("start pod %s: %w", key, err)
		}
		return nil
	}
	if w == nil {
		sb, err := r.setupSandbox(pod)
		if err != nil {
			if terr := r.teardownSandbox(string(pod.UID), pod.Namespace, pod.Name); terr != nil {
				r.log.Warn("cleanup after a failed start", "pod", key, "error", terr)
			}
			return fmt.Errorf("start pod %s: %w", key, err)
		}
		w = newWorker(r, pod.UID, pod, sb, nil)
		r.mu.Lock()
		r.startWorker(w)
		r.resizeBurstableLocked("")
		r.mu.Unlock()
	}
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("start pod %s: %w", key, ctx.Err())
	}
}

// StopPod implements agent.Runtime.
func (r *Runtime) StopPod(ctx context.Context, uid types.UID, gracePeriod time.Duration) error {
	r.mu.Lock()
	w := r.workers[uid]
	r.mu.Unlock()
	if w == nil {
		return fmt.Errorf("stop pod %s: %w", uid, agent.ErrPodNotFound)
	}
	w.interrupt()
	reply := make(chan error, 1)
	select {
	case w.stopCh <- stopRequest{grace: gracePeriod, reply: reply}:
	case <-w.done:
		return fmt.Errorf("stop pod %s: the runtime is closing", w.key())
	case <-ctx.Done():
		return fmt.Errorf("stop pod %s: %w", w.key(), ctx.Err())
	}
	select {
	case err := <-reply:
		if err != nil {
			return fmt.Errorf("stop pod %s: %w", w.key(), err)
		}
		r.mu.Lock()
		if r.workers[uid] == w {
			delete(r.workers, uid)
		}
		r.mu.Unlock()
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop pod %s: %w", w.key(), ctx.Err())
	}
}

// PodStatus implements agent.Runtime from the worker's last published
// status.
func (r *Runtime) PodStatus(uid types.UID) (corev1.PodStatus, bool) {
	r.mu.Lock()
	w := r.workers[uid]
	r.mu.Unlock()
	if w == nil {
		return corev1.PodStatus{}, false
	}
	if w.adopting {
		select {
		case <-w.ready:
		default:
			// Until the worker has looked at what runs, its status would
			// say Pending (and the probes' verdicts unknown) for containers
			// that never stopped: better none, which observers wait out.
			return corev1.PodStatus{}, false
		}
	}
	st := w.status.Load()
	if st == nil {
		return corev1.PodStatus{Phase: corev1.PodPending}, true
	}
	return *st.DeepCopy(), true
}
