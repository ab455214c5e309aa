package plan

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func want(key, uid string) Desired {
	ns, name, _ := strings.Cut(key, "/")
	return Desired{Key: key, UID: types.UID(uid), Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid)}}}
}

func have(key, uid string, phase Phase) Observed {
	return Observed{Key: key, UID: types.UID(uid), Phase: phase, GracePeriod: 30 * time.Second}
}

func render(out Output) []string {
	var s []string
	for _, a := range out.Actions {
		s = append(s, fmt.Sprintf("%s %s@%s", a.Kind, a.Key, a.UID))
	}
	return s
}

func TestPlan(t *testing.T) {
	cases := []struct {
		name     string
		desired  []Desired
		observed []Observed
		orphans  bool
		want     []string
	}{
		{name: "nothing", want: nil},
		{name: "start new", desired: []Desired{want("d/a", "1")}, want: []string{"start d/a@1"}},
		{name: "running stays", desired: []Desired{want("d/a", "1")}, observed: []Observed{have("d/a", "1", Active)}, orphans: true, want: nil},
		{name: "starting stays", desired: []Desired{want("d/a", "1")}, observed: []Observed{have("d/a", "1", Starting)}, want: nil},
		{name: "replace stops old first", desired: []Desired{want("d/a", "2")}, observed: []Observed{have("d/a", "1", Active)}, want: []string{"stop d/a@1"}},
		{name: "replace waits for stop", desired: []Desired{want("d/a", "2")}, observed: []Observed{have("d/a", "1", Stopping)}, want: nil},
		{name: "replace waits for start in flight", desired: []Desired{want("d/a", "2")}, observed: []Observed{have("d/a", "1", Starting)}, want: nil},
		{name: "replacement is not an orphan stop", desired: []Desired{want("d/a", "2")}, observed: []Observed{have("d/a", "1", Active)}, orphans: false, want: []string{"stop d/a@1"}},
		{name: "orphan kept before complete listing", observed: []Observed{have("d/x", "9", Active)}, orphans: false, want: nil},
		{name: "orphan stopped after complete listing", observed: []Observed{have("d/x", "9", Active)}, orphans: true, want: []string{"stop d/x@9"}},
		{name: "orphan already stopping", observed: []Observed{have("d/x", "9", Stopping)}, orphans: true, want: nil},
		{name: "wanted again while stopping waits", desired: []Desired{want("d/a", "1")}, observed: []Observed{have("d/a", "1", Stopping)}, want: nil},
		{name: "dormant wanted starts", desired: []Desired{want("d/a", "1")}, observed: []Observed{have("d/a", "1", Dormant)}, want: []string{"start d/a@1"}},
		{name: "dormant kept before complete listing", observed: []Observed{have("d/x", "9", Dormant)}, orphans: false, want: nil},
		{name: "dormant orphan stopped after complete listing", observed: []Observed{have("d/x", "9", Dormant)}, orphans: true, want: []string{"stop d/x@9"}},
		{name: "dormant replaced is stopped", desired: []Desired{want("d/a", "2")}, observed: []Observed{have("d/a", "1", Dormant)}, want: []string{"stop d/a@1"}},
		{name: "stops before starts", desired: []Desired{want("d/b", "2")}, observed: []Observed{have("d/z", "9", Active)}, orphans: true,
			want: []string{"stop d/z@9", "start d/b@2"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := render(Plan(Input{Desired: tc.desired, Observed: tc.observed, AllowOrphanStops: tc.orphans, Now: now}))
			if strings.Join(got, ";") != strings.Join(tc.want, ";") {
				t.Fatalf("Plan = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRetryBackoff(t *testing.T) {
	failed := have("d/a", "1", StartFailed)
	failed.RetryAt = now.Add(5 * time.Second)
	in := Input{Desired: []Desired{want("d/a", "1")}, Observed: []Observed{failed}, Now: now}
	out := Plan(in)
	if len(out.Actions) != 0 || !out.NextRetry.Equal(failed.RetryAt) {
		t.Fatalf("before RetryAt: actions %v next %s", render(out), out.NextRetry)
	}
	in.Now = failed.RetryAt
	out = Plan(in)
	if got := render(out); len(got) != 1 || got[0] != "start d/a@1" {
		t.Fatalf("at RetryAt: %v", got)
	}

	stopFailed := have("d/x", "9", StopFailed)
	stopFailed.RetryAt = now.Add(time.Second)
	out = Plan(Input{Observed: []Observed{stopFailed}, AllowOrphanStops: true, Now: now})
	if len(out.Actions) != 0 || !out.NextRetry.Equal(stopFailed.RetryAt) {
		t.Fatalf("stop retry early: %v", render(out))
	}
	out = Plan(Input{Observed: []Observed{stopFailed}, AllowOrphanStops: true, Now: now.Add(time.Second)})
	if got := render(out); len(got) != 1 || got[0] != "stop d/x@9" {
		t.Fatalf("stop retry due: %v", got)
	}
}

func TestStopCarriesGracePeriod(t *testing.T) {
	o := have("d/a", "1", Active)
	o.GracePeriod = 7 * time.Second
	out := Plan(Input{Observed: []Observed{o}, AllowOrphanStops: true, Now: now})
	if len(out.Actions) != 1 || out.Actions[0].GracePeriod != 7*time.Second {
		t.Fatalf("actions %+v", out.Actions)
	}
}

// TestTranscriptEditLifecycle simulates the agent applying each plan until
// it settles, through a manifest's whole life: add, edit, delete.
func TestTranscriptEditLifecycle(t *testing.T) {
	observed := map[types.UID]Observed{}
	apply := func(desired []Desired) []string {
		log, _ := settle(t, desired, observed, now)
		return log
	}
	steps := []struct {
		desired []Desired
		want    string
	}{
		{[]Desired{want("default/myapp-pod-worker-1", "v1")}, "start default/myapp-pod-worker-1@v1"},
		{[]Desired{want("default/myapp-pod-worker-1", "v1")}, ""},
		{[]Desired{want("default/myapp-pod-worker-1", "v2")}, "stop default/myapp-pod-worker-1@v1;start default/myapp-pod-worker-1@v2"},
		{nil, "stop default/myapp-pod-worker-1@v2"},
	}
	for i, s := range steps {
		if got := strings.Join(apply(s.desired), ";"); got != s.want {
			t.Fatalf("step %d: %q, want %q", i, got, s.want)
		}
	}
}

// settle applies each plan as the agent would (starts succeed and leave the
// pod Active, stops complete) until nothing is left to do, and returns the
// actions taken and the last plan.
func settle(t *testing.T, desired []Desired, observed map[types.UID]Observed, now time.Time) ([]string, Output) {
	t.Helper()
	var log []string
	for range 10 {
		var obs []Observed
		for _, o := range observed {
			obs = append(obs, o)
		}
		out := Plan(Input{Desired: desired, Observed: obs, AllowOrphanStops: true, Now: now})
		if len(out.Actions) == 0 {
			return log, out
		}
		for _, a := range out.Actions {
			log = append(log, fmt.Sprintf("%s %s@%s", a.Kind, a.Key, a.UID))
			if a.Kind == Start {
				observed[a.UID] = have(a.Key, string(a.UID), Active)
			} else {
				delete(observed, a.UID)
			}
		}
	}
	t.Fatal("plan does not settle")
	return nil, Output{}
}
