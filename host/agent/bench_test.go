package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/desired"
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
