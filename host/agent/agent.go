package agent

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
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
	// ObserveReconcile, when set, receives the duration of each core step
	// that reconciled (metrics). It must return at once.
	ObserveReconcile func(time.Duration)
	// OnState, when set, is called on the loop's goroutine with the agent's state after every change,
	// and when the runtime signals a pod's status changed (StatusNotifier); mirror pods use it. It must
	// return at once: it holds up the loop.
	OnState func(StateSnapshot)
}

// Agent is the control loop; see the package documentation.
type Agent struct {
	cfg      Config
	log      hclog.Logger
	statusCh chan chan Status
}

// New returns an agent; call Run to start it.
func New(cfg Config) *Agent {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Agent{cfg: cfg, log: cfg.Logger, statusCh: make(chan chan Status)}
}

type sourcedListing struct {
	name    string
	listing source.Listing
}

// loop is one Run: the core and what executes its actions.
type loop struct {
	*Agent
	ctx      context.Context
	core     *Core
	admitter *admitter
	// events carries op and adoption outcomes from their goroutines; ops
	// counts those goroutines, which Run waits for.
	events chan Event
	ops    sync.WaitGroup
	timer  *time.Timer
	// ready is the readiness last given to the core.
	ready map[types.UID]bool
}

// Run owns the agent's state until ctx is cancelled. Pods keep running when
// it returns, as with the kubelet: only a manifest's removal stops a pod.
// It returns once its start and stop calls have returned (they get the
// cancelled context), without waiting for a plugin call in progress.
func (a *Agent) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the admission in progress
	names := make([]string, 0, len(a.cfg.Sources))
	listings := make(chan sourcedListing)
	for name, mb := range a.cfg.Sources {
		names = append(names, name)
		go forward(ctx, name, mb, listings)
	}
	var statusChanged <-chan struct{} // nil: never ready
	n, notifies := a.cfg.Runtime.(StatusNotifier)
	if notifies {
		statusChanged = n.StatusChanged()
	}
	l := &loop{
		Agent: a, ctx: ctx,
		core:     NewCore(CoreConfig{Builder: a.cfg.Builder, Sources: names, RuntimeNotifies: notifies}),
		admitter: newAdmitter(a.cfg.Pipeline),
		events:   make(chan Event),
		timer:    time.NewTimer(time.Hour),
		ready:    map[types.UID]bool{},
	}
	l.timer.Stop()
	defer l.timer.Stop()
	admitted := make(chan Admitted)
	go l.admitter.run(ctx, admitted)

	l.step(TimerFired{}) // the first step asks for the runtime's pods
	for {
		select {
		case <-ctx.Done():
			l.ops.Wait()
			return nil
		case sl := <-listings:
			l.step(ListingArrived{Source: sl.name, Listing: sl.listing})
		case res := <-admitted:
			l.step(res)
		case ev := <-l.events:
			l.step(ev)
		case <-a.cfg.PolicyChanged:
			l.step(PolicyChanged{})
		case <-l.timer.C:
			l.step(TimerFired{})
		case <-statusChanged:
			// The runtime's view of a pod changed: observers of the state
			// (mirror pods) hear of it now, not at the next decision.
			l.refreshReadiness()
			l.publishState()
		case reply := <-a.statusCh:
			reply <- l.status()
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

// step gives the core an event, after the runtime's current readiness (the
// planner's start-after gate reads it), and executes the actions.
func (l *loop) step(ev Event) {
	l.refreshReadiness()
	l.apply(ev)
}

// refreshReadiness tells the core when the readiness of its pods changed.
// PodStatus answers from the runtime's memory.
func (l *loop) refreshReadiness() {
	ready := map[types.UID]bool{}
	for _, uid := range l.core.Observed() {
		if rs, ok := l.cfg.Runtime.PodStatus(uid); ok && PodReady(rs) {
			ready[uid] = true
		}
	}
	if !maps.Equal(ready, l.ready) {
		l.ready = ready
		l.apply(ReadinessChanged{Ready: ready})
	}
}

func (l *loop) apply(ev Event) {
	start := time.Now()
	actions := l.core.Step(l.cfg.Now(), ev)
	took := time.Since(start)
	for _, act := range actions {
		l.execute(act, took)
	}
}

func (l *loop) execute(act Action, took time.Duration) {
	rt := l.cfg.Runtime
	switch act := act.(type) {
	case Admit:
		l.admitter.submit(act)
	case StartPod:
		pod := act.Pod
		l.spawn(func(ctx context.Context) Event {
			return OpFinished{Kind: plan.Start, UID: pod.UID, Err: rt.StartPod(ctx, pod)}
		})
	case StopPod:
		uid, grace := act.UID, act.GracePeriod
		l.spawn(func(ctx context.Context) Event {
			err := rt.StopPod(ctx, uid, grace)
			if errors.Is(err, ErrPodNotFound) {
				err = nil
			}
			return OpFinished{Kind: plan.Stop, UID: uid, Err: err}
		})
	case ListPods:
		l.spawn(func(ctx context.Context) Event {
			pods, err := rt.ListPods(ctx)
			if err != nil {
				err = fmt.Errorf("adopt running pods: %w", err)
			}
			return PodsListed{Pods: pods, Err: err}
		})
	case SetTimer:
		l.timer.Stop()
		if !act.At.IsZero() {
			l.timer.Reset(max(act.At.Sub(l.cfg.Now()), 0))
		}
	case Log:
		args := make([]interface{}, 0, 2*len(act.Fields))
		for _, f := range act.Fields {
			args = append(args, f.Key, f.Value)
		}
		l.log.Log(hclog.LevelFromString(string(act.Level)), act.Message, args...)
	case StateChanged:
		if l.cfg.ObserveReconcile != nil {
			l.cfg.ObserveReconcile(took)
		}
		l.publishState()
	}
}

// publishState hands the state to Config.OnState.
func (l *loop) publishState() {
	if l.cfg.OnState != nil {
		l.cfg.OnState(StateSnapshot{Desired: l.core.Snapshot(), Status: l.status()})
	}
}

// spawn runs a runtime call in its own goroutine and hands its outcome to
// the loop, so a pod taking 30 s to stop never holds up the others.
func (l *loop) spawn(call func(ctx context.Context) Event) {
	l.ops.Add(1)
	go func() {
		defer l.ops.Done()
		ev := call(l.ctx)
		select {
		case l.events <- ev:
		case <-l.ctx.Done():
		}
	}()
}

// status is the core's status with the runtime's view of each pod it holds.
func (l *loop) status() Status {
	s := l.core.Status()
	for i := range s.Pods {
		p := &s.Pods[i]
		if p.Phase == PhaseWaiting {
			continue
		}
		if rs, ok := l.cfg.Runtime.PodStatus(types.UID(p.UID)); ok {
			p.Runtime = &rs
		}
	}
	return s
}
