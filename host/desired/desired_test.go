package desired

import (
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/admission"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// ok is an accepted result of file providing pod name with version uid.
func ok(file, name, uid string) admission.Result {
	return admission.Result{Source: "file", File: file, Verdict: admission.Accepted,
		Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name, UID: types.UID(uid)}}}
}

func bad(file string) admission.Result {
	return admission.Result{Source: "file", File: file, Verdict: admission.Rejected, Reasons: []admission.Reason{{Message: "syntax error"}}}
}

// render prints a snapshot compactly: pods, then file verdicts.
func render(s Snapshot) string {
	var b strings.Builder
	for _, p := range s.Pods {
		fmt.Fprintf(&b, "pod %s@%s<-%s\n", p.Key, p.UID, p.File)
	}
	for _, f := range s.Files {
		fmt.Fprintf(&b, "file %s %s", f.File, f.Verdict)
		if f.Stale {
			b.WriteString(" stale")
		}
		if f.Removing {
			b.WriteString(" removing")
		}
		for _, r := range f.Reasons {
			fmt.Fprintf(&b, " [%s]", r.String())
		}
		b.WriteString("\n")
	}
	return b.String()
}

type step struct {
	at      time.Duration
	results []admission.Result
	want    []string // substrings, each must appear
	absent  []string // substrings that must not appear
	next    time.Duration
}

func runTranscript(t *testing.T, delay time.Duration, steps []step) {
	t.Helper()
	b := NewBuilder(delay)
	for i, s := range steps {
		snap := b.Build(s.results, t0.Add(s.at))
		got := render(snap)
		for _, w := range s.want {
			if !strings.Contains(got, w) {
				t.Errorf("step %d: want %q in:\n%s", i, w, got)
			}
		}
		for _, w := range s.absent {
			if strings.Contains(got, w) {
				t.Errorf("step %d: did not want %q in:\n%s", i, w, got)
			}
		}
		if s.next != 0 && !snap.NextChange.Equal(t0.Add(s.next)) {
			t.Errorf("step %d: NextChange = %s, want t0+%s", i, snap.NextChange, s.next)
		}
	}
}

func TestLastGoodWins(t *testing.T) {
	runTranscript(t, time.Second, []step{
		{results: []admission.Result{ok("a.yaml", "web-n1", "v1")}, want: []string{"pod default/web-n1@v1<-a.yaml", "file a.yaml accepted"}},
		// The file breaks: v1 stays desired, the error is on the file.
		{results: []admission.Result{bad("a.yaml")}, want: []string{"pod default/web-n1@v1<-a.yaml", "file a.yaml rejected stale [syntax error]", "keeping the last good version (uid v1)"}},
		// Fixed with new content: v2.
		{results: []admission.Result{ok("a.yaml", "web-n1", "v2")}, want: []string{"pod default/web-n1@v2"}, absent: []string{"@v1"}},
	})
}

func TestNewBrokenFileRunsNothing(t *testing.T) {
	runTranscript(t, time.Second, []step{
		{results: []admission.Result{bad("a.yaml")}, want: []string{"file a.yaml rejected [syntax error]"}, absent: []string{"pod ", "stale"}},
	})
}

func TestDuplicateNames(t *testing.T) {
	runTranscript(t, time.Second, []step{
		// First sight: ties broken by file name.
		{results: []admission.Result{ok("b.yaml", "web-n1", "vb"), ok("a.yaml", "web-n1", "va")},
			want: []string{"pod default/web-n1@va<-a.yaml", "file b.yaml rejected [metadata.name: Duplicate value: pod default/web-n1 is already defined by a.yaml]"}},
		// Stable on relist and when the owner changes content.
		{results: []admission.Result{ok("a.yaml", "web-n1", "va2"), ok("b.yaml", "web-n1", "vb")},
			want: []string{"pod default/web-n1@va2<-a.yaml", "file b.yaml rejected"}},
	})
}

func TestSeenFirstKeepsNameOverFileOrder(t *testing.T) {
	runTranscript(t, time.Second, []step{
		{results: []admission.Result{ok("z.yaml", "web-n1", "vz")}, want: []string{"pod default/web-n1@vz<-z.yaml"}},
		// a.yaml sorts first but came later: z keeps the name.
		{results: []admission.Result{ok("a.yaml", "web-n1", "va"), ok("z.yaml", "web-n1", "vz")},
			want: []string{"pod default/web-n1@vz<-z.yaml", "file a.yaml rejected [metadata.name: Duplicate value: pod default/web-n1 is already defined by z.yaml]"}},
	})
}

func TestDuplicateFallsBackToLastGood(t *testing.T) {
	runTranscript(t, time.Second, []step{
		{results: []admission.Result{ok("a.yaml", "one-n1", "v1"), ok("b.yaml", "two-n1", "v2")}, want: []string{"@v1", "@v2"}},
		// b renames its pod to a's name: b keeps running its last good pod.
		{results: []admission.Result{ok("a.yaml", "one-n1", "v1"), ok("b.yaml", "one-n1", "v3")},
			want: []string{"pod default/one-n1@v1<-a.yaml", "pod default/two-n1@v2<-b.yaml", "file b.yaml rejected stale"}, absent: []string{"@v3"}},
	})
}

func TestRenameKeepsPod(t *testing.T) {
	runTranscript(t, time.Second, []step{
		{results: []admission.Result{ok("a.yaml", "web-n1", "v1")}},
		{at: 10 * time.Millisecond, results: []admission.Result{ok("b.yaml", "web-n1", "v1")},
			want: []string{"pod default/web-n1@v1<-b.yaml", "file a.yaml accepted [file is gone; its pod default/web-n1 now comes from b.yaml]"}, absent: []string{"rejected"}},
		// Later relists: a.yaml is forgotten.
		{at: 20 * time.Millisecond, results: []admission.Result{ok("b.yaml", "web-n1", "v1")}, want: []string{"pod default/web-n1@v1<-b.yaml"}, absent: []string{"a.yaml"}},
	})
}

func TestRemovalDelay(t *testing.T) {
	runTranscript(t, time.Second, []step{
		{results: []admission.Result{ok("a.yaml", "web-n1", "v1")}},
		// vim renames a.yaml away before writing the new one: the pod stays.
		{at: 100 * time.Millisecond, results: nil, want: []string{"pod default/web-n1@v1", "removing"}, next: 1100 * time.Millisecond},
		{at: 120 * time.Millisecond, results: []admission.Result{ok("a.yaml", "web-n1", "v2")}, want: []string{"pod default/web-n1@v2"}, absent: []string{"removing"}},
		// Deleted for real: gone once the delay expires.
		{at: 200 * time.Millisecond, results: nil, want: []string{"pod default/web-n1@v2"}, next: 1200 * time.Millisecond},
		{at: 1199 * time.Millisecond, results: nil, want: []string{"pod default/web-n1@v2"}},
		{at: 1200 * time.Millisecond, results: nil, absent: []string{"pod ", "file "}},
	})
}

func TestDuplicateOwnerVanishingBriefly(t *testing.T) {
	runTranscript(t, time.Second, []step{
		{results: []admission.Result{ok("a.yaml", "web-n1", "va"), ok("b.yaml", "web-n1", "vb")}, want: []string{"@va"}},
		// a.yaml is mid-save; b must not grab the name during the delay.
		{at: 10 * time.Millisecond, results: []admission.Result{ok("b.yaml", "web-n1", "vb")}, want: []string{"pod default/web-n1@va<-a.yaml", "file b.yaml rejected"}},
		{at: 20 * time.Millisecond, results: []admission.Result{ok("a.yaml", "web-n1", "va"), ok("b.yaml", "web-n1", "vb")}, want: []string{"@va"}, absent: []string{"@vb"}},
		// a.yaml really deleted: after the delay b takes over.
		{at: 30 * time.Millisecond, results: []admission.Result{ok("b.yaml", "web-n1", "vb")}, want: []string{"@va"}},
		{at: 1030 * time.Millisecond, results: []admission.Result{ok("b.yaml", "web-n1", "vb")}, want: []string{"pod default/web-n1@vb<-b.yaml", "file b.yaml accepted"}},
	})
}

func TestIgnoredFilesAreListed(t *testing.T) {
	b := NewBuilder(0)
	snap := b.Build([]admission.Result{{Source: "file", File: "x.yaml~", Verdict: admission.Ignored, Reasons: []admission.Reason{{Message: "editor backup"}}}}, t0)
	if len(snap.Files) != 1 || snap.Files[0].Verdict != admission.Ignored || len(snap.Pods) != 0 {
		t.Fatalf("snapshot = %+v", snap)
	}
}

func BenchmarkBuild1000(b *testing.B) {
	results := make([]admission.Result, 1000)
	for i := range results {
		results[i] = ok(fmt.Sprintf("pod-%04d.yaml", i), fmt.Sprintf("pod-%04d-n1", i), fmt.Sprintf("uid-%d", i))
	}
	builder := NewBuilder(time.Second)
	b.ReportAllocs()
	for b.Loop() {
		builder.Build(results, t0)
	}
}

// withPort is an accepted result whose pod binds hostPort (0: none) on ip;
// hostNetwork makes the container port the host port.
func withPort(file, name, uid string, hostPort int32, ip string, hostNetwork bool) admission.Result {
	r := ok(file, name, uid)
	r.Pod.Spec.HostNetwork = hostNetwork
	port := corev1.ContainerPort{ContainerPort: 8080, HostPort: hostPort, HostIP: ip}
	r.Pod.Spec.Containers = []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{port}}}
	return r
}

func TestHostPortConflicts(t *testing.T) {
	runTranscript(t, time.Second, []step{
		// Two new files want 9000: file order decides; another address of a wildcard conflicts too.
		{results: []admission.Result{withPort("b.yaml", "b-n1", "vb", 9000, "10.0.0.1", false), withPort("a.yaml", "a-n1", "va", 9000, "", false)},
			want: []string{"pod default/a-n1@va<-a.yaml",
				"file b.yaml rejected [spec.containers[0].ports[0].hostPort: host port 10.0.0.1:9000/TCP is already used by pod default/a-n1 (a.yaml)]"},
			absent: []string{"pod default/b-n1"}},
		// A new file sorting first cannot take the port from a pod that runs.
		{results: []admission.Result{withPort("0.yaml", "z-n1", "vz", 9000, "", false), withPort("a.yaml", "a-n1", "va", 9000, "", false)},
			want: []string{"pod default/a-n1@va<-a.yaml", "file 0.yaml rejected [spec.containers[0].ports[0].hostPort: host port 0.0.0.0:9000/TCP is already used by pod default/a-n1 (a.yaml)]"}},
		// Different addresses, or UDP against TCP, do not conflict; the host network's container port does.
		{results: []admission.Result{withPort("a.yaml", "a-n1", "va", 9000, "10.0.0.1", false), withPort("b.yaml", "b-n1", "vb", 9000, "10.0.0.2", false),
			withPort("c.yaml", "c-n1", "vc", 0, "", true), withPort("d.yaml", "d-n1", "vd", 8080, "", false)},
			want: []string{"pod default/a-n1@va", "pod default/b-n1@vb", "pod default/c-n1@vc",
				"file d.yaml rejected [spec.containers[0].ports[0].hostPort: host port 0.0.0.0:8080/TCP is already used by pod default/c-n1 (c.yaml)]"}},
		// An edit of a running pod that takes a used port keeps the running version.
		{results: []admission.Result{withPort("a.yaml", "a-n1", "va", 9000, "10.0.0.1", false), withPort("b.yaml", "b-n1", "vb2", 9000, "10.0.0.1", false),
			withPort("c.yaml", "c-n1", "vc", 0, "", true)},
			want:   []string{"pod default/b-n1@vb<-b.yaml", "file b.yaml rejected stale [spec.containers[0].ports[0].hostPort: host port 10.0.0.1:9000/TCP is already used by pod default/a-n1 (a.yaml)]"},
			absent: []string{"@vb2"}},
	})
}

// named is an accepted result whose pod on node worker-1 is called name,
// from a manifest whose metadata.name is manifestName: a naming plugin
// named it unless name is manifestName-worker-1.
func named(file, manifestName, name, uid string) admission.Result {
	r := ok(file, name, uid)
	r.Pod.Namespace, r.Pod.Spec.NodeName, r.ManifestName = "kube-system", "worker-1", manifestName
	return r
}

// TestNamingPluginCannotTakeAnotherFilesPodName: a plugin that names a pod
// kube-system/etcd-worker-1 does not win the duplicate rule against the
// etcd manifest, even when its pod held the name first.
func TestNamingPluginCannotTakeAnotherFilesPodName(t *testing.T) {
	thief := named("/m/a-thief.yaml", "thief", "etcd-worker-1", "t1")
	etcd := named("/m/etcd.yaml", "etcd", "etcd-worker-1", "e1")
	if !namedByPlugin(thief) || namedByPlugin(etcd) {
		t.Fatalf("namedByPlugin: thief %v, etcd %v", namedByPlugin(thief), namedByPlugin(etcd))
	}
	runTranscript(t, 0, []step{
		{results: []admission.Result{thief}, want: []string{"pod kube-system/etcd-worker-1@t1<-/m/a-thief.yaml"}},
		{at: time.Second, results: []admission.Result{thief, etcd}, want: []string{
			"pod kube-system/etcd-worker-1@e1<-/m/etcd.yaml",
			"file /m/etcd.yaml accepted",
			"file /m/a-thief.yaml rejected [metadata.name: Duplicate value: a naming plugin named this pod kube-system/etcd-worker-1, the name the pod of /m/etcd.yaml has by the <name>-<node> rule]",
		}, absent: []string{"@t1"}},
	})
	// Between two plugin-named pods the usual rule holds: the owner keeps it.
	other := named("/m/b-other.yaml", "other", "etcd-worker-1", "o1")
	runTranscript(t, 0, []step{
		{results: []admission.Result{other}, want: []string{"@o1<-/m/b-other.yaml"}},
		{at: time.Second, results: []admission.Result{thief, other}, want: []string{"@o1<-/m/b-other.yaml", "file /m/a-thief.yaml rejected [metadata.name: Duplicate value: pod kube-system/etcd-worker-1 is already defined by /m/b-other.yaml]"}},
	})
}
