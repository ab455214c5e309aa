package plan

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/pod"
)

// Reasons a desired pod is held back by its staticlet.dev/start-after
// annotation. They become the pod's status reason (and the waiting reason
// of its containers), so `kubectl get pods` shows them.
const (
	// ReasonWaitingForDependencies: a named pod is missing, not started, or
	// not Running and Ready yet.
	ReasonWaitingForDependencies = "WaitingForDependencies"
	// ReasonDependencyCycle: the pod is on a cycle of start-after
	// references; it never starts until a manifest breaks the cycle.
	ReasonDependencyCycle = "DependencyCycle"
	// ReasonInvalidDependencies: the annotation does not parse. Validation
	// rejects such manifests, so only a caller that skipped it sees this.
	ReasonInvalidDependencies = "InvalidDependencies"
)

// Waiting is a desired pod that may not start yet because of its
// start-after annotation.
type Waiting struct {
	Key string
	UID types.UID
	// Reason is one of the Reason* constants; Message says what the pod
	// waits for, in words an operator can act on.
	Reason  string
	Message string
	// Pending lists what the pod waits for: the namespace/name key of each
	// named pod not yet Running and Ready, or the reference as written
	// (namespace/manifest-name) when no desired pod answers to it. For a
	// cycle, the pods on it.
	Pending []string
}

// startGraph resolves the start-after references of a desired set.
type startGraph struct {
	desired []Desired
	// deps[i] are pod i's references, each with the desired pods it names.
	deps [][]resolvedRef
	// invalid[i] are pod i's annotation problems.
	invalid [][]string
	// cycle[i] is a shortest cycle through pod i, as keys from i back to
	// i; nil when i is on none.
	cycle [][]string
	// byKey finds a desired pod by its final namespace/name, to hint at a
	// reference that used the suffixed name.
	byKey map[string]int
}

type resolvedRef struct {
	ref     pod.StartAfterRef
	targets []int
}

// newStartGraph returns nil when no desired pod has the annotation, so the
// common case costs one map lookup per pod.
func newStartGraph(desired []Desired) *startGraph {
	var g *startGraph
	for i, d := range desired {
		if d.Pod == nil {
			continue
		}
		refs, problems, present := pod.StartAfter(d.Pod)
		if !present {
			continue
		}
		if g == nil {
			g = &startGraph{desired: desired, deps: make([][]resolvedRef, len(desired)),
				invalid: make([][]string, len(desired)), cycle: make([][]string, len(desired))}
		}
		g.invalid[i] = problems
		for _, ref := range refs {
			g.deps[i] = append(g.deps[i], resolvedRef{ref: ref})
		}
	}
	if g == nil {
		return nil
	}
	byManifestName := map[pod.StartAfterRef][]int{}
	g.byKey = map[string]int{}
	for i, d := range desired {
		g.byKey[d.Key] = i
		if d.Pod != nil {
			name := pod.StartAfterRef{Namespace: d.Pod.Namespace, ManifestName: d.ManifestName}
			byManifestName[name] = append(byManifestName[name], i)
		}
	}
	for i := range g.deps {
		for j := range g.deps[i] {
			g.deps[i][j].targets = byManifestName[g.deps[i][j].ref]
		}
	}
	g.findCycles()
	return g
}

// findCycles marks every pod on a cycle: Tarjan's strongly connected
// components, then for each pod in a component with more than one pod (or
// a pod naming itself) the shortest path back to itself inside it.
func (g *startGraph) findCycles() {
	n := len(g.desired)
	index := make([]int, n)
	low := make([]int, n)
	onStack := make([]bool, n)
	component := make([]int, n)
	for i := range index {
		index[i], component[i] = -1, -1
	}
	var stack []int
	next, components := 0, 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		onStack[v] = true
		for _, dep := range g.deps[v] {
			for _, w := range dep.targets {
				if index[w] < 0 {
					visit(w)
					low[v] = min(low[v], low[w])
				} else if onStack[w] {
					low[v] = min(low[v], index[w])
				}
			}
		}
		if low[v] == index[v] {
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[w] = false
				component[w] = components
				if w == v {
					break
				}
			}
			components++
		}
	}
	for v := 0; v < n; v++ {
		if index[v] < 0 {
			visit(v)
		}
	}
	for v := 0; v < n; v++ {
		g.cycle[v] = g.shortestCycle(v, component)
	}
}

// shortestCycle is a breadth-first search from v back to v that stays in
// v's component; nil when v is on no cycle.
func (g *startGraph) shortestCycle(v int, component []int) []string {
	parent := map[int]int{}
	queue := []int{v}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, dep := range g.deps[u] {
			for _, w := range dep.targets {
				if component[w] != component[v] {
					continue
				}
				if w == v {
					path := []string{g.desired[v].Key}
					for x := u; x != v; x = parent[x] {
						path = append(path, g.desired[x].Key)
					}
					path = append(path, g.desired[v].Key)
					// Built backwards from the end: reverse to read v → ... → v.
					for a, b := 0, len(path)-1; a < b; a, b = a+1, b-1 {
						path[a], path[b] = path[b], path[a]
					}
					return path
				}
				if _, seen := parent[w]; !seen {
					parent[w] = u
					queue = append(queue, w)
				}
			}
		}
	}
	return nil
}

// gate says why desired pod i may not start now, given what runs; ok is
// false when it may start.
func (g *startGraph) gate(i int, observed map[types.UID]Observed) (Waiting, bool) {
	if g == nil || (g.deps[i] == nil && g.invalid[i] == nil) {
		return Waiting{}, false
	}
	d := g.desired[i]
	w := Waiting{Key: d.Key, UID: d.UID}
	switch {
	case len(g.invalid[i]) > 0:
		w.Reason = ReasonInvalidDependencies
		w.Message = pod.AnnotationStartAfter + " is invalid: " + strings.Join(g.invalid[i], "; ")
		return w, true
	case g.cycle[i] != nil:
		w.Reason = ReasonDependencyCycle
		w.Pending = sortedUnique(g.cycle[i])
		w.Message = pod.AnnotationStartAfter + " forms a cycle: " + strings.Join(g.cycle[i], " → ") +
			"; the pods on it do not start until a manifest breaks it"
		return w, true
	}
	var why []string
	for _, dep := range g.deps[i] {
		if len(dep.targets) == 0 {
			w.Pending = append(w.Pending, dep.ref.String())
			why = append(why, dep.ref.String()+" ("+g.missing(dep.ref)+")")
			continue
		}
		for _, t := range dep.targets {
			target := g.desired[t]
			state, ready := g.readiness(t, observed)
			if !ready {
				w.Pending = append(w.Pending, target.Key)
				why = append(why, target.Key+" ("+state+")")
			}
		}
	}
	if len(why) == 0 {
		return Waiting{}, false
	}
	w.Reason = ReasonWaitingForDependencies
	w.Message = "waiting for " + strings.Join(why, ", ") + " to be Running and Ready (" + pod.AnnotationStartAfter + ")"
	return w, true
}

// missing explains a reference no desired pod answers to; the pod may
// still appear (a manifest written later, a URL source answering).
func (g *startGraph) missing(ref pod.StartAfterRef) string {
	msg := fmt.Sprintf("no static pod with manifest name %q in namespace %q", ref.ManifestName, ref.Namespace)
	if i, ok := g.byKey[ref.String()]; ok && g.desired[i].ManifestName != "" {
		msg += fmt.Sprintf("; start-after takes the name written in the manifest, without the node suffix: %q", g.desired[i].ManifestName)
	}
	return msg
}

// readiness says whether the desired version of pod t runs and is Ready;
// an older version of it that still runs does not count, since it is
// about to be replaced.
func (g *startGraph) readiness(t int, observed map[types.UID]Observed) (state string, ready bool) {
	o, ok := observed[g.desired[t].UID]
	if !ok {
		if g.cycle[t] != nil {
			return "on a start-after cycle, never starts", false
		}
		return "not started", false
	}
	switch o.Phase {
	case Active:
		if o.Ready {
			return "Ready", true
		}
		return "not Ready", false
	case Starting:
		return "starting", false
	case StartFailed:
		return "start failed, retrying", false
	default:
		return "stopping", false
	}
}

// DependencyProblems reports the desired pods whose start-after annotation
// the desired set itself cannot satisfy, whatever runs: those on a cycle
// (ReasonDependencyCycle) and those naming a pod no manifest provides
// (ReasonWaitingForDependencies, Pending holding only the missing names).
// `staticlet check` prints them; the agent learns the same from Plan.
func DependencyProblems(desired []Desired) []Waiting {
	g := newStartGraph(desired)
	if g == nil {
		return nil
	}
	var out []Waiting
	for i, d := range desired {
		switch {
		case len(g.invalid[i]) > 0 || g.cycle[i] != nil:
			w, _ := g.gate(i, nil)
			out = append(out, w)
		default:
			w := Waiting{Key: d.Key, UID: d.UID, Reason: ReasonWaitingForDependencies}
			var why []string
			for _, dep := range g.deps[i] {
				if len(dep.targets) == 0 {
					w.Pending = append(w.Pending, dep.ref.String())
					why = append(why, dep.ref.String()+" ("+g.missing(dep.ref)+")")
				}
			}
			if len(why) > 0 {
				w.Message = "will wait for " + strings.Join(why, ", ") + " (" + pod.AnnotationStartAfter + ")"
				out = append(out, w)
			}
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Key < out[b].Key })
	return out
}

func sortedUnique(keys []string) []string {
	out := append([]string(nil), keys...)
	sort.Strings(out)
	j := 0
	for i, k := range out {
		if i == 0 || k != out[j-1] {
			out[j] = k
			j++
		}
	}
	return out[:j]
}
