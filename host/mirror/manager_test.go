package mirror

import (
	"testing"
	"time"
)

func TestJitteredBackoff(t *testing.T) {
	b := newJitteredBackoff(100*time.Millisecond, 3*time.Second, 0.5)
	var last time.Duration
	for i := range 10 {
		d := b.When("k")
		nominal := min(100*time.Millisecond<<i, 3*time.Second)
		if d < nominal/2 || d > nominal*3/2 {
			t.Errorf("attempt %d: delay %s outside %s±50%%", i, d, nominal)
		}
		last = d
	}
	if last > 4500*time.Millisecond || b.NumRequeues("k") != 10 {
		t.Errorf("cap not applied: %s, requeues %d", last, b.NumRequeues("k"))
	}
	b.Forget("k")
	if b.NumRequeues("k") != 0 {
		t.Error("Forget kept the failures")
	}
}

func TestLatestKeepsOnlyTheNewest(t *testing.T) {
	var l latest
	if _, ok := l.take(); ok {
		t.Fatal("empty slot gave a state")
	}
	for i := range 100 {
		l.put(State{Synced: i%2 == 1, Rejected: make([]Rejection, i)})
	}
	s, ok := l.take()
	if !ok || len(s.Rejected) != 99 {
		t.Fatalf("took %d rejections, want the newest (99)", len(s.Rejected))
	}
	if _, ok := l.take(); ok {
		t.Error("a taken state was given twice")
	}
}
