package agent

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/plan"
	"github.com/staticlet/staticlet/host/source"
)

// Event is something the core reacts to: input from a source, the admitter,
// the runtime or the clock. The loop (Agent.Run) turns channel receives into
// events; tests write them in transcripts.
type Event interface{ isEvent() }

// ListingArrived is a source's whole snapshot, complete or not.
type ListingArrived struct {
	Source  string
	Listing source.Listing
}

// Admitted carries the admission results of one listing. Generation is the
// one the core gave in its Admit action; results of an older generation
// (a newer listing or a policy change superseded them) are dropped.
type Admitted struct {
	Source     string
	Generation uint64
	Results    []admission.Result
}

// PolicyChanged says the plugin chain changed: every listing is admitted
// again.
type PolicyChanged struct{}

// OpFinished is the outcome of a StartPod or StopPod action.
type OpFinished struct {
	Kind plan.Kind
	UID  types.UID
	Err  error
}

// PodsListed is the outcome of a ListPods action: the runtime's pods, to
// adopt, or why it could not list them.
type PodsListed struct {
	Pods []RuntimePod
	Err  error
}

// ReadinessChanged carries the pods the runtime reports Running and Ready
// (PodReady), by UID; pods missing from it are not Ready.
type ReadinessChanged struct {
	Ready map[types.UID]bool
}

// TimerFired is the core's timer (SetTimer) going off.
type TimerFired struct{}

func (ListingArrived) isEvent()   {}
func (Admitted) isEvent()         {}
func (PolicyChanged) isEvent()    {}
func (OpFinished) isEvent()       {}
func (PodsListed) isEvent()       {}
func (ReadinessChanged) isEvent() {}
func (TimerFired) isEvent()       {}

// Action is something the core asks the loop to do.
type Action interface{ isAction() }

// Admit asks for a listing to be run through the admission pipeline; the
// answer comes back as Admitted with the same Source and Generation. A newer
// Admit for the same source supersedes this one.
type Admit struct {
	Source     string
	Generation uint64
	Listing    source.Listing
	// Now is the time the results are stamped with (admission.Result.Seen).
	Now time.Time
}

// StartPod asks the runtime to start a pod; OpFinished follows.
type StartPod struct {
	Key string
	Pod *corev1.Pod
}

// StopPod asks the runtime to stop a pod; OpFinished follows.
type StopPod struct {
	Key         string
	UID         types.UID
	GracePeriod time.Duration
}

// ListPods asks for the runtime's pods, to adopt; PodsListed follows.
type ListPods struct{}

// SetTimer asks for TimerFired at At; a zero At cancels the timer. Each
// SetTimer replaces the one before.
type SetTimer struct {
	At time.Time
}

// Log is a line for the agent's logger.
type Log struct {
	Level   Level
	Message string
	Fields  []LogField
}

// Level is a Log line's level.
type Level string

// Levels of Log lines, as the logger names them.
const (
	LevelDebug Level = "debug"
	LevelInfo  Level = "info"
	LevelWarn  Level = "warn"
	LevelError Level = "error"
)

// LogField is one key and value of a Log line.
type LogField struct {
	Key, Value string
}

// StateChanged says the core reconciled: its desired set and status may have
// changed (Config.OnState, metrics).
type StateChanged struct{}

func (Admit) isAction()        {}
func (StartPod) isAction()     {}
func (StopPod) isAction()      {}
func (ListPods) isAction()     {}
func (SetTimer) isAction()     {}
func (Log) isAction()          {}
func (StateChanged) isAction() {}

// CoreConfig configures a Core.
type CoreConfig struct {
	Builder *desired.Builder
	// Sources names every source; nothing is decided before each was heard.
	Sources []string
	// RuntimeNotifies is true when the runtime signals readiness changes
	// (StatusNotifier); otherwise the core polls while a pod waits.
	RuntimeNotifies bool
}

// Core holds the agent's decisions: it ingests listings, asks for their
// admission, reconciles the desired set with the pods it runs through
// desired.Builder and plan.Plan, and keeps back-off and start-after waiting.
// It does no IO, reads no clock and starts no goroutine: Step takes the time
// and an event and returns actions. It is not safe for concurrent use; the
// loop owns it.
type Core struct {
	builder  *desired.Builder
	sources  []string
	notifies bool

	listings map[string]source.Listing
	// listingsSeen counts each source's listings, complete or not.
	listingsSeen map[string]uint64
	// heard records the sources that delivered any listing, complete or not.
	heard   map[string]bool
	results map[string][]admission.Result
	// complete records the sources whose complete listing was admitted.
	complete map[string]bool
	// generation is the newest admission asked for per source; admitting
	// holds the sources whose newest admission has not come back.
	generation map[string]uint64
	admitting  map[string]admitting
	observed   map[types.UID]*podState
	ready      map[types.UID]bool
	// waiting are the desired pods the planner holds back by their
	// start-after annotation, as of the last reconcile.
	waiting  map[types.UID]*waitState
	snapshot desired.Snapshot

	adopted    bool
	listing    bool // a ListPods is in flight
	adoptRetry time.Duration
	adoptAt    time.Time
	// wake is when the last reconcile wants to run again without input
	// (a removal delay, a retry, a readiness poll); timer is the last
	// SetTimer.
	wake  time.Time
	timer time.Time
}

type admitting struct {
	generation uint64
	files      int
	since      time.Time
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

// NewCore returns a core that has heard nothing and adopted nothing; its
// first Step asks for the runtime's pods.
func NewCore(cfg CoreConfig) *Core {
	sources := append([]string(nil), cfg.Sources...)
	sort.Strings(sources)
	return &Core{
		builder: cfg.Builder, sources: sources, notifies: cfg.RuntimeNotifies,
		listings: map[string]source.Listing{}, listingsSeen: map[string]uint64{}, heard: map[string]bool{}, results: map[string][]admission.Result{},
		complete: map[string]bool{}, generation: map[string]uint64{}, admitting: map[string]admitting{},
		observed: map[types.UID]*podState{}, ready: map[types.UID]bool{}, waiting: map[types.UID]*waitState{},
		adoptRetry: initialRetry,
	}
}

// step collects one Step's actions.
type step struct {
	now     time.Time
	actions []Action
}

func (s *step) do(a Action) { s.actions = append(s.actions, a) }

func (s *step) log(level Level, msg string, fields ...LogField) {
	s.do(Log{Level: level, Message: msg, Fields: fields})
}

// Step applies one event at time now and returns what to do.
func (c *Core) Step(now time.Time, ev Event) []Action {
	s := &step{now: now}
	if c.apply(s, ev) {
		c.reconcile(s)
		s.do(StateChanged{})
	}
	if !c.adopted && !c.listing && !now.Before(c.adoptAt) {
		c.listing = true
		s.do(ListPods{})
	}
	if next := c.nextWake(now); !next.Equal(c.timer) {
		c.timer = next
		s.do(SetTimer{At: next})
	}
	return s.actions
}

// apply records the event and reports whether to reconcile.
func (c *Core) apply(s *step, ev Event) bool {
	switch ev := ev.(type) {
	case ListingArrived:
		c.ingest(s, ev.Source, ev.Listing)
		// A complete listing changes nothing until its results come; an
		// incomplete one may be the last source heard.
		return !ev.Listing.Complete
	case Admitted:
		return c.admitted(s, ev)
	case PolicyChanged:
		s.log(LevelInfo, "plugin chain changed; re-evaluating every manifest")
		for _, name := range c.sources {
			if l, ok := c.listings[name]; ok {
				c.admit(s, name, l)
			}
		}
		return false // the results reconcile when they come
	case OpFinished:
		c.finish(s, ev)
	case PodsListed:
		c.adopt(s, ev)
	case ReadinessChanged:
		c.ready = ev.Ready
		return len(c.waiting) > 0 // only a waiting pod acts on readiness
	case TimerFired:
		c.timer = time.Time{} // spent
	}
	return true
}

func (c *Core) ingest(s *step, name string, l source.Listing) {
	c.heard[name] = true
	c.listingsSeen[name]++
	if !l.Complete {
		// Keep what the source said last time: an unreadable folder must not
		// look like an empty one.
		s.log(LevelWarn, "source listing incomplete; keeping the previous one", kv("source", name), kv("root", l.Root), kv("note", l.Note))
		return
	}
	c.listings[name] = l
	c.admit(s, name, l)
}

func (c *Core) admit(s *step, name string, l source.Listing) {
	c.generation[name]++
	gen := c.generation[name]
	c.admitting[name] = admitting{generation: gen, files: len(l.Files), since: s.now}
	s.do(Admit{Source: name, Generation: gen, Listing: l, Now: s.now})
}

func (c *Core) admitted(s *step, ev Admitted) bool {
	if ev.Generation != c.generation[ev.Source] {
		s.log(LevelDebug, "dropping superseded admission results", kv("source", ev.Source),
			kv("generation", ev.Generation), kv("newest", c.generation[ev.Source]))
		return false
	}
	delete(c.admitting, ev.Source)
	c.results[ev.Source] = ev.Results
	if !c.complete[ev.Source] {
		c.complete[ev.Source] = true
		l := c.listings[ev.Source]
		s.log(LevelInfo, "source listed", kv("source", ev.Source), kv("root", l.Root), kv("files", len(l.Files)), kv("note", l.Note))
	}
	return true
}

func (c *Core) adopt(s *step, ev PodsListed) {
	c.listing = false
	if ev.Err != nil {
		s.log(LevelWarn, "cannot list the runtime's pods; retrying", kv("error", ev.Err), kv("retry_in", c.adoptRetry))
		c.adoptAt = s.now.Add(c.adoptRetry)
		c.adoptRetry = min(2*c.adoptRetry, maxRetry)
		return
	}
	for _, p := range ev.Pods {
		if _, ok := c.observed[p.UID]; ok {
			continue
		}
		if p.Dormant {
			// Started only if a manifest wants it (plan.Dormant).
			c.observed[p.UID] = &podState{obs: plan.Observed{Key: p.Key, UID: p.UID, Phase: plan.Dormant, GracePeriod: p.GracePeriod}, since: s.now}
			s.log(LevelInfo, "adopted dormant pod", kv("pod", p.Key), kv("uid", p.UID))
			continue
		}
		c.observed[p.UID] = &podState{obs: plan.Observed{Key: p.Key, UID: p.UID, Phase: plan.Active, GracePeriod: p.GracePeriod}, since: s.now}
		s.log(LevelInfo, "adopted running pod", kv("pod", p.Key), kv("uid", p.UID))
	}
	c.adopted = true
}

// decidable reports whether every source delivered its first listing (a
// failed URL fetch counts: it ends within its timeout) and every first
// complete listing was admitted. Until then the core decides nothing, so
// which source holds a contested pod name does not depend on which one
// answered first.
func (c *Core) decidable() bool {
	for _, name := range c.sources {
		if !c.heard[name] {
			return false
		}
		if _, listed := c.listings[name]; listed && !c.complete[name] {
			return false
		}
	}
	return true
}

func (c *Core) allSourcesComplete() bool {
	for _, name := range c.sources {
		if !c.complete[name] {
			return false
		}
	}
	return true
}

// reconcile rebuilds the desired set, plans, and turns the plan into
// actions.
func (c *Core) reconcile(s *step) {
	if !c.decidable() {
		return
	}
	var all []admission.Result
	for _, name := range c.sources {
		all = append(all, c.results[name]...)
	}
	previous := c.snapshot
	c.snapshot = c.builder.Build(all, s.now)
	logFileChanges(s, previous, c.snapshot)
	c.wake = c.snapshot.NextChange
	if !c.adopted {
		return
	}

	in := plan.Input{AllowOrphanStops: c.allSourcesComplete(), Now: s.now}
	for _, d := range c.snapshot.Pods {
		in.Desired = append(in.Desired, plan.Desired{Key: d.Key, UID: d.UID, Pod: d.Pod, ManifestName: d.ManifestName})
	}
	for _, st := range c.observed {
		st.obs.Ready = st.obs.Phase == plan.Active && c.ready[st.obs.UID]
		in.Observed = append(in.Observed, st.obs)
	}
	sort.Slice(in.Observed, func(i, j int) bool { return in.Observed[i].UID < in.Observed[j].UID })
	out := plan.Plan(in)
	files := map[types.UID]string{}
	for _, d := range c.snapshot.Pods {
		files[d.UID] = d.File
		if st := c.observed[d.UID]; st != nil {
			st.file = d.File // adopted pods learn their file here
		}
	}
	for _, act := range out.Actions {
		c.dispatch(s, act, files[act.UID])
	}
	c.noteWaiting(s, out.Waiting, files)
	c.wake = earliest(c.snapshot.NextChange, out.NextRetry)
	if len(c.waiting) > 0 && !c.notifies {
		c.wake = earliest(c.wake, s.now.Add(waitingPoll))
	}
}

// nextWake is when the core wants TimerFired without other input.
func (c *Core) nextWake(now time.Time) time.Time {
	next := c.wake
	if !c.adopted && !c.listing {
		next = earliest(next, c.adoptAt)
	}
	if !next.IsZero() && next.Before(now) {
		next = now
	}
	return next
}

// noteWaiting records the pods the planner holds back, logging each once
// when it starts waiting or what it waits for changes.
func (c *Core) noteWaiting(s *step, waiting []plan.Waiting, files map[types.UID]string) {
	previous := c.waiting
	c.waiting = make(map[types.UID]*waitState, len(waiting))
	for _, w := range waiting {
		ws := &waitState{Waiting: w, file: files[w.UID], since: s.now}
		if prev, ok := previous[w.UID]; ok {
			ws.since = prev.since
			if prev.Message == w.Message {
				c.waiting[w.UID] = ws
				continue
			}
		}
		c.waiting[w.UID] = ws
		if w.Reason == plan.ReasonWaitingForDependencies {
			s.log(LevelInfo, "pod waits for its dependencies", kv("pod", w.Key), kv("uid", w.UID), kv("file", ws.file),
				kv("waiting_for", w.Pending), kv("message", w.Message))
		} else {
			s.log(LevelError, "pod cannot start", kv("pod", w.Key), kv("uid", w.UID), kv("file", ws.file),
				kv("reason", w.Reason), kv("message", w.Message))
		}
	}
}

func (c *Core) dispatch(s *step, act plan.Action, file string) {
	st := c.observed[act.UID]
	switch act.Kind {
	case plan.Start:
		if st == nil {
			st = &podState{}
			c.observed[act.UID] = st
		}
		st.obs = plan.Observed{Key: act.Key, UID: act.UID, Phase: plan.Starting, GracePeriod: GracePeriod(act.Pod)}
		st.file, st.since = file, s.now
		s.log(LevelInfo, "starting pod", kv("pod", act.Key), kv("uid", act.UID), kv("file", file), kv("reason", act.Reason))
		s.do(StartPod{Key: act.Key, Pod: act.Pod})
	case plan.Stop:
		st.obs.Phase = plan.Stopping
		st.since = s.now
		s.log(LevelInfo, "stopping pod", kv("pod", act.Key), kv("uid", act.UID), kv("grace_period", act.GracePeriod), kv("reason", act.Reason))
		s.do(StopPod{Key: act.Key, UID: act.UID, GracePeriod: act.GracePeriod})
	}
}

func (c *Core) finish(s *step, res OpFinished) {
	st := c.observed[res.UID]
	if st == nil {
		return
	}
	if res.Err == nil {
		st.attempts, st.lastErr = 0, nil
		switch res.Kind {
		case plan.Start:
			st.obs.Phase = plan.Active
			s.log(LevelInfo, "pod started", kv("pod", st.obs.Key), kv("uid", res.UID), kv("took", s.now.Sub(st.since)))
		case plan.Stop:
			delete(c.observed, res.UID)
			delete(c.ready, res.UID)
			s.log(LevelInfo, "pod stopped", kv("pod", st.obs.Key), kv("uid", res.UID), kv("took", s.now.Sub(st.since)))
		}
		return
	}
	st.attempts++
	st.lastErr = res.Err
	delay := min(initialRetry<<min(st.attempts-1, 16), maxRetry)
	st.obs.RetryAt = s.now.Add(delay)
	if res.Kind == plan.Start {
		st.obs.Phase = plan.StartFailed
	} else {
		st.obs.Phase = plan.StopFailed
	}
	s.log(LevelError, "pod "+string(res.Kind)+" failed", kv("pod", st.obs.Key), kv("uid", res.UID), kv("error", res.Err), kv("retry_in", delay))
}

// Snapshot is the desired set as of the last reconcile.
func (c *Core) Snapshot() desired.Snapshot { return c.snapshot }

// Observed lists the UIDs of the pods the core started or adopted, for the
// loop to ask the runtime about their readiness.
func (c *Core) Observed() []types.UID {
	out := make([]types.UID, 0, len(c.observed))
	for uid := range c.observed {
		out = append(out, uid)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// Waiting reports whether some pod waits for its start-after dependencies.
func (c *Core) Waiting() bool { return len(c.waiting) > 0 }

func logFileChanges(s *step, before, after desired.Snapshot) {
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
			s.log(LevelWarn, "manifest rejected", kv("file", f.File), kv("reasons", reasonStrings(f.Reasons)), kv("serving_uid", f.UID))
		case admission.Accepted:
			s.log(LevelDebug, "manifest accepted", kv("file", f.File), kv("pod", f.PodKey), kv("uid", f.UID))
		case admission.Ignored:
			s.log(LevelDebug, "file ignored", kv("file", f.File), kv("reason", reasonStrings(f.Reasons)))
		}
	}
}

// kv makes a log field, its value formatted as fmt.Sprint does, lists of
// strings quoted.
func kv(key string, value any) LogField {
	if list, ok := value.([]string); ok {
		return LogField{Key: key, Value: fmt.Sprintf("%q", list)}
	}
	return LogField{Key: key, Value: fmt.Sprint(value)}
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
