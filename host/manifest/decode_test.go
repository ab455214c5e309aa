package manifest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

const seedYAML = `#static.yaml
apiVersion: v1
kind: Pod
metadata:
  name: myapp-pod
  labels:
    app: myapp
    type: front-end
spec:
  containers:
    - name: nginx-container
      image: nginx
`

func TestDecodeSeed(t *testing.T) {
	doc, err := Decode([]byte(seedYAML))
	if err != nil {
		t.Fatalf("Decode(seed) = %v", err)
	}
	if doc.Pod.Name != "myapp-pod" || doc.Pod.Labels["type"] != "front-end" || doc.Pod.Spec.Containers[0].Image != "nginx" {
		t.Fatalf("decoded pod = %+v", doc.Pod)
	}
	if len(doc.Warnings) != 0 {
		t.Fatalf("warnings = %v, want none", doc.Warnings)
	}
}

func TestCanonicalJSONIgnoresFormatting(t *testing.T) {
	asJSON := `{"spec":{"containers":[{"image":"nginx","name":"nginx-container"}]},"kind":"Pod","apiVersion":"v1",
	  "metadata":{"labels":{"type":"front-end","app":"myapp"},"name":"myapp-pod"}, "status": {"phase": "Running"}}`
	reordered := "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - image: nginx   # comment\n    name: nginx-container\nmetadata:\n  name: myapp-pod\n  labels: {type: front-end, app: myapp}\n"
	a, err := Decode([]byte(seedYAML))
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string]string{"json": asJSON, "reordered yaml": reordered} {
		b, err := Decode([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(a.CanonicalJSON, b.CanonicalJSON) {
			t.Errorf("%s: canonical form differs:\n%s\n%s", name, a.CanonicalJSON, b.CanonicalJSON)
		}
	}
}

func TestDecodeRefusals(t *testing.T) {
	aliasBomb := `a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
`
	cases := []struct {
		name    string
		in      string
		kind    error
		field   string
		message string
	}{
		{"empty", "", ErrEmpty, "", "no document"},
		{"only comments", "# nothing here\n---\n# still nothing\n", ErrEmpty, "", "no document"},
		{"null", "null\n", ErrEmpty, "", "empty"},
		{"binary", "\x7fELF\x02\x01\x01\x00\x00", ErrBinary, "", "NUL byte"},
		{"invalid utf8", "apiVersion: v1\nkind: \xff\xfe\n", ErrBinary, "", "UTF-8"},
		{"two yaml documents", seedYAML + "---\n" + seedYAML, ErrMultipleDocuments, "", "line 14"},
		{"two json objects", `{"kind":"Pod","apiVersion":"v1"} {"kind":"Pod"}`, ErrMultipleDocuments, "", "trailing data"},
		{"syntax", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n", ErrSyntax, "", "line"},
		{"bad json", `{"apiVersion": "v1", "kind": }`, ErrSyntax, "", "line 1"},
		{"kind deployment", "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n", ErrNotPod, "kind", "Deployment"},
		{"no kind", "apiVersion: v1\nmetadata: {name: x}\n", ErrNotPod, "kind", "required"},
		{"wrong apiVersion", "apiVersion: v2\nkind: Pod\n", ErrNotPod, "apiVersion", "v2"},
		{"scalar", "just a string\n", ErrNotPod, "", "not an object"},
		{"list", "- a\n- b\n", ErrNotPod, "", "not an object"},
		{"duplicate key", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n", ErrSyntax, "", "already set"},
		{"wrong type", "apiVersion: v1\nkind: Pod\nspec:\n  containers: 5\n", ErrSchema, "", "containers"},
		{"alias bomb", aliasBomb, ErrSyntax, "", "aliasing"},
		{"too large", strings.Repeat("#", MaxSize+1), ErrTooLarge, "", "limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := Decode([]byte(tc.in))
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %s; refusals must be fast", took)
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("Decode = %v, want kind %v", err, tc.kind)
			}
			var de *Error
			if !errors.As(err, &de) || de.Field != tc.field {
				t.Fatalf("error %v: field = %q, want %q", err, de.Field, tc.field)
			}
			if !strings.Contains(err.Error(), tc.message) {
				t.Errorf("error %q does not mention %q", err, tc.message)
			}
		})
	}
}

func TestUnknownFieldsAreWarnings(t *testing.T) {
	in := strings.Replace(seedYAML, "      image: nginx\n", "      image: nginx\n      imagePullPolicyy: Always\n", 1)
	doc, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(doc.Warnings) != 1 || !strings.Contains(doc.Warnings[0], "imagePullPolicyy") {
		t.Fatalf("warnings = %v, want one naming imagePullPolicyy", doc.Warnings)
	}
}

func TestDocumentMarkersAroundOneDocument(t *testing.T) {
	for _, in := range []string{"---\n" + seedYAML, seedYAML + "---\n", "---\n" + seedYAML + "...\n", "# header\n---\n" + seedYAML} {
		if _, err := Decode([]byte(in)); err != nil {
			t.Errorf("Decode(%q...) = %v, want success", in[:10], err)
		}
	}
}

func TestConsiderFile(t *testing.T) {
	cases := map[string]bool{
		"static.yaml": true, "pod.yml": true, "pod.JSON": true, "kube-apiserver": true, "etcd.YAML": true,
		".hidden.yaml": false, "static.yaml~": false, ".static.yaml.swp": false, "static.yaml.swp": false,
		"static.swx": false, "4913": false, "#static.yaml#": false, "kube-apiserver.yaml.bak": false,
		"static.yaml.orig": false, "static.yaml.dpkg-old": false, "static.yaml.dpkg-new": false,
		"static.yaml.rpmnew": false, "static.yaml.rpmsave": false, "notes.txt": false, "pod.yaml.tmp": false,
		"my.pod": false,
	}
	for name, want := range cases {
		got, why := ConsiderFile(name)
		if got != want {
			t.Errorf("ConsiderFile(%q) = %v (%s), want %v", name, got, why, want)
		}
		if !got && why == "" {
			t.Errorf("ConsiderFile(%q) gives no reason", name)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(seedYAML))
	f.Add([]byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"i"}]}}`))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("a: &a [1]\nb: *a\n"))
	f.Add([]byte("apiVersion: v1\nkind: Pod\nspec: {containers: [{name: a, ports: [{containerPort: 80}]}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Decode(data)
		if err != nil {
			var de *Error
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *manifest.Error", err)
			}
			return
		}
		if doc.Pod == nil || len(doc.CanonicalJSON) == 0 {
			t.Fatal("success without a pod or canonical form")
		}
		// The canonical form is a fixed point: decoding it gives itself.
		again, err := Decode(doc.CanonicalJSON)
		if err != nil {
			t.Fatalf("canonical form %s does not decode: %v", doc.CanonicalJSON, err)
		}
		if !bytes.Equal(again.CanonicalJSON, doc.CanonicalJSON) {
			t.Fatalf("canonical form not stable:\n%s\n%s", doc.CanonicalJSON, again.CanonicalJSON)
		}
	})
}

func BenchmarkDecodeSeed(b *testing.B) {
	data := []byte(seedYAML)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(data); err != nil {
			b.Fatal(err)
		}
	}
}
