package admission

import (
	"context"
	"strings"
	"testing"
)

// TestStartAfterThroughThePipeline checks that the annotation's errors
// reach the file's verdict (what `check` and the agent's status print) with
// the field path, and that the manifest name is kept for references.
func TestStartAfterThroughThePipeline(t *testing.T) {
	p := New(Options{NodeName: "node1"})
	withAfter := func(value string) string {
		return strings.Replace(seed, "  name: myapp-pod\n", "  name: myapp-pod\n  annotations:\n    staticlet.dev/start-after: \""+value+"\"\n", 1)
	}

	ok := p.Admit(context.Background(), file("/m/ok.yaml", withAfter("etcd, kube-system/kube-apiserver")), now)
	if ok.Verdict != Accepted || ok.ManifestName != "myapp-pod" || ok.Pod.Name != "myapp-pod-node1" {
		t.Fatalf("valid annotation: verdict %s, manifest name %q, reasons %v", ok.Verdict, ok.ManifestName, ok.Reasons)
	}

	bad := p.Admit(context.Background(), file("/m/bad.yaml", withAfter("myapp-pod,,Etcd")), now)
	if bad.Verdict != Rejected || bad.File != "/m/bad.yaml" || len(bad.Reasons) != 3 {
		t.Fatalf("bad annotation: %+v", bad)
	}
	for _, r := range bad.Reasons {
		if r.Field != "metadata.annotations[staticlet.dev/start-after]" {
			t.Errorf("reason %q: field %q", r.Message, r.Field)
		}
	}
	got := bad.Reasons[0].Message + "|" + bad.Reasons[1].Message + "|" + bad.Reasons[2].Message
	for _, want := range []string{"entry 2 is empty", `entry 3 "Etcd": invalid name`, "names the pod itself (default/myapp-pod)"} {
		if !strings.Contains(got, want) {
			t.Errorf("reasons %q lack %q", got, want)
		}
	}
}
