package containerd_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/staticlet/staticlet/host/statusapi"
)

// TestAgentKeepsPodOnRefusedEdit: a running pod's manifest edited to
// something the runtime cannot run (tty) is a rejected manifest naming the
// field, and the last good version keeps running: same UID, same
// container, no restart.
func TestAgentKeepsPodOnRefusedEdit(t *testing.T) {
	e, rig := e2eSetup(t)
	good := manifest("web", e.image, longRunning, "Always", 1)
	writeManifest(t, rig.dir, "web.yaml", good)
	v1 := waitPodRunning(t, rig, "web-node1")
	id := containerIDOf(t, rig, "web-node1")

	var doc map[string]any
	if err := json.Unmarshal(good, &doc); err != nil {
		t.Fatal(err)
	}
	doc["spec"].(map[string]any)["containers"].([]any)[0].(map[string]any)["tty"] = true
	edited, _ := json.Marshal(doc)
	writeManifest(t, rig.dir, "web.yaml", edited)
	st := waitStatus(t, 30*time.Second, rig.status, func(st statusapi.Status) bool {
		return len(st.Files) == 1 && st.Files[0].Verdict == "rejected"
	})
	reasons := strings.Join(st.Files[0].Reasons, "\n")
	if !strings.Contains(reasons, "spec.containers[0].tty") {
		t.Errorf("the rejection does not name the field: %q", reasons)
	}
	p, n := findPod(st, "web-node1")
	if n != 1 || !podRunning(p) || p.UID != v1.UID || p.Restarts != 0 {
		t.Errorf("after the refused edit: %+v, want the first version running", p)
	}
	if got := containerIDOf(t, rig, "web-node1"); got != id {
		t.Errorf("container %s, was %s: the pod was restarted", got, id)
	}
}
