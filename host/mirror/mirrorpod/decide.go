package mirrorpod

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/pod"
)

// Action is what the manager does about one pod name on this node.
type Action int

const (
	// Nothing: no mirror is wanted and none is there, or the pod is not a mirror pod of ours to touch.
	Nothing Action = iota
	// Create the missing mirror pod.
	Create
	// Recreate a terminating or stale mirror pod: delete it with grace period 0 and a UID precondition, then
	// create it again.
	Recreate
	// Delete a mirror pod that no static pod owns, with grace period 0 and a UID precondition.
	Delete
	// SyncStatus: the mirror pod is current; patch its status when it differs.
	SyncStatus
	// Conflict: a pod that is not a mirror pod holds the static pod's name; it is reported, never touched.
	Conflict
	// SyncTerminating: the mirror pod's static pod was removed or replaced but its containers are still
	// stopping; the mirror stays, showing that pod's status, until they are gone.
	SyncTerminating
	// Wait: a new version of the static pod waits for the old one to terminate; its mirror is created then.
	Wait
)

func (a Action) String() string {
	switch a {
	case Nothing:
		return "nothing"
	case Create:
		return "create"
	case Recreate:
		return "recreate"
	case Delete:
		return "delete"
	case SyncStatus:
		return "sync-status"
	case Conflict:
		return "conflict"
	case SyncTerminating:
		return "sync-terminating"
	case Wait:
		return "wait"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Decision is an Action with the reason for it, for logs and events.
type Decision struct {
	Action Action
	Reason string
}

// AnnotationCreatedBy marks the mirror pods staticlet creates, next to the kubelet's config.mirror: staticlet
// deletes, patches and recreates only pods carrying it, so a kubelet's mirror pods on the same node are
// never touched.
const AnnotationCreatedBy = "staticlet.dev/mirror"

// IsOurs reports whether p is a mirror pod staticlet created: config.mirror and AnnotationCreatedBy "true".
func IsOurs(p *corev1.Pod) bool {
	return IsMirror(p) && p.Annotations[AnnotationCreatedBy] == "true"
}

// IsMirror reports whether p is a mirror pod: the kubelet's test, the config.mirror annotation.
func IsMirror(p *corev1.Pod) bool {
	if p == nil {
		return false
	}
	_, ok := p.Annotations[pod.AnnotationConfigMirror]
	return ok
}

// Hash is the static pod's config hash (its UID), which its mirror carries in config.mirror.
func Hash(static *corev1.Pod) string {
	if h, ok := static.Annotations[pod.AnnotationConfigHash]; ok && h != "" {
		return h
	}
	return string(static.UID)
}

// Decide compares the static pod that should be mirrored (nil when none) with the pod the API server holds
// under that name on this node (nil when none). orphansAllowed is false until the agent has listed every
// source: before that a mirror without a static pod may still get one. terminating is the config hash of a
// version of this pod that no manifest wants any more but whose containers are still stopping ("" when
// none): as the kubelet does, its mirror stays (same UID, that pod's status) until the containers are
// gone, and only then is it deleted or replaced by the new version's mirror.
func Decide(static, actual *corev1.Pod, nodeName string, nodeUID types.UID, orphansAllowed bool, terminating string) Decision {
	mirrorsTerminating := terminating != "" && IsOurs(actual) && actual.DeletionTimestamp == nil &&
		actual.Annotations[pod.AnnotationConfigMirror] == terminating && ownedByNode(actual, nodeName, nodeUID)
	switch {
	case mirrorsTerminating:
		return Decision{Action: SyncTerminating, Reason: "the pod it mirrors is terminating; the mirror stays until its containers are gone"}
	case static != nil && actual == nil && terminating != "":
		return Decision{Action: Wait, Reason: "the previous version is terminating; the new mirror comes once it is gone"}
	case static != nil && terminating != "" && IsOurs(actual) && actual.Annotations[pod.AnnotationConfigMirror] != Hash(static):
		return Decision{Action: Delete, Reason: "mirror of neither the terminating version nor the new one; the new mirror comes once the old version is gone"}
	case static == nil && actual == nil:
		return Decision{Action: Nothing}
	case static == nil && !IsMirror(actual):
		return Decision{Action: Nothing, Reason: "not a mirror pod"}
	case static == nil && !IsOurs(actual):
		return Decision{Action: Nothing, Reason: "a mirror pod staticlet did not create (another agent's)"}
	case static == nil && !orphansAllowed:
		return Decision{Action: Nothing, Reason: "no static pod owns it yet; waiting for every source to list"}
	case static == nil:
		return Decision{Action: Delete, Reason: "no static pod owns this mirror pod"}
	case actual == nil:
		return Decision{Action: Create, Reason: "mirror pod is missing"}
	case !IsMirror(actual):
		return Decision{Action: Conflict, Reason: fmt.Sprintf("pod %s/%s exists and is not a mirror pod", actual.Namespace, actual.Name)}
	case !IsOurs(actual):
		return Decision{Action: Conflict, Reason: fmt.Sprintf("pod %s/%s is a mirror pod staticlet did not create (another agent's, or an earlier staticlet's without %s)", actual.Namespace, actual.Name, AnnotationCreatedBy)}
	case actual.DeletionTimestamp != nil:
		return Decision{Action: Recreate, Reason: "mirror pod is being deleted"}
	}
	if got, want := actual.Annotations[pod.AnnotationConfigMirror], Hash(static); got != want {
		if !orphansAllowed {
			// A restarted agent does not know yet whether the version this mirror shows still runs
			// (edited while the agent was down): once it does, that version is terminating or gone.
			return Decision{Action: Nothing, Reason: fmt.Sprintf("mirror pod has hash %q, the static pod %q; waiting for the agent to know what runs", got, want)}
		}
		return Decision{Action: Recreate, Reason: fmt.Sprintf("mirror pod has hash %q, the static pod %q", got, want)}
	}
	if !ownedByNode(actual, nodeName, nodeUID) {
		return Decision{Action: Recreate, Reason: fmt.Sprintf("mirror pod is not owned by node %s (uid %s)", nodeName, nodeUID)}
	}
	return Decision{Action: SyncStatus}
}

func ownedByNode(p *corev1.Pod, nodeName string, nodeUID types.UID) bool {
	if len(p.OwnerReferences) != 1 {
		return false
	}
	o := p.OwnerReferences[0]
	return o.APIVersion == "v1" && o.Kind == "Node" && o.Name == nodeName && o.UID == nodeUID && o.Controller != nil && *o.Controller
}

// NodeOwnerReference is the one owner reference NodeRestriction accepts on a mirror pod.
func NodeOwnerReference(nodeName string, nodeUID types.UID) metav1.OwnerReference {
	controller := true
	return metav1.OwnerReference{APIVersion: "v1", Kind: "Node", Name: nodeName, UID: nodeUID, Controller: &controller}
}

// BuildMirror is the mirror pod of a static pod, as the kubelet makes it: a copy with the config.mirror
// annotation set to the config hash (and AnnotationCreatedBy, staticlet's mark), bound to the node, with exactly one owner reference (the Node, with
// its real UID, controller: true). The API server assigns the mirror its own UID.
func BuildMirror(static *corev1.Pod, nodeName string, nodeUID types.UID) *corev1.Pod {
	m := static.DeepCopy()
	m.UID = ""
	m.ResourceVersion = ""
	m.Generation = 0
	m.CreationTimestamp = metav1.Time{}
	m.ManagedFields = nil
	m.Status = corev1.PodStatus{}
	m.Annotations = make(map[string]string, len(static.Annotations)+2)
	for k, v := range static.Annotations {
		m.Annotations[k] = v
	}
	m.Annotations[pod.AnnotationConfigMirror] = Hash(static)
	m.Annotations[AnnotationCreatedBy] = "true"
	m.Spec.NodeName = nodeName
	m.OwnerReferences = []metav1.OwnerReference{NodeOwnerReference(nodeName, nodeUID)}
	return m
}

// Key is a pod's namespace/name.
func Key(p *corev1.Pod) string { return p.Namespace + "/" + p.Name }
