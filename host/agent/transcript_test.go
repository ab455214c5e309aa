package agent_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/plan"
	"github.com/staticlet/staticlet/host/source"
)

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of the transcripts in testdata/")

// TestTranscripts drives the agent's core with the events written in
// testdata/*.txt and compares the actions and status it answers with what
// the files say, in the style of etcd raft's interaction tests. Each case is
// a command line, input lines, "----", and the expected output up to a blank
// line. Run with -rewrite to regenerate the output, then review the diff.
//
// Commands (t is the transcript's clock, +0s at the start):
//
//	config [sources=file,http] [removal-delay=2s] [notifies=false]  a new core
//	tick                        the timer fires now
//	advance <duration>          move the clock
//	fire                        move the clock to the timer and fire it
//	listing [source=file] [incomplete] [note=...]
//	  <file> <name> <image> [after=a,b] [ns=x]   a manifest
//	  <file> broken                              a manifest with a syntax error
//	  <file> ignored                             a file the source ignores
//	admit [source=s] [gen=n]    answer admissions through a real pipeline:
//	                            by default the newest per source
//	policy deny=<image>         the policy changes to deny an image
//	done start|stop <uid> [err=...]              an op finishes
//	list-pods [err=...]         the runtime lists its pods, each input line
//	  <uid> <namespace/name> [dormant]   a pod it holds (dormant: known from
//	                            its records alone, no container running)
//	ready <uid>...              the pods the runtime reports Ready
//	status                      the core's status
//
// UIDs print as <manifest name>#<n>, n counting the versions of that pod.
func TestTranscripts(t *testing.T) {
	paths, err := filepath.Glob("testdata/*.txt")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) { runTranscript(t, path) })
	}
}

// transcriptCase is one command with its input and expected output; a chunk
// with no command is comments and blank lines, kept as they are.
type transcriptCase struct {
	line     int
	command  string
	input    []string
	expected []string
	verbatim []string
}

func parseTranscript(t *testing.T, path string) []transcriptCase {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var cases []transcriptCase
	sc := bufio.NewScanner(f)
	n := 0
	next := func() (string, bool) {
		if !sc.Scan() {
			return "", false
		}
		n++
		return sc.Text(), true
	}
	for {
		line, ok := next()
		if !ok {
			break
		}
		if line == "" || strings.HasPrefix(line, "#") {
			cases = append(cases, transcriptCase{verbatim: []string{line}})
			continue
		}
		c := transcriptCase{line: n, command: line}
		for {
			in, ok := next()
			if !ok {
				t.Fatalf("%s:%d: %q has no ----", path, c.line, c.command)
			}
			if in == "----" {
				break
			}
			c.input = append(c.input, in)
		}
		for {
			out, ok := next()
			if !ok || out == "" {
				break
			}
			c.expected = append(c.expected, out)
		}
		cases = append(cases, c)
	}
	return cases
}

func runTranscript(t *testing.T, path string) {
	cases := parseTranscript(t, path)
	tr := newTranscript(agent.CoreConfig{Sources: []string{source.NameFile}, RuntimeNotifies: true}, 2*time.Second)
	var rewritten strings.Builder
	for _, c := range cases {
		if c.command == "" {
			rewritten.WriteString(c.verbatim[0] + "\n")
			continue
		}
		got, err := tr.run(c.command, c.input)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", path, c.line, c.command, err)
		}
		rewritten.WriteString(c.command + "\n")
		for _, in := range c.input {
			rewritten.WriteString(in + "\n")
		}
		rewritten.WriteString("----\n")
		for _, out := range got {
			rewritten.WriteString(out + "\n")
		}
		rewritten.WriteString("\n")
		if !*rewrite && strings.Join(got, "\n") != strings.Join(c.expected, "\n") {
			t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", path, c.line, c.command,
				indent(got), indent(c.expected))
		}
	}
	if *rewrite {
		out := strings.TrimRight(rewritten.String(), "\n") + "\n"
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func indent(lines []string) string {
	if len(lines) == 0 {
		return "    (nothing)"
	}
	return "    " + strings.Join(lines, "\n    ")
}

// transcript is the world around a core: a clock, a pipeline, the actions
// not yet answered.
type transcript struct {
	core     *agent.Core
	policy   *imagePolicy
	pipeline *admission.Pipeline
	t0, now  time.Time
	timer    time.Time
	pending  []agent.Admit
	inFlight []agent.Action
	aliases  map[types.UID]string
	versions map[string]int
}

var transcriptEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTranscript(cfg agent.CoreConfig, removalDelay time.Duration) *transcript {
	cfg.Builder = desired.NewBuilder(removalDelay)
	policy := &imagePolicy{}
	return &transcript{
		core: agent.NewCore(cfg), policy: policy,
		pipeline: admission.New(admission.Options{NodeName: "node1", Policy: policy}),
		t0:       transcriptEpoch, now: transcriptEpoch,
		aliases: map[types.UID]string{}, versions: map[string]int{},
	}
}

// args splits "cmd k=v flag" into the command, its key=value arguments and
// its positional ones.
func args(line string) (string, map[string]string, []string) {
	fields := strings.Fields(line)
	kv := map[string]string{}
	var pos []string
	for _, f := range fields[1:] {
		if k, v, ok := strings.Cut(f, "="); ok {
			kv[k] = v
		} else {
			pos = append(pos, f)
		}
	}
	return fields[0], kv, pos
}

func (tr *transcript) run(line string, input []string) ([]string, error) {
	cmd, kv, pos := args(line)
	switch cmd {
	case "config":
		cfg := agent.CoreConfig{Sources: []string{source.NameFile}, RuntimeNotifies: kv["notifies"] != "false"}
		if s, ok := kv["sources"]; ok {
			cfg.Sources = strings.Split(s, ",")
		}
		delay := 2 * time.Second
		if d, ok := kv["removal-delay"]; ok {
			var err error
			if delay, err = time.ParseDuration(d); err != nil {
				return nil, err
			}
		}
		*tr = *newTranscript(cfg, delay)
		return nil, nil
	case "tick":
		return tr.step(agent.TimerFired{}), nil
	case "advance":
		if len(pos) != 1 {
			return nil, errors.New("advance takes a duration")
		}
		d, err := time.ParseDuration(pos[0])
		if err != nil {
			return nil, err
		}
		tr.now = tr.now.Add(d)
		return nil, nil
	case "fire":
		if tr.timer.IsZero() {
			return nil, errors.New("no timer is set")
		}
		tr.now, tr.timer = tr.timer, time.Time{}
		return append([]string{"at " + tr.at(tr.now)}, tr.step(agent.TimerFired{})...), nil
	case "listing":
		l, err := tr.listing(kv, pos, input)
		if err != nil {
			return nil, err
		}
		return tr.step(agent.ListingArrived{Source: l.Source, Listing: l}), nil
	case "admit":
		return tr.admit(kv)
	case "policy":
		tr.policy.set(kv["deny"])
		return tr.step(agent.PolicyChanged{}), nil
	case "done":
		return tr.done(kv, pos)
	case "list-pods":
		ev := agent.PodsListed{}
		if e, ok := kv["err"]; ok {
			ev.Err = errors.New(e)
		}
		for _, in := range input {
			f := strings.Fields(in)
			if len(f) < 2 || len(f) > 3 || len(f) == 3 && f[2] != "dormant" {
				return nil, fmt.Errorf("list-pods: want <uid> <namespace/name> [dormant], got %q", in)
			}
			uid, err := tr.uid(f[0]) // a version admitted before, or a stranger
			if err != nil {
				uid = types.UID(f[0])
				tr.aliases[uid] = f[0]
			}
			ev.Pods = append(ev.Pods, agent.RuntimePod{UID: uid, Key: f[1], GracePeriod: 30 * time.Second, Dormant: len(f) == 3})
		}
		return tr.step(ev), nil
	case "ready":
		ready := map[types.UID]bool{}
		for _, alias := range pos {
			uid, err := tr.uid(alias)
			if err != nil {
				return nil, err
			}
			ready[uid] = true
		}
		return tr.step(agent.ReadinessChanged{Ready: ready}), nil
	case "status":
		return tr.status(), nil
	}
	return nil, fmt.Errorf("unknown command %q", cmd)
}

func (tr *transcript) listing(kv map[string]string, pos, input []string) (source.Listing, error) {
	name := source.NameFile
	if s, ok := kv["source"]; ok {
		name = s
	}
	l := source.Listing{Source: name, Root: "/m", Complete: len(pos) == 0 || pos[0] != "incomplete", Note: kv["note"]}
	for _, in := range input {
		f := strings.Fields(in)
		file := source.File{Source: name, Path: "/m/" + f[0]}
		switch {
		case len(f) == 2 && f[1] == "broken":
			file.Content = []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: web\n")
		case len(f) == 2 && f[1] == "ignored":
			file.Ignored = "hidden file"
		case len(f) >= 3:
			_, opts, _ := args("x " + strings.Join(f[3:], " "))
			content := pod(f[1], f[2])
			if ns := opts["ns"]; ns != "" {
				content = strings.Replace(content, "  name: "+f[1]+"\n", "  name: "+f[1]+"\n  namespace: "+ns+"\n", 1)
			}
			if after := opts["after"]; after != "" {
				content = strings.Replace(content, "  name: "+f[1]+"\n",
					"  name: "+f[1]+"\n  annotations:\n    staticlet.dev/start-after: \""+after+"\"\n", 1)
			}
			file.Content = []byte(content)
		default:
			return l, fmt.Errorf("listing: cannot read %q", in)
		}
		if file.Content != nil {
			sum := sha256.Sum256(file.Content)
			file.Digest = hex.EncodeToString(sum[:])
		}
		l.Files = append(l.Files, file)
	}
	return l, nil
}

// admit answers pending admissions as the admitter would: the newest per
// source, dropping those it superseded; gen answers that one, even if
// superseded, as a late result.
func (tr *transcript) admit(kv map[string]string) ([]string, error) {
	var answer []agent.Admit
	newest := map[string]uint64{}
	for _, a := range tr.pending {
		newest[a.Source] = max(newest[a.Source], a.Generation)
	}
	var keep []agent.Admit
	for _, a := range tr.pending {
		if s, ok := kv["source"]; ok && a.Source != s {
			keep = append(keep, a)
			continue
		}
		if g, ok := kv["gen"]; ok {
			if fmt.Sprint(a.Generation) == g {
				answer = append(answer, a)
			} else {
				keep = append(keep, a)
			}
			continue
		}
		if a.Generation == newest[a.Source] {
			answer = append(answer, a)
		}
	}
	if len(answer) == 0 {
		return nil, errors.New("no such admission pending")
	}
	tr.pending = keep
	var out []string
	for _, a := range answer {
		results := tr.pipeline.AdmitListing(context.Background(), a.Listing, a.Now)
		for _, r := range results {
			if r.Pod != nil {
				tr.alias(r.Pod.UID, r.ManifestName)
			}
		}
		out = append(out, tr.step(agent.Admitted{Source: a.Source, Generation: a.Generation, Results: results})...)
	}
	return out, nil
}

func (tr *transcript) done(kv map[string]string, pos []string) ([]string, error) {
	if len(pos) != 2 {
		return nil, errors.New("done takes start|stop and a uid")
	}
	uid, err := tr.uid(pos[1])
	if err != nil {
		return nil, err
	}
	ev := agent.OpFinished{Kind: plan.Kind(pos[0]), UID: uid}
	if e, ok := kv["err"]; ok {
		ev.Err = errors.New(e)
	}
	for i, a := range tr.inFlight {
		switch a := a.(type) {
		case agent.StartPod:
			if ev.Kind != plan.Start || a.Pod.UID != uid {
				continue
			}
		case agent.StopPod:
			if ev.Kind != plan.Stop || a.UID != uid {
				continue
			}
		}
		tr.inFlight = append(tr.inFlight[:i], tr.inFlight[i+1:]...)
		return tr.step(ev), nil
	}
	return nil, fmt.Errorf("no %s of %s in flight", pos[0], pos[1])
}

func (tr *transcript) alias(uid types.UID, name string) string {
	if a, ok := tr.aliases[uid]; ok {
		return a
	}
	tr.versions[name]++
	a := fmt.Sprintf("%s#%d", name, tr.versions[name])
	tr.aliases[uid] = a
	return a
}

func (tr *transcript) uid(alias string) (types.UID, error) {
	for uid, a := range tr.aliases {
		if a == alias {
			return uid, nil
		}
	}
	return "", fmt.Errorf("no pod %s", alias)
}

func (tr *transcript) at(t time.Time) string { return "+" + t.Sub(tr.t0).String() }

// step runs one event and prints its actions.
func (tr *transcript) step(ev agent.Event) []string {
	var out []string
	for _, act := range tr.core.Step(tr.now, ev) {
		switch act := act.(type) {
		case agent.Admit:
			tr.pending = append(tr.pending, act)
			out = append(out, fmt.Sprintf("admit %s gen=%d files=%d", act.Source, act.Generation, len(act.Listing.Files)))
		case agent.StartPod:
			tr.inFlight = append(tr.inFlight, act)
			out = append(out, fmt.Sprintf("start %s %s", act.Key, tr.aliases[act.Pod.UID]))
		case agent.StopPod:
			tr.inFlight = append(tr.inFlight, act)
			out = append(out, fmt.Sprintf("stop %s %s grace=%s", act.Key, tr.aliases[act.UID], act.GracePeriod))
		case agent.ListPods:
			out = append(out, "list-pods")
		case agent.SetTimer:
			tr.timer = act.At
			if act.At.IsZero() {
				out = append(out, "timer off")
			} else {
				out = append(out, "timer "+tr.at(act.At))
			}
		case agent.Log:
			line := "log " + string(act.Level) + ": " + act.Message
			for _, f := range act.Fields {
				v := f.Value
				if v == "" || strings.Contains(v, " ") && !strings.HasPrefix(v, "[") {
					v = fmt.Sprintf("%q", v)
				}
				line += " " + f.Key + "=" + v
			}
			out = append(out, tr.readable(line))
		case agent.StateChanged:
		default:
			out = append(out, fmt.Sprintf("unknown action %T", act))
		}
	}
	return out
}

// readable replaces UIDs by their aliases.
func (tr *transcript) readable(s string) string {
	for uid, a := range tr.aliases {
		s = strings.ReplaceAll(s, string(uid), a)
	}
	return s
}

func (tr *transcript) status() []string {
	st := tr.core.Status()
	out := []string{fmt.Sprintf("synced: %t", st.Synced)}
	for _, s := range st.Sources {
		line := fmt.Sprintf("source %s: complete=%t listings=%d", s.Name, s.Complete, s.Listings)
		if s.Admitting != nil {
			line += fmt.Sprintf(" admitting files=%d since=%s", s.Admitting.Files, tr.at(s.Admitting.Since))
		}
		out = append(out, line)
	}
	files := append([]desired.FileStatus(nil), st.Files...)
	sort.Slice(files, func(i, j int) bool { return files[i].Source+files[i].File < files[j].Source+files[j].File })
	for _, f := range files {
		line := fmt.Sprintf("file %s: %s", f.File, f.Verdict)
		if f.PodKey != "" {
			line += " " + f.PodKey + " " + tr.aliases[f.UID]
		}
		if f.Stale {
			line += " stale"
		}
		if f.Removing {
			line += " removing"
		}
		out = append(out, line)
		for _, r := range f.Reasons {
			out = append(out, tr.readable("  "+r.String()))
		}
	}
	for _, p := range st.Pods {
		line := fmt.Sprintf("pod %s %s: %s since=%s", p.Key, tr.aliases[types.UID(p.UID)], p.Phase, tr.at(p.Since))
		if len(p.WaitingFor) > 0 {
			line += " waiting-for=" + strings.Join(p.WaitingFor, ",")
		}
		out = append(out, line)
		if p.LastError != "" {
			out = append(out, tr.readable("  error: "+p.LastError))
		}
		if p.Phase == agent.PhaseWaiting && p.Runtime != nil {
			out = append(out, tr.readable("  "+p.Runtime.Reason+": "+p.Runtime.Message))
		}
	}
	return out
}
