package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/staticlet/staticlet/host/plugin/plugintest"
	denyprivileged "github.com/staticlet/staticlet/plugins/deny-privileged/policy"
)

// seedManifest is the seed pod of docs/benchmarks.md, as JSON.
const seedManifest = `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"myapp-pod","labels":{"app":"myapp","type":"front-end"}},"spec":{"containers":[{"name":"nginx-container","image":"nginx"}]}}`

var seedRequest = Request{File: "/etc/kubernetes/manifests/myapp.yaml", Source: "file", Manifest: []byte(seedManifest), Node: Node{Name: "worker-1", Labels: map[string]string{"zone": "a"}}}

func benchChain(b *testing.B, opts Options, specs ...Spec) *Chain {
	b.Helper()
	c, err := LoadChain(context.Background(), specs, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func denyPrivilegedSpec(b testing.TB) Spec {
	return Spec{Name: "deny-privileged", Path: plugintest.BuildGo(b, "plugins/deny-privileged", false)}
}

// reportLatency runs fn b.N times and reports p50 and p99 besides the mean.
func reportLatency(b *testing.B, fn func()) {
	b.Helper()
	for range 50 { // warm the instance and the guest's heap
		fn()
	}
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		fn()
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(durations)
	b.ReportMetric(float64(durations[len(durations)/2].Microseconds()), "p50-us")
	b.ReportMetric(float64(durations[len(durations)*99/100].Microseconds()), "p99-us")
}

// BenchmarkColdCompile is a first load on a node: the compiler process
// validates, instruments and compiles into an empty cache folder, and the
// agent loads the result.
func BenchmarkColdCompile(b *testing.B) {
	spec := denyPrivilegedSpec(b)
	for range b.N {
		dir := filepath.Join(b.TempDir(), "cache")
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		c := benchChain(b, Options{cacheOverride: cache, CacheDir: dir}, spec)
		c.Close(context.Background())
	}
}

func BenchmarkCachedLoad(b *testing.B) { benchCachedLoad(b, denyPrivilegedSpec(b)) }

// benchCachedLoad measures what an agent restart pays to load spec: a fresh
// cache object over a warm cache folder.
func benchCachedLoad(b *testing.B, spec Spec) {
	dir := filepath.Join(b.TempDir(), "cache")
	warm, _ := wazero.NewCompilationCacheWithDir(dir)
	benchChain(b, Options{cacheOverride: warm, CacheDir: dir}, spec).Close(context.Background())
	b.ResetTimer()
	for range b.N {
		cache, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			b.Fatal(err)
		}
		c := benchChain(b, Options{cacheOverride: cache, CacheDir: dir}, spec)
		c.Close(context.Background())
	}
}

func BenchmarkInstantiate(b *testing.B) {
	c := benchChain(b, Options{CacheDir: plugintest.CacheDir()}, denyPrivilegedSpec(b))
	p := c.plugins[0]
	ctx := context.Background()
	b.ResetTimer()
	for range b.N {
		inst, err := p.newInstance(ctx)
		if err != nil {
			b.Fatal(err)
		}
		inst.close(ctx)
	}
}

func benchValidate(b *testing.B, opts Options) {
	opts.CacheDir = plugintest.CacheDir()
	c := benchChain(b, opts, denyPrivilegedSpec(b))
	ctx := context.Background()
	reportLatency(b, func() {
		res, err := c.Validate(ctx, seedRequest)
		if err != nil || !res.Allowed {
			b.Fatalf("validate: %+v %v", res, err)
		}
	})
}

// BenchmarkValidateWarm is the default: timeouts enforced by the injected
// interrupt check.
func BenchmarkValidateWarm(b *testing.B) { benchValidate(b, Options{}) }

// BenchmarkValidateWarmCloseOnContextDone enforces timeouts with wazero's
// WithCloseOnContextDone instead.
func BenchmarkValidateWarmCloseOnContextDone(b *testing.B) {
	benchValidate(b, Options{DisableInterruptInstrumentation: true})
}

// BenchmarkValidateWarmNoTimeout is the floor: no timeout enforcement.
func BenchmarkValidateWarmNoTimeout(b *testing.B) { benchValidate(b, Options{noTimeouts: true}) }

// BenchmarkValidateNative runs the same plugin code natively through the
// same JSON request/response path (sdk Plugin.Handle), for the ratio.
func BenchmarkValidateNative(b *testing.B) {
	p := denyprivileged.Plugin
	reportLatency(b, func() {
		req, err := json.Marshal(wireRequest{ABIVersion: ABIVersion, Operation: string(OpValidate), File: seedRequest.File, Source: "file",
			Node: wireNode{Name: seedRequest.Node.Name, Labels: seedRequest.Node.Labels}, Manifest: seedRequest.Manifest})
		if err != nil {
			b.Fatal(err)
		}
		var resp wireResponse
		if err := json.Unmarshal(p.Handle("validate", req), &resp); err != nil || resp.Allowed == nil || !*resp.Allowed {
			b.Fatalf("native validate: %+v %v", resp, err)
		}
	})
}

// BenchmarkChainThree is the agent's sequence over a three-plugin chain:
// add-labels mutates, name-template names, deny-privileged validates.
func BenchmarkChainThree(b *testing.B) {
	c := benchChain(b, Options{CacheDir: plugintest.CacheDir()},
		Spec{Name: "add-labels", Path: plugintest.BuildGo(b, "plugins/add-labels", false), Settings: json.RawMessage(`{"labels":{"staticlet.dev/node":"{node}"}}`)},
		Spec{Name: "name-template", Path: plugintest.BuildGo(b, "plugins/name-template", false), Settings: json.RawMessage(`{"template":"{name}-{node}-{nodeLabel:zone}"}`)},
		denyPrivilegedSpec(b),
	)
	ctx := context.Background()
	reportLatency(b, func() {
		m, err := c.Mutate(ctx, seedRequest)
		if err != nil || len(m.Changes) != 1 {
			b.Fatalf("mutate: %+v %v", m, err)
		}
		req := seedRequest
		req.Manifest = m.Manifest
		n, err := c.Name(ctx, req)
		if err != nil || n.Name != "myapp-pod-worker-1-a" {
			b.Fatalf("name: %+v %v", n, err)
		}
		v, err := c.Validate(ctx, req)
		if err != nil || !v.Allowed {
			b.Fatalf("validate: %+v %v", v, err)
		}
	})
}

// BenchmarkDeadlineEnforcement compares the ways of bounding a call by its
// deadline on a warm validate call, for a Go guest (deny-privileged: every
// function starts with a loop) and a C guest (the c-example plugin at -O2,
// whose functions mostly do not): no enforcement (the floor), loop checks
// only (the rewrite before function-entry checks, which misses recursion),
// loop and function-entry checks (the default), and wazero's
// WithCloseOnContextDone (which also misses recursion: it checks loop
// headers only). docs/RATIONALE.md quotes the ratios to the floor.
func BenchmarkDeadlineEnforcement(b *testing.B) {
	guests := []struct {
		name     string
		spec     func(testing.TB) Spec
		manifest string
	}{
		{"go", denyPrivilegedSpec, seedManifest},
		{"c", func(t testing.TB) Spec {
			return Spec{Name: "c-example", Path: plugintest.BuildC(t, "plugins/c-example/deny_host_network.c", "-O2")}
		}, seedManifest},
	}
	modes := []struct {
		name      string
		opts      Options
		loopsOnly bool
	}{
		{"none", Options{noTimeouts: true}, false},
		{"loops", Options{}, true},
		{"entry+loops", Options{}, false},
		{"closeOnContextDone", Options{DisableInterruptInstrumentation: true}, false},
	}
	for _, g := range guests {
		for _, m := range modes {
			b.Run(g.name+"/"+m.name, func(b *testing.B) {
				loopChecksOnly = m.loopsOnly
				defer func() { loopChecksOnly = false }()
				// No cache folder: each mode compiles its own rewrite.
				c := benchChain(b, m.opts, g.spec(b))
				ctx := context.Background()
				req := seedRequest
				req.Manifest = []byte(g.manifest)
				reportLatency(b, func() {
					res, err := c.Validate(ctx, req)
					if err != nil || !res.Allowed {
						b.Fatalf("validate: %+v %v", res, err)
					}
				})
			})
		}
	}
}

// BenchmarkHostileStop measures how long after its deadline a hostile call
// ends (the tight figure the hostile tests assert generously): exponential
// recursion (fib at -O0) and an endless loop, with a 100 ms timeout.
func BenchmarkHostileStop(b *testing.B) {
	for _, hostileCase := range []string{"FIB", "TWICE"} {
		b.Run(hostileCase, func(b *testing.B) {
			const timeout = 100 * time.Millisecond
			c := benchChain(b, Options{CacheDir: plugintest.CacheDir(), QuarantineAfter: -1}, Spec{Name: "hostile", Path: hostileC(b, hostileCase), Timeout: dur(timeout)})
			p, ctx := c.plugins[0], context.Background()
			var over []time.Duration
			for range b.N {
				// A fresh instance outside the measurement: what is timed
				// is the call, from its start to its trap.
				inst, err := p.newInstance(ctx)
				if err != nil {
					b.Fatal(err)
				}
				start := time.Now()
				_, err = inst.exchange(ctx, p, OpValidate, []byte(seedManifest))
				over = append(over, time.Since(start)-timeout)
				inst.close(ctx)
				if !errors.Is(err, ErrTimeout) {
					b.Fatalf("want a timeout, got %v", err)
				}
			}
			slices.Sort(over)
			b.ReportMetric(float64(over[len(over)/2].Microseconds()), "p50-past-deadline-us")
			b.ReportMetric(float64(over[len(over)-1].Microseconds()), "max-past-deadline-us")
		})
	}
}

// BenchmarkDeadlineOverheadInterleaved is the figure the 1.2x target is
// judged by: the same module with no deadline check and with the default
// checks, loaded side by side and called alternately, so both see the same
// machine load. It reports each p50 and their ratio.
func BenchmarkDeadlineOverheadInterleaved(b *testing.B) {
	for _, g := range []struct {
		name string
		spec func(testing.TB) Spec
	}{
		{"go", denyPrivilegedSpec},
		{"c", func(t testing.TB) Spec {
			return Spec{Name: "c-example", Path: plugintest.BuildC(t, "plugins/c-example/deny_host_network.c", "-O2")}
		}},
	} {
		b.Run(g.name, func(b *testing.B) {
			floor := benchChain(b, Options{noTimeouts: true}, g.spec(b))
			checked := benchChain(b, Options{}, g.spec(b))
			ctx := context.Background()
			call := func(c *Chain) time.Duration {
				start := time.Now()
				res, err := c.Validate(ctx, seedRequest)
				if err != nil || !res.Allowed {
					b.Fatalf("validate: %+v %v", res, err)
				}
				return time.Since(start)
			}
			for range 50 {
				call(floor)
				call(checked)
			}
			var floorTimes, checkedTimes []time.Duration
			b.ResetTimer()
			for i := range b.N {
				if i%2 == 0 {
					floorTimes = append(floorTimes, call(floor))
					checkedTimes = append(checkedTimes, call(checked))
				} else {
					checkedTimes = append(checkedTimes, call(checked))
					floorTimes = append(floorTimes, call(floor))
				}
			}
			b.StopTimer()
			slices.Sort(floorTimes)
			slices.Sort(checkedTimes)
			f, c := floorTimes[len(floorTimes)/2], checkedTimes[len(checkedTimes)/2]
			b.ReportMetric(float64(f.Nanoseconds())/1e3, "floor-p50-us")
			b.ReportMetric(float64(c.Nanoseconds())/1e3, "checked-p50-us")
			b.ReportMetric(float64(c)/float64(f), "ratio")
		})
	}
}
