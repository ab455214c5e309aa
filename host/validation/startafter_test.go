package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/staticlet/staticlet/host/pod"
)

func TestValidateStartAfter(t *testing.T) {
	const path = "metadata.annotations[staticlet.dev/start-after]"
	cases := []struct {
		value string
		// messages are the expected error bodies' distinctive parts, one per
		// error, in order; none means valid.
		messages []string
	}{
		{value: "etcd"},
		{value: "etcd, kube-system/kube-apiserver"},
		{value: " etcd ,\n  other.example-1 "},
		{value: "kube-system/api-kube-node1"}, // a manifest may be called that
		{value: "", messages: []string{"must name at least one static pod"}},
		{value: "  ", messages: []string{"must name at least one static pod"}},
		{value: "etcd,", messages: []string{"entry 2 is empty (a stray comma?)"}},
		{value: "etcd,,api", messages: []string{"entry 2 is empty"}},
		{value: "Etcd", messages: []string{`entry 1 "Etcd": invalid name: a lowercase RFC 1123 subdomain`}},
		{value: "a/b/c", messages: []string{`entry 1 "a/b/c": must be name or namespace/name`}},
		{value: "kube.system/etcd", messages: []string{`entry 1 "kube.system/etcd": invalid namespace: must not contain dots`}},
		{value: "/etcd", messages: []string{`entry 1 "/etcd": invalid namespace: `}},
		{value: "etcd, default/etcd", messages: []string{`entry 2 "default/etcd": names default/etcd again`}},
		{value: "web", messages: []string{"names the pod itself (default/web); a pod cannot wait for its own readiness"}},
		{value: "default/web, etcd,", messages: []string{"entry 3 is empty", "names the pod itself (default/web)"}},
	}
	for _, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-node1", Namespace: "default",
				Annotations: map[string]string{pod.AnnotationStartAfter: tc.value}}}
			errs := ValidateStartAfter(p, "web")
			if len(errs) != len(tc.messages) {
				t.Fatalf("got %d errors, want %d: %v", len(errs), len(tc.messages), errs.ToAggregate())
			}
			for i, e := range errs {
				if e.Field != path {
					t.Errorf("error %d field = %q, want %q", i, e.Field, path)
				}
				if !strings.Contains(e.ErrorBody(), tc.messages[i]) {
					t.Errorf("error %d = %q, want it to contain %q", i, e.ErrorBody(), tc.messages[i])
				}
			}
		})
	}
}

func TestValidateStartAfterAbsentOrNil(t *testing.T) {
	if errs := ValidateStartAfter(nil, "x"); errs != nil {
		t.Fatalf("nil pod: %v", errs)
	}
	if errs := ValidateStartAfter(baselinePod(), "x"); errs != nil {
		t.Fatalf("no annotation: %v", errs)
	}
	// The pod's own final name is not its manifest name: with a naming
	// plugin the two differ, and only the manifest name is a self reference.
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-node1", Namespace: "default",
		Annotations: map[string]string{pod.AnnotationStartAfter: "web-node1"}}}
	if errs := ValidateStartAfter(p, "web"); errs != nil {
		t.Fatalf("final name taken for a self reference: %v", errs)
	}
}
