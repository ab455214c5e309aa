package mirror

import (
	"math/rand/v2"
	"sync"
	"time"
)

// jitteredBackoff is a per-item exponential back-off with jitter for the work queue: failed requests to an
// unreachable API server are retried soon at first, then at most every max, each delay spread by ±jitter so
// that many nodes coming back do not retry in step. The work queue calls it from several goroutines.
type jitteredBackoff struct {
	base, max time.Duration
	jitter    float64

	mu       sync.Mutex
	failures map[string]int
}

func newJitteredBackoff(base, max time.Duration, jitter float64) *jitteredBackoff {
	return &jitteredBackoff{base: base, max: max, jitter: jitter, failures: map[string]int{}}
}

func (b *jitteredBackoff) When(item string) time.Duration {
	b.mu.Lock()
	n := b.failures[item]
	b.failures[item] = n + 1
	b.mu.Unlock()
	d := b.max
	if n < 30 {
		d = min(b.base<<n, b.max)
	}
	spread := 1 + b.jitter*(2*rand.Float64()-1)
	return time.Duration(float64(d) * spread)
}

func (b *jitteredBackoff) Forget(item string) {
	b.mu.Lock()
	delete(b.failures, item)
	b.mu.Unlock()
}

func (b *jitteredBackoff) NumRequeues(item string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.failures[item]
}
