package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/plan"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
)

// folder1000 writes 1,000 distinct manifests and returns the folder.
func folder1000(b *testing.B) string {
	dir := b.TempDir()
	for i := 0; i < 1000; i++ {
		content := fmt.Sprintf("apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-%04d\n  labels: {app: bench, index: %q}\nspec:\n  containers:\n  - name: main\n    image: registry.local/app:%d\n    command: [sleep, infinity]\n    ports: [{containerPort: 8080, name: http}]\n    readinessProbe: {httpGet: {port: http, path: /healthz}}\n", i, fmt.Sprint(i), i%7)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("pod-%04d.yaml", i)), []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// BenchmarkFolder1000 measures what the agent does per listing of a folder
// of 1,000 manifests: scan, admit and build the desired set, against the IO
// floor of listing and reading (or stat-ing) the same files.
func BenchmarkFolder1000(b *testing.B) {
	dir := folder1000(b)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	ctx := context.Background()
	b.Run("first-snapshot/baseline-readdir-readfile", func(b *testing.B) {
		for b.Loop() {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if _, err := os.ReadFile(filepath.Join(dir, e.Name())); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("first-snapshot/staticlet", func(b *testing.B) {
		for b.Loop() {
			l := file.NewScanner().Scan(dir)
			results := admission.New(admission.Options{NodeName: "n1"}).AdmitListing(ctx, l, now)
			if snap := desired.NewBuilder(time.Second).Build(results, now); len(snap.Pods) != 1000 {
				b.Fatalf("%d pods", len(snap.Pods))
			}
		}
	})
	b.Run("relist-unchanged/baseline-readdir-stat", func(b *testing.B) {
		for b.Loop() {
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if _, err := os.Stat(filepath.Join(dir, e.Name())); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
	b.Run("relist-unchanged/staticlet", func(b *testing.B) {
		scanner := file.NewScanner()
		pipeline := admission.New(admission.Options{NodeName: "n1"})
		builder := desired.NewBuilder(time.Second)
		builder.Build(pipeline.AdmitListing(ctx, scanner.Scan(dir), now), now)
		for b.Loop() {
			results := pipeline.AdmitListing(ctx, scanner.Scan(dir), now)
			if snap := builder.Build(results, now); len(snap.Pods) != 1000 {
				b.Fatalf("%d pods", len(snap.Pods))
			}
		}
	})
}

// BenchmarkCoreRelist1000 measures the core's two steps for a relist of an
// unchanged folder of 1,000 manifests whose pods run (the listing arrives,
// its admission results come back), against the baseline of what they
// wrap: building the desired set and planning over the same pods.
func BenchmarkCoreRelist1000(b *testing.B) {
	dir := folder1000(b)
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	l := file.NewScanner().Scan(dir)
	results := admission.New(admission.Options{NodeName: "n1"}).AdmitListing(context.Background(), l, now)

	b.Run("baseline-build-and-plan", func(b *testing.B) {
		builder := desired.NewBuilder(time.Second)
		var observed []plan.Observed
		for _, r := range results {
			observed = append(observed, plan.Observed{Key: r.Pod.Namespace + "/" + r.Pod.Name, UID: r.Pod.UID, Phase: plan.Active})
		}
		for b.Loop() {
			snap := builder.Build(results, now)
			in := plan.Input{Observed: observed, AllowOrphanStops: true, Now: now}
			for _, d := range snap.Pods {
				in.Desired = append(in.Desired, plan.Desired{Key: d.Key, UID: d.UID, Pod: d.Pod, ManifestName: d.ManifestName})
			}
			if out := plan.Plan(in); len(out.Actions) != 0 {
				b.Fatalf("%d actions", len(out.Actions))
			}
		}
	})
	b.Run("core", func(b *testing.B) {
		core := agent.NewCore(agent.CoreConfig{Builder: desired.NewBuilder(time.Second), Sources: []string{source.NameFile}, RuntimeNotifies: true})
		core.Step(now, agent.PodsListed{})
		gen := uint64(0)
		relist := func() []agent.Action {
			gen++
			core.Step(now, agent.ListingArrived{Source: source.NameFile, Listing: l})
			return core.Step(now, agent.Admitted{Source: source.NameFile, Generation: gen, Results: results})
		}
		for _, act := range relist() {
			if start, ok := act.(agent.StartPod); ok {
				core.Step(now, agent.OpFinished{Kind: plan.Start, UID: start.Pod.UID})
			}
		}
		for b.Loop() {
			for _, act := range relist() {
				if _, ok := act.(agent.StateChanged); !ok {
					b.Fatalf("unexpected action %T", act)
				}
			}
		}
	})
}
