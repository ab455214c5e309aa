package front

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/staticlet/staticlet/host/pod"
)

// Served is the pod as the kubelet is given it: the agent's admitted pod with
// the name the manifest had, so that the kubelet's own naming (name, a dash,
// the lowercased node name) gives the agent's name again; a name a naming
// plugin chose without that suffix is served whole and gets the suffix from
// the kubelet. The UID is kept: the kubelet uses a served UID instead of
// hashing the bytes, so a pod keeps its UID across staticlet restarts and
// re-encodings. The annotations the kubelet sets itself (config.hash,
// config.source, config.seen, config.mirror), the node name, the status and
// server-set metadata are dropped. Served does no IO.
func Served(p *corev1.Pod, nodeName string) *corev1.Pod {
	s := p.DeepCopy()
	if suffix := "-" + strings.ToLower(nodeName); nodeName != "" && strings.HasSuffix(s.Name, suffix) && len(s.Name) > len(suffix) {
		s.Name = strings.TrimSuffix(s.Name, suffix)
	}
	for _, k := range []string{pod.AnnotationConfigHash, pod.AnnotationConfigSource, pod.AnnotationConfigSeen, pod.AnnotationConfigMirror} {
		delete(s.Annotations, k)
	}
	if len(s.Annotations) == 0 {
		s.Annotations = nil
	}
	s.Spec.NodeName = ""
	s.Status = corev1.PodStatus{}
	s.ResourceVersion = ""
	s.Generation = 0
	s.CreationTimestamp = metav1.Time{}
	s.ManagedFields = nil
	s.OwnerReferences = nil
	return s
}

// PodListJSON is the body served to the kubelet: a v1 PodList of the pods,
// ordered by namespace, name and UID. Equal sets give equal bytes (the kubelet
// re-parses only when the bytes change).
func PodListJSON(pods []*corev1.Pod) ([]byte, error) {
	items := make([]corev1.Pod, 0, len(pods))
	for _, p := range pods {
		items = append(items, *p)
	}
	sort.Slice(items, func(i, j int) bool {
		a, b := items[i], items[j]
		if a.Namespace != b.Namespace {
			return a.Namespace < b.Namespace
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		return a.UID < b.UID
	})
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "PodList"}, Items: items}
	body, err := json.Marshal(&list)
	if err != nil {
		return nil, fmt.Errorf("encode pod list: %d pods: %w", len(items), err)
	}
	return body, nil
}
