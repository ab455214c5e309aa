package admission

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"sigs.k8s.io/yaml"

	"github.com/staticlet/staticlet/host/source"
)

var now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

const seed = `apiVersion: v1
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

// kubeAPIServer is shaped like kubeadm's kube-apiserver manifest: the
// typical heavy static pod.
const kubeAPIServer = `apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: 10.0.0.10:6443
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
    - --advertise-address=10.0.0.10
    - --allow-privileged=true
    - --authorization-mode=Node,RBAC
    - --client-ca-file=/etc/kubernetes/pki/ca.crt
    - --enable-admission-plugins=NodeRestriction
    - --etcd-servers=https://127.0.0.1:2379
    - --secure-port=6443
    - --service-cluster-ip-range=10.96.0.0/12
    - --tls-cert-file=/etc/kubernetes/pki/apiserver.crt
    - --tls-private-key-file=/etc/kubernetes/pki/apiserver.key
    image: registry.k8s.io/kube-apiserver:v1.37.2
    imagePullPolicy: IfNotPresent
    livenessProbe:
      failureThreshold: 8
      httpGet:
        host: 10.0.0.10
        path: /livez
        port: probe-port
        scheme: HTTPS
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 15
    name: kube-apiserver
    ports:
    - containerPort: 6443
      name: probe-port
      protocol: TCP
    readinessProbe:
      failureThreshold: 3
      httpGet:
        host: 10.0.0.10
        path: /readyz
        port: probe-port
        scheme: HTTPS
      periodSeconds: 1
      timeoutSeconds: 15
    resources:
      requests:
        cpu: 250m
    startupProbe:
      failureThreshold: 24
      httpGet:
        host: 10.0.0.10
        path: /livez
        port: probe-port
        scheme: HTTPS
      initialDelaySeconds: 10
      periodSeconds: 10
      timeoutSeconds: 15
    volumeMounts:
    - mountPath: /etc/ssl/certs
      name: ca-certs
      readOnly: true
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
  hostNetwork: true
  priority: 2000001000
  priorityClassName: system-node-critical
  securityContext:
    seccompProfile:
      type: RuntimeDefault
  volumes:
  - hostPath:
      path: /etc/ssl/certs
      type: DirectoryOrCreate
    name: ca-certs
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
`

func file(path, content string) source.File {
	return source.File{Source: source.NameFile, Path: path, Content: []byte(content), Digest: path + "-digest"}
}

func TestAdmitAccepted(t *testing.T) {
	p := New(Options{NodeName: "cp-1"})
	defaulted := "apiVersion: v1\nkind: Pod\nmetadata: {name: d}\nspec:\n  volumes: [{name: scratch}]\n  containers:\n  - {name: c, image: busybox, volumeMounts: [{name: scratch, mountPath: /scratch}], resources: {limits: {cpu: '1'}}}\n"
	for name, content := range map[string]string{"seed": seed, "kube-apiserver": kubeAPIServer, "needs defaults": defaulted} {
		r := p.Admit(context.Background(), file("/m/"+name+".yaml", content), now)
		if r.Verdict != Accepted || r.Pod == nil || len(r.Reasons) != 0 {
			t.Fatalf("%s: %+v", name, r)
		}
	}
}

func TestAdmitRejections(t *testing.T) {
	cases := map[string]struct {
		content string
		want    []string
	}{
		"syntax":         {"apiVersion: v1\nkind: Pod\nmetadata: {name: x\n", []string{"syntax error"}},
		"no name":        {"apiVersion: v1\nkind: Pod\nspec: {containers: [{name: c, image: i}]}\n", []string{"metadata.name: Required value"}},
		"not a pod":      {"apiVersion: apps/v1\nkind: Deployment\n", []string{"kind: not a v1 Pod"}},
		"several errors": {"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  serviceAccountName: sa\n  containers: [{name: c}]\n", []string{"spec.serviceAccountName", "spec.containers[0].image: Required value"}},
		"secret env":     {"apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers:\n  - name: c\n    image: i\n    env: [{name: P, valueFrom: {secretKeyRef: {name: s, key: k}}}]\n", []string{"spec.containers[0].env[0].valueFrom.secretKeyRef"}},
	}
	p := New(Options{NodeName: "n1"})
	for name, tc := range cases {
		r := p.Admit(context.Background(), file("/m/x.yaml", tc.content), now)
		if r.Verdict != Rejected || r.Pod != nil {
			t.Errorf("%s: verdict %s", name, r.Verdict)
			continue
		}
		var got []string
		for _, reason := range r.Reasons {
			got = append(got, reason.String())
		}
		for _, w := range tc.want {
			if !strings.Contains(strings.Join(got, "\n"), w) {
				t.Errorf("%s: reasons %q do not contain %q", name, got, w)
			}
		}
	}
}

// ttyRefuser is a runtime that cannot run a container with a terminal.
type ttyRefuser struct{ asked int }

func (c *ttyRefuser) Supports(p *corev1.Pod) field.ErrorList {
	c.asked++
	var errs field.ErrorList
	for i, ctr := range p.Spec.Containers {
		if ctr.TTY {
			errs = append(errs, field.Forbidden(field.NewPath("spec", "containers").Index(i).Child("tty"), "no terminal here"))
		}
	}
	return errs
}

// TestAdmitRuntimeCheck: what the runtime cannot run is a rejected manifest
// with the field named; what it can run is admitted as before.
func TestAdmitRuntimeCheck(t *testing.T) {
	check := &ttyRefuser{}
	p := New(Options{NodeName: "n1", Runtime: check})
	r := p.Admit(context.Background(), file("/m/tty.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec:\n  containers: [{name: c, image: i, tty: true}]\n"), now)
	if r.Verdict != Rejected || r.Pod != nil || len(r.Reasons) != 1 || r.Reasons[0].Field != "spec.containers[0].tty" || r.Reasons[0].Message != "Forbidden: no terminal here" {
		t.Errorf("tty: %+v", r)
	}
	if r := p.Admit(context.Background(), file("/m/seed.yaml", seed), now); r.Verdict != Accepted {
		t.Errorf("seed: %+v", r)
	}
	if check.asked != 2 {
		t.Errorf("the runtime was asked %d times, want 2", check.asked)
	}
}

func TestAdmitIgnoredAndReadErrors(t *testing.T) {
	p := New(Options{NodeName: "n1"})
	r := p.Admit(context.Background(), source.File{Source: "file", Path: "/m/x~", Ignored: "editor backup"}, now)
	if r.Verdict != Ignored || r.Reasons[0].Message != "editor backup" {
		t.Fatalf("%+v", r)
	}
}

func TestAdmitListingCaches(t *testing.T) {
	p := New(Options{NodeName: "n1"})
	l := source.Listing{Source: "file", Complete: true, Files: []source.File{file("/m/a.yaml", seed)}}
	first := p.AdmitListing(context.Background(), l, now)
	second := p.AdmitListing(context.Background(), l, now.Add(time.Hour))
	if !first[0].Seen.Equal(second[0].Seen) || first[0].Pod != second[0].Pod {
		t.Fatal("unchanged file was evaluated again")
	}
	l.Files[0].Digest = "new"
	third := p.AdmitListing(context.Background(), l, now.Add(time.Hour))
	if third[0].Pod == first[0].Pod {
		t.Fatal("changed digest served from cache")
	}
}

func BenchmarkAdmit(b *testing.B) {
	for _, m := range []struct{ name, content string }{{"seed", seed}, {"kube-apiserver", kubeAPIServer}} {
		data := []byte(m.content)
		b.Run(m.name+"/baseline-json-unmarshal", func(b *testing.B) {
			// The floor: decoding the same manifest's JSON straight into a Pod.
			doc, err := yaml.YAMLToJSON(data)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				var p corev1.Pod
				if err := json.Unmarshal(doc, &p); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(m.name+"/decode-default-validate", func(b *testing.B) {
			p := New(Options{NodeName: "n1"})
			f := file("/m/x.yaml", m.content)
			b.ReportAllocs()
			for b.Loop() {
				if r := p.Admit(context.Background(), f, now); r.Verdict != Accepted {
					b.Fatal(r.Reasons)
				}
			}
		})
	}
}

func listing(files ...source.File) source.Listing {
	return source.Listing{Source: source.NameFile, Complete: true, Files: files}
}
