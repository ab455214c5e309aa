package agent

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/plan"
	"github.com/staticlet/staticlet/host/source"
)

// Back-off for failed starts and stops (not container crash loops, which are
// the runtime's): quick first retries, capped so a fixed problem heals soon.
const (
	initialRetry = time.Second
	maxRetry     = time.Minute
)

// waitingPoll is how often a runtime that is no StatusNotifier is asked
// for readiness while a pod waits for its start-after dependencies.
const waitingPoll = time.Second

// Config wires an agent.
type Config struct {
	Runtime  Runtime
	Pipeline *admission.Pipeline
	Builder  *desired.Builder
	// Sources maps each source name to the mailbox it delivers listings to.
	// No orphan pod is stopped before each has delivered a complete listing.
	Sources map[string]*source.Mailbox
	// PolicyChanged signals that the plugin chain changed: every file is
	// evaluated again under the new policy. Nil when there are no plugins.
	PolicyChanged <-chan struct{}
	Logger        hclog.Logger
	// Now defaults to time.Now; tests may pin it.
	Now func() time.Time
	// ObserveReconcile, when set, receives each reconcile pass's duration
	// (metrics). It must return at once.
	ObserveReconcile func(time.Duration)
	// OnState, when set, is called on the loop's goroutine with the agent's state after every change
	// (mirror pods use it). It must return at once: it holds up the loop.
	OnState func(StateSnapshot)
}

// Agent is the control loop; see the package documentation.
type Agent struct {
	cfg      Config
	log      hclog.Logger
	statusCh chan chan Status

	// Everything below is owned by the Run goroutine.
	listings map[string]source.Listing
	// heard records the sources that delivered any listing, complete or not.
	heard    map[string]bool
	results  map[string][]admission.Result
	complete map[string]bool
	observed map[types.UID]*podState
	// waiting are the desired pods the planner holds back by their
	// start-after annotation, as of the last reconcile.
	waiting  map[types.UID]*waitState
	snapshot desired.Snapshot
	adopted  bool
	done     chan opResult
	inFlight int
}

type podState struct {
	obs      plan.Observed
	file     string
	attempts int
	lastErr  error
	since    time.Time
}

type waitState struct {
	plan.Waiting
	file  string
	since time.Time
}

type opResult struct {
	kind plan.Kind
	uid  types.UID
	err  error
}

// New returns an agent; call Run to start it.
func New(cfg Config) *Agent {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Agent{
		cfg:      cfg,
		log:      cfg.Logger,
		statusCh: make(chan chan Status),
		listings: map[string]source.Listing{},
		heard:    map[string]bool{},
		results:  map[string][]admission.Result{},
		complete: map[string]bool{},
		observed: map[types.UID]*podState{},
		waiting:  map[types.UID]*waitState{},
		done:     make(chan opResult),
	}
}

type sourcedListing struct {
	name    string
	listing source.Listing
}

// Run owns the agent's state until ctx is cancelled. Pods keep running when
// it returns, as with the kubelet: only a manifest's removal stops a pod.
func (a *Agent) Run(ctx context.Context) error {
	listings := make(chan sourcedListing)
	for name, mb := range a.cfg.Sources {
		go forward(ctx, name, mb, listings)
	}
	wake := time.NewTimer(0)
	defer wake.Stop()
	adoptRetry := initialRetry
	var statusChanged <-chan struct{} // nil: never ready
	if n, ok := a.cfg.Runtime.(StatusNotifier); ok {
		statusChanged = n.StatusChanged()
	}

	for {
		if !a.adopted {
			if err := a.adopt(ctx); err != nil {
				a.log.Warn("cannot list the runtime's pods; retrying", "error", err, "retry_in", adoptRetry)
				wake.Reset(adoptRetry)
				adoptRetry = min(2*adoptRetry, maxRetry)
			}
		}
		select {
		case <-ctx.Done():
			a.drain()
			return nil
		case sl := <-listings:
			a.ingest(ctx, sl)
		case res := <-a.done:
			a.finish(res)
		case <-a.cfg.PolicyChanged:
			a.reevaluate(ctx)
		case <-wake.C:
		case <-statusChanged:
			if len(a.waiting) == 0 {
				continue // only a waiting pod acts on readiness
			}
		case reply := <-a.statusCh:
			reply <- a.status()
			continue
		}
		if next := a.reconcile(ctx); !next.IsZero() {
			wake.Reset(max(next.Sub(a.cfg.Now()), 0))
		}
		if a.cfg.OnState != nil {
			a.cfg.OnState(StateSnapshot{Desired: a.snapshot, Status: a.status()})
		}
	}
}

func forward(ctx context.Context, name string, mb *source.Mailbox, out chan<- sourcedListing) {
	for {
		l, err := mb.Wait(ctx)
		if err != nil {
			return
		}
		select {
		case out <- sourcedListing{name: name, listing: l}:
		case <-ctx.Done():
			return
		}
	}
}

// drain waits for in-flight actions so none of their goroutines outlive Run.
func (a *Agent) drain() {
	for a.inFlight > 0 {
		<-a.done
		a.inFlight--
	}
}

func (a *Agent) adopt(ctx context.Context) error {
	pods, err := a.cfg.Runtime.ListPods(ctx)
	if err != nil {
		return fmt.Errorf("adopt running pods: %w", err)
	}
	for _, p := range pods {
		if _, ok := a.observed[p.UID]; ok {
			continue
		}
		a.observed[p.UID] = &podState{obs: plan.Observed{Key: p.Key, UID: p.UID, Phase: plan.Active, GracePeriod: p.GracePeriod}, since: a.cfg.Now()}
		a.log.Info("adopted running pod", "pod", p.Key, "uid", p.UID)
	}
	a.adopted = true
	return nil
}

func (a *Agent) ingest(ctx context.Context, sl sourcedListing) {
	l := sl.listing
	a.heard[sl.name] = true
	if !l.Complete {
		// Keep what the source said last time: an unreadable folder must not
		// look like an empty one.
		a.log.Warn("source listing incomplete; keeping the previous one", "source", sl.name, "root", l.Root, "note", l.Note)
		return
	}
	a.listings[sl.name] = l
	a.results[sl.name] = a.cfg.Pipeline.AdmitListing(ctx, l, a.cfg.Now())
	if !a.complete[sl.name] {
		a.complete[sl.name] = true
		a.log.Info("source listed", "source", sl.name, "root", l.Root, "files", len(l.Files), "note", l.Note)
	}
}

// reevaluate runs every source's last listing through the pipeline again,
// after a policy change. A pod the new policy rejects keeps running (last
// good wins) and its file is flagged; only a changed manifest is gated.
func (a *Agent) reevaluate(ctx context.Context) {
	a.log.Info("plugin chain changed; re-evaluating every manifest")
	for name, l := range a.listings {
		a.results[name] = a.cfg.Pipeline.AdmitListing(ctx, l, a.cfg.Now())
	}
}

// allSourcesHeard reports whether every source delivered its first listing
// (a failed URL fetch counts: it ends within its timeout). Until then the
// agent does not decide anything, so which source holds a contested pod
// name does not depend on which one answered first.
func (a *Agent) allSourcesHeard() bool {
	for name := range a.cfg.Sources {
		if !a.heard[name] {
			return false
		}
	}
	return true
}

func (a *Agent) allSourcesComplete() bool {
	for name := range a.cfg.Sources {
		if !a.complete[name] {
			return false
		}
	}
	return true
}

// reconcile rebuilds the desired set, plans and dispatches actions, and
// returns when it wants to run again without new input.
func (a *Agent) reconcile(ctx context.Context) time.Time {
	if !a.allSourcesHeard() {
		return time.Time{}
	}
	now := a.cfg.Now()
	if a.cfg.ObserveReconcile != nil {
		start := time.Now()
		defer func() { a.cfg.ObserveReconcile(time.Since(start)) }()
	}
	var all []admission.Result
	names := make([]string, 0, len(a.results))
	for name := range a.results {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		all = append(all, a.results[name]...)
	}
	previous := a.snapshot
	a.snapshot = a.cfg.Builder.Build(all, now)
	a.logFileChanges(previous, a.snapshot)
	if !a.adopted {
		return a.snapshot.NextChange
	}

	in := plan.Input{AllowOrphanStops: a.allSourcesComplete(), Now: now}
	for _, d := range a.snapshot.Pods {
		in.Desired = append(in.Desired, plan.Desired{Key: d.Key, UID: d.UID, Pod: d.Pod, ManifestName: d.ManifestName})
	}
	for _, st := range a.observed {
		st.obs.Ready = false
		if st.obs.Phase == plan.Active {
			if rs, ok := a.cfg.Runtime.PodStatus(st.obs.UID); ok {
				st.obs.Ready = PodReady(rs)
			}
		}
		in.Observed = append(in.Observed, st.obs)
	}
	sort.Slice(in.Observed, func(i, j int) bool { return in.Observed[i].UID < in.Observed[j].UID })
	out := plan.Plan(in)
	files := map[types.UID]string{}
	for _, d := range a.snapshot.Pods {
		files[d.UID] = d.File
		if st := a.observed[d.UID]; st != nil {
			st.file = d.File // adopted pods learn their file here
		}
	}
	for _, act := range out.Actions {
		a.dispatch(ctx, act, files[act.UID], now)
	}
	a.noteWaiting(out.Waiting, files, now)
	next := earliest(a.snapshot.NextChange, out.NextRetry)
	if _, notifies := a.cfg.Runtime.(StatusNotifier); len(a.waiting) > 0 && !notifies {
		next = earliest(next, now.Add(waitingPoll))
	}
	return next
}

// noteWaiting records the pods the planner holds back, logging each once
// when it starts waiting or what it waits for changes.
func (a *Agent) noteWaiting(waiting []plan.Waiting, files map[types.UID]string, now time.Time) {
	previous := a.waiting
	a.waiting = make(map[types.UID]*waitState, len(waiting))
	for _, w := range waiting {
		ws := &waitState{Waiting: w, file: files[w.UID], since: now}
		if prev, ok := previous[w.UID]; ok {
			ws.since = prev.since
			if prev.Message == w.Message {
				a.waiting[w.UID] = ws
				continue
			}
		}
		a.waiting[w.UID] = ws
		if w.Reason == plan.ReasonWaitingForDependencies {
			a.log.Info("pod waits for its dependencies", "pod", w.Key, "uid", w.UID, "file", ws.file, "waiting_for", w.Pending, "message", w.Message)
		} else {
			a.log.Error("pod cannot start", "pod", w.Key, "uid", w.UID, "file", ws.file, "reason", w.Reason, "message", w.Message)
		}
	}
}

func (a *Agent) dispatch(ctx context.Context, act plan.Action, file string, now time.Time) {
	rt := a.cfg.Runtime
	st := a.observed[act.UID]
	switch act.Kind {
	case plan.Start:
		if st == nil {
			st = &podState{}
			a.observed[act.UID] = st
		}
		st.obs = plan.Observed{Key: act.Key, UID: act.UID, Phase: plan.Starting, GracePeriod: GracePeriod(act.Pod)}
		st.file, st.since = file, now
		a.log.Info("starting pod", "pod", act.Key, "uid", act.UID, "file", file, "reason", act.Reason)
		pod := act.Pod
		a.inFlight++
		go func() {
			err := rt.StartPod(ctx, pod)
			a.done <- opResult{kind: plan.Start, uid: pod.UID, err: err}
		}()
	case plan.Stop:
		st.obs.Phase = plan.Stopping
		st.since = now
		a.log.Info("stopping pod", "pod", act.Key, "uid", act.UID, "grace_period", act.GracePeriod, "reason", act.Reason)
		uid, grace := act.UID, act.GracePeriod
		a.inFlight++
		go func() {
			err := rt.StopPod(ctx, uid, grace)
			if errors.Is(err, ErrPodNotFound) {
				err = nil
			}
			a.done <- opResult{kind: plan.Stop, uid: uid, err: err}
		}()
	}
}

func (a *Agent) finish(res opResult) {
	a.inFlight--
	st := a.observed[res.uid]
	if st == nil {
		return
	}
	now := a.cfg.Now()
	if res.err == nil {
		st.attempts, st.lastErr = 0, nil
		switch res.kind {
		case plan.Start:
			st.obs.Phase = plan.Active
			a.log.Info("pod started", "pod", st.obs.Key, "uid", res.uid, "took", now.Sub(st.since))
		case plan.Stop:
			delete(a.observed, res.uid)
			a.log.Info("pod stopped", "pod", st.obs.Key, "uid", res.uid, "took", now.Sub(st.since))
		}
		return
	}
	st.attempts++
	st.lastErr = res.err
	delay := min(initialRetry<<min(st.attempts-1, 16), maxRetry)
	st.obs.RetryAt = now.Add(delay)
	if res.kind == plan.Start {
		st.obs.Phase = plan.StartFailed
	} else {
		st.obs.Phase = plan.StopFailed
	}
	a.log.Error("pod "+string(res.kind)+" failed", "pod", st.obs.Key, "uid", res.uid, "error", res.err, "retry_in", delay)
}

func (a *Agent) logFileChanges(before, after desired.Snapshot) {
	old := map[string]desired.FileStatus{}
	for _, f := range before.Files {
		old[f.Source+"\x00"+f.File] = f
	}
	for _, f := range after.Files {
		prev, ok := old[f.Source+"\x00"+f.File]
		if ok && prev.Verdict == f.Verdict && prev.UID == f.UID && len(prev.Reasons) == len(f.Reasons) {
			continue
		}
		switch f.Verdict {
		case admission.Rejected:
			a.log.Warn("manifest rejected", "file", f.File, "reasons", reasonStrings(f.Reasons), "serving_uid", f.UID)
		case admission.Accepted:
			a.log.Debug("manifest accepted", "file", f.File, "pod", f.PodKey, "uid", f.UID)
		case admission.Ignored:
			a.log.Debug("file ignored", "file", f.File, "reason", reasonStrings(f.Reasons))
		}
	}
}

func reasonStrings(rs []admission.Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}

func earliest(ts ...time.Time) time.Time {
	var e time.Time
	for _, t := range ts {
		if !t.IsZero() && (e.IsZero() || t.Before(e)) {
			e = t
		}
	}
	return e
}
