package desired

import (
	"fmt"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/pod"
)

// Pod is one desired static pod.
type Pod struct {
	// Key is namespace/name, the identity that must be unique on the node.
	Key    string
	UID    types.UID
	Pod    *corev1.Pod
	Source string
	File   string
	// ManifestName is metadata.name before the node-name suffix (see
	// admission.Result).
	ManifestName string
	// NamedByPlugin says a naming plugin chose the pod's name instead of
	// the kubelet's <name>-<node> rule. Such a pod never takes a key from
	// a pod named by the rule (see resolve).
	NamedByPlugin bool
}

// FileStatus is what the agent reports about one file.
type FileStatus struct {
	Source   string
	File     string
	Verdict  admission.Verdict
	Reasons  []admission.Reason
	Warnings []string
	// Audit and Mutations report plugin decisions (see admission.Result).
	Audit     []string
	Mutations []string
	// PodKey and UID name the pod this file currently provides, if any. For
	// a rejected file serving its last good version, they name that version.
	PodKey string
	UID    types.UID
	// Stale is true when the pod served is an older, last good version.
	Stale bool
	// Removing is set while a vanished file's pod waits out the removal
	// delay.
	Removing bool
}

// Snapshot is the desired state at one instant.
type Snapshot struct {
	Pods  []Pod
	Files []FileStatus
	// NextChange is when the snapshot changes without new input (a removal
	// delay expiring); zero when nothing is pending.
	NextChange time.Time
}

// Builder keeps the memory that the rules above need between listings.
type Builder struct {
	removalDelay time.Duration
	// lastGood is the last version of each file that became desired.
	lastGood map[string]Pod
	// owner maps a pod key to the file that holds it.
	owner map[string]string
	// goneSince records when a file holding a pod disappeared.
	goneSince map[string]time.Time
}

// NewBuilder returns a builder with no history.
func NewBuilder(removalDelay time.Duration) *Builder {
	return &Builder{
		removalDelay: removalDelay,
		lastGood:     map[string]Pod{},
		owner:        map[string]string{},
		goneSince:    map[string]time.Time{},
	}
}

// fileID makes file identities unique across sources.
func fileID(source, file string) string { return source + "\x00" + file }

type candidate struct {
	id      string
	pod     Pod
	current bool // the file's current content, not a last good version
	gone    bool // the file vanished and waits out the removal delay
	status  *FileStatus
}

// Build computes the desired set from the latest results of every source.
func (b *Builder) Build(results []admission.Result, now time.Time) Snapshot {
	var snap Snapshot
	present := map[string]bool{}
	statuses := make([]*FileStatus, 0, len(results))
	var cands []*candidate

	for _, r := range results {
		id := fileID(r.Source, r.File)
		present[id] = true
		delete(b.goneSince, id)
		st := &FileStatus{Source: r.Source, File: r.File, Verdict: r.Verdict, Reasons: r.Reasons, Warnings: r.Warnings, Audit: r.Audit, Mutations: r.Mutations}
		statuses = append(statuses, st)
		switch {
		case r.Verdict == admission.Accepted:
			cands = append(cands, &candidate{id: id, current: true, status: st,
				pod: Pod{Key: key(r.Pod), UID: r.Pod.UID, Pod: r.Pod, Source: r.Source, File: r.File, ManifestName: r.ManifestName,
					NamedByPlugin: namedByPlugin(r)}})
		case r.Verdict == admission.Rejected:
			if lg, ok := b.lastGood[id]; ok {
				cands = append(cands, &candidate{id: id, pod: lg, status: st})
			}
		}
	}

	// Files that vanished keep their pod during the removal delay.
	for id, lg := range b.lastGood {
		if present[id] {
			continue
		}
		since, ok := b.goneSince[id]
		if !ok {
			since = now
			b.goneSince[id] = now
		}
		deadline := since.Add(b.removalDelay)
		if !now.Before(deadline) {
			b.forget(id)
			continue
		}
		st := &FileStatus{Source: lg.Source, File: lg.File, Verdict: admission.Accepted, Removing: true,
			Reasons: []admission.Reason{{Message: fmt.Sprintf("file is gone; its pod is removed at %s unless the file returns", deadline.UTC().Format(time.RFC3339Nano))}}}
		statuses = append(statuses, st)
		cands = append(cands, &candidate{id: id, pod: lg, gone: true, status: st})
		if snap.NextChange.IsZero() || deadline.Before(snap.NextChange) {
			snap.NextChange = deadline
		}
	}

	winners := b.resolveHostPorts(b.resolve(cands))

	// Record the new history.
	b.owner = map[string]string{}
	for _, c := range winners {
		b.owner[c.pod.Key] = c.id
		if c.current {
			b.lastGood[c.id] = c.pod
		}
		c.status.PodKey, c.status.UID = c.pod.Key, c.pod.UID
		c.status.Stale = !c.current && !c.gone
		if c.status.Stale {
			c.status.Reasons = append(c.status.Reasons, admission.Reason{Message: fmt.Sprintf("keeping the last good version (uid %s) running until the file is fixed", c.pod.UID)})
		}
		snap.Pods = append(snap.Pods, c.pod)
	}
	for _, st := range statuses {
		snap.Files = append(snap.Files, *st)
	}
	sort.Slice(snap.Pods, func(i, j int) bool { return snap.Pods[i].Key < snap.Pods[j].Key })
	sort.Slice(snap.Files, func(i, j int) bool {
		if snap.Files[i].Source != snap.Files[j].Source {
			return snap.Files[i].Source < snap.Files[j].Source
		}
		return snap.Files[i].File < snap.Files[j].File
	})
	return snap
}

func (b *Builder) forget(id string) {
	delete(b.lastGood, id)
	delete(b.goneSince, id)
}

// resolve picks one candidate per pod key. A present file beats a vanished
// one holding the same pod (that is a rename: the pod stays); a pod named
// by the kubelet's rule beats one a naming plugin named (a plugin cannot
// take another manifest's pod name, whoever held it first); otherwise the
// current owner keeps the key, and without an owner the first file by name
// wins. A losing file with its current content falls back to its last good
// version when that has another key; the loop runs until nothing changes.
func (b *Builder) resolve(cands []*candidate) []*candidate {
	for {
		byKey := map[string][]*candidate{}
		for _, c := range cands {
			byKey[c.pod.Key] = append(byKey[c.pod.Key], c)
		}
		var winners, next []*candidate
		changed := false
		for _, group := range byKey {
			sort.Slice(group, func(i, j int) bool { return b.before(group[i], group[j]) })
			winners = append(winners, group[0])
			next = append(next, group[0])
			for _, loser := range group[1:] {
				if loser.gone {
					// A renamed file's old path (the pod lives on in the new
					// file), or a vanished file that held nothing: forget it.
					b.forget(loser.id)
					loser.status.Reasons = []admission.Reason{{Message: fmt.Sprintf("file is gone; its pod %s now comes from %s", loser.pod.Key, group[0].pod.File)}}
					loser.status.Removing = false
					continue
				}
				loser.status.Verdict = admission.Rejected
				msg := fmt.Sprintf("Duplicate value: pod %s is already defined by %s", loser.pod.Key, group[0].pod.File)
				if loser.pod.NamedByPlugin && !group[0].pod.NamedByPlugin {
					msg = fmt.Sprintf("Duplicate value: a naming plugin named this pod %s, the name the pod of %s has by the <name>-<node> rule", loser.pod.Key, group[0].pod.File)
				}
				loser.status.Reasons = append(loser.status.Reasons, admission.Reason{Field: "metadata.name", Message: msg})
				if lg, ok := b.lastGood[loser.id]; ok && loser.current && lg.Key != loser.pod.Key {
					next = append(next, &candidate{id: loser.id, pod: lg, status: loser.status})
					changed = true
				}
			}
		}
		if !changed {
			return winners
		}
		cands = next
	}
}

// before orders candidates for one key: for the same content a present file
// before a vanished one (a rename), then a pod named by the kubelet's rule
// before one a plugin named, then the current owner, then by source and
// file name.
func (b *Builder) before(x, y *candidate) bool {
	if x.gone != y.gone && x.pod.UID == y.pod.UID {
		return !x.gone
	}
	if x.pod.NamedByPlugin != y.pod.NamedByPlugin {
		return !x.pod.NamedByPlugin
	}
	owner := b.owner[x.pod.Key]
	if (x.id == owner) != (y.id == owner) {
		return x.id == owner
	}
	return x.id < y.id
}

func key(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }

// namedByPlugin tells a pod a naming plugin named from one named by the
// kubelet's rule (pod.MakeStatic sets spec.nodeName to the node name the
// rule suffixes). Without the manifest's name it cannot tell, and says no.
func namedByPlugin(r admission.Result) bool {
	return r.ManifestName != "" && r.Pod.Name != pod.StaticName(r.ManifestName, r.Pod.Spec.NodeName)
}

// hostPort is one port a pod binds on the node.
type hostPort struct {
	protocol corev1.Protocol
	ip       string
	port     int32
	// field names it in the manifest, for the error.
	field string
}

func (h hostPort) String() string {
	ip := h.ip
	if ip == "" {
		ip = "0.0.0.0"
	}
	return fmt.Sprintf("%s:%d/%s", ip, h.port, h.protocol)
}

// overlaps tells two ports that cannot both be bound: same protocol and
// port, and the same address or either on every address, as the kubelet's
// admission (the scheduler's NodePorts filter) compares them.
func (h hostPort) overlaps(o hostPort) bool {
	wildcard := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	return h.protocol == o.protocol && h.port == o.port && (h.ip == o.ip || wildcard(h.ip) || wildcard(o.ip))
}

// podHostPorts lists the host ports of every container, init containers
// included; on the host network a container port is a host port.
func podHostPorts(p *corev1.Pod) []hostPort {
	var out []hostPort
	add := func(kind string, containers []corev1.Container) {
		for i, c := range containers {
			for j, port := range c.Ports {
				n := port.HostPort
				if n == 0 && p.Spec.HostNetwork {
					n = port.ContainerPort
				}
				if n == 0 {
					continue
				}
				proto := port.Protocol
				if proto == "" {
					proto = corev1.ProtocolTCP
				}
				out = append(out, hostPort{protocol: proto, ip: port.HostIP, port: n, field: fmt.Sprintf("spec.%s[%d].ports[%d].hostPort", kind, i, j)})
			}
		}
	}
	add("initContainers", p.Spec.InitContainers)
	add("containers", p.Spec.Containers)
	return out
}

// resolveHostPorts keeps two pods from claiming the same host port, as the
// kubelet's admission refuses the second: the pod that already held its
// name keeps its ports, then files in name order. A losing file whose last
// good version has the same name falls back to it (an edit that added a
// taken port keeps the running version); otherwise it is not run.
func (b *Builder) resolveHostPorts(winners []*candidate) []*candidate {
	sort.Slice(winners, func(i, j int) bool {
		x, y := winners[i], winners[j]
		xHeld, yHeld := b.owner[x.pod.Key] == x.id, b.owner[y.pod.Key] == y.id
		if xHeld != yHeld {
			return xHeld
		}
		return x.id < y.id
	})
	var taken []struct {
		port hostPort
		by   Pod
	}
	conflict := func(p *corev1.Pod) (hostPort, Pod, bool) {
		for _, mine := range podHostPorts(p) {
			for _, t := range taken {
				if mine.overlaps(t.port) {
					return mine, t.by, true
				}
			}
		}
		return hostPort{}, Pod{}, false
	}
	kept := winners[:0]
	for _, c := range winners {
		if port, holder, clash := conflict(c.pod.Pod); clash {
			c.status.Verdict = admission.Rejected
			c.status.Reasons = append(c.status.Reasons, admission.Reason{Field: port.field,
				Message: fmt.Sprintf("host port %s is already used by pod %s (%s)", port, holder.Key, holder.File)})
			lg, ok := b.lastGood[c.id]
			if !c.current || !ok || lg.Key != c.pod.Key || lg.UID == c.pod.UID {
				continue
			}
			if _, _, clash := conflict(lg.Pod); clash {
				continue
			}
			c = &candidate{id: c.id, pod: lg, status: c.status}
		}
		for _, p := range podHostPorts(c.pod.Pod) {
			taken = append(taken, struct {
				port hostPort
				by   Pod
			}{p, c.pod})
		}
		kept = append(kept, c)
	}
	return kept
}
