package mirror

// This file records Events: mirror pod lifecycle, rejected manifests, Node warnings.

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/staticlet/staticlet/host/mirror/mirrorpod"
)

// nodeWarningBacklog bounds the Node warnings waiting for Run; more are
// dropped (and logged): they report conditions the agent also logs.
const nodeWarningBacklog = 16

type nodeWarning struct{ reason, message string }

// WarnNode records a Warning Event on the Node (e.g. PluginQuarantined).
// It never blocks and may be called from any goroutine.
func (m *Manager) WarnNode(reason, message string) {
	select {
	case m.warnings <- nodeWarning{reason: reason, message: message}:
	default:
		m.log.Warn("node event dropped: too many pending", "reason", reason, "message", message)
	}
}

func (m *Manager) record(obj *corev1.Pod, evs []mirrorpod.Event) {
	for _, e := range evs {
		m.recorder.Event(obj, e.Type, e.Reason, e.Message)
		m.events.Add(1)
	}
}

func (m *Manager) nodeRef() *corev1.ObjectReference {
	// The kubelet refers to its node by name, with the name as UID.
	return &corev1.ObjectReference{Kind: "Node", Name: m.cfg.NodeName, UID: types.UID(m.cfg.NodeName)}
}

// reportRejections records a Warning Event for each newly rejected manifest (or one whose reasons
// changed): on the mirror pod of the last good version when one still runs, else on the Node.
func (m *Manager) reportRejections(rejected []Rejection) {
	now := map[string]string{}
	for _, r := range rejected {
		id := r.Source + "\x00" + r.File
		msg := fmt.Sprintf("manifest %s rejected: %s", r.File, strings.Join(r.Reasons, "; "))
		now[id] = msg
		if m.rejected[id] == msg {
			continue
		}
		var ref runtime.Object = m.nodeRef()
		if r.PodKey != "" {
			mp := m.pods.pod(r.PodKey)
			if mp != nil {
				delete(m.created, r.PodKey)
			} else {
				mp = m.created[r.PodKey]
			}
			if mp != nil && mirrorpod.IsOurs(mp) {
				ref = mp
				msg += "; the last good version keeps running"
			}
		}
		m.log.Info("mirror pods: reporting rejected manifest", "file", r.File)
		m.recorder.Event(ref, corev1.EventTypeWarning, "ManifestRejected", msg)
		m.events.Add(1)
	}
	m.rejected = now
}
