package pod

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Annotations the kubelet puts on static pods; mirror pods and tools such as
// kubectl rely on them.
const (
	AnnotationConfigHash   = "kubernetes.io/config.hash"
	AnnotationConfigSource = "kubernetes.io/config.source"
	AnnotationConfigSeen   = "kubernetes.io/config.seen"
	AnnotationConfigMirror = "kubernetes.io/config.mirror"
)

// Source names, as the kubelet writes them into config.source.
const (
	SourceFile = "file"
	SourceHTTP = "http"
)

// uidSchemeV1 prefixes the UID hash input. Changing how the UID is computed
// requires a new scheme name, and a migration note: a new UID restarts pods.
const uidSchemeV1 = "staticlet.dev/pod-uid/v1"

// StaticName is the kubelet's naming rule: the manifest's name, a dash and
// the lowercased node name.
func StaticName(manifestName, nodeName string) string {
	return manifestName + "-" + strings.ToLower(nodeName)
}

// StaticOptions say where a manifest came from and what it is called.
type StaticOptions struct {
	NodeName string
	// Source is SourceFile or SourceHTTP.
	Source string
	// Seen is when the agent first saw this content; it only feeds the
	// config.seen annotation and never the UID.
	Seen time.Time
	// Name replaces the default StaticName rule when non-empty (set by a
	// naming plugin).
	Name string
}

// MakeStatic returns the static pod for a decoded manifest: a deep copy of
// manifest with the kubelet's static-pod defaulting and the API defaults
// applied. canonicalJSON is the manifest's canonical form (see package
// manifest); it and the final name, namespace and node make the UID.
func MakeStatic(manifest *corev1.Pod, canonicalJSON []byte, opts StaticOptions) (*corev1.Pod, error) {
	p := manifest.DeepCopy()
	p.Status = corev1.PodStatus{}
	if p.Namespace == "" {
		p.Namespace = metav1.NamespaceDefault
	}
	if opts.Name != "" {
		p.Name = opts.Name
	} else {
		p.Name = StaticName(p.Name, opts.NodeName)
	}
	uid, err := ComputeUID(canonicalJSON, p.Namespace, p.Name, opts.NodeName)
	if err != nil {
		return nil, err
	}
	p.UID = uid
	p.Spec.NodeName = strings.ToLower(opts.NodeName)
	if p.Annotations == nil {
		p.Annotations = map[string]string{}
	}
	p.Annotations[AnnotationConfigHash] = string(uid)
	p.Annotations[AnnotationConfigSource] = opts.Source
	p.Annotations[AnnotationConfigSeen] = opts.Seen.UTC().Format(time.RFC3339Nano)
	delete(p.Annotations, AnnotationConfigMirror)
	addStaticToleration(&p.Spec)
	SetDefaults(p)
	return p, nil
}

// addStaticToleration gives the pod the toleration the kubelet's file source
// adds, so a NoExecute taint on the node does not evict it.
func addStaticToleration(spec *corev1.PodSpec) {
	for _, t := range spec.Tolerations {
		if t.Key == "" && t.Operator == corev1.TolerationOpExists && t.Effect == corev1.TaintEffectNoExecute {
			return
		}
	}
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute})
}

// ComputeUID hashes a manifest's canonical JSON together with the final
// namespace, name and node. The manifest's own metadata.name and namespace
// are taken out of the hashed JSON so that `namespace: default` written or
// omitted gives the same UID; the file path is not part of it, so renaming a
// file keeps the pod. The result is 32 lowercase hex digits (128 bits of
// SHA-256), the shape of the kubelet's UIDs.
func ComputeUID(canonicalJSON []byte, namespace, name, nodeName string) (types.UID, error) {
	body, err := withoutIdentity(canonicalJSON)
	if err != nil {
		return "", fmt.Errorf("compute pod uid: %w", err)
	}
	h := sha256.New()
	for _, part := range []string{uidSchemeV1, strings.ToLower(nodeName), namespace, name} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	h.Write(body)
	sum := h.Sum(nil)
	return types.UID(hex.EncodeToString(sum[:16])), nil
}

// withoutIdentity drops metadata.name, metadata.namespace and the
// kubelet-owned config annotations from a canonical manifest and re-encodes
// it canonically.
func withoutIdentity(canonicalJSON []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(canonicalJSON))
	dec.UseNumber()
	var obj map[string]interface{}
	if err := dec.Decode(&obj); err != nil {
		return nil, err
	}
	if meta, ok := obj["metadata"].(map[string]interface{}); ok {
		delete(meta, "name")
		delete(meta, "namespace")
		delete(meta, "uid")
		if ann, ok := meta["annotations"].(map[string]interface{}); ok {
			for _, k := range []string{AnnotationConfigHash, AnnotationConfigSource, AnnotationConfigSeen, AnnotationConfigMirror} {
				delete(ann, k)
			}
			if len(ann) == 0 {
				delete(meta, "annotations")
			}
		}
	}
	return json.Marshal(obj)
}
