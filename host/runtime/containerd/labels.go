package containerd

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Labels on every container staticlet creates. They are enough to adopt a
// container after an agent restart, even without the pod's record.
const (
	LabelPodUID        = "io.staticlet.pod.uid"
	LabelPodNamespace  = "io.staticlet.pod.namespace"
	LabelPodName       = "io.staticlet.pod.name"
	LabelPodHash       = "io.staticlet.pod.config-hash"
	LabelGracePeriod   = "io.staticlet.pod.grace-period-seconds"
	LabelContainerName = "io.staticlet.container.name"
	LabelRestartCount  = "io.staticlet.container.restart-count"
	// LabelCompleted is added to an init container's run once it exited 0:
	// a restarted agent then never runs that init container again.
	LabelCompleted      = "io.staticlet.container.completed"
	podUIDFilter        = `labels."` + LabelPodUID + `"`
	maxContainerNameLen = 30
)

// containerID names one run of a container: readable (the container's name),
// unique per pod UID and run, and a valid containerd identifier. runc keys
// its state by namespace and ID alone, so the ID must not depend on the
// daemon.
func containerID(uid, container string, restartCount int32) string {
	sum := sha256.Sum256([]byte(uid + "/" + container))
	return sanitizeID(container) + "-" + hex.EncodeToString(sum[:6]) + "-" + strconv.Itoa(int(restartCount))
}

// sanitizeID keeps letters and digits and single dashes, as containerd's
// identifiers require.
func sanitizeID(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		default:
			if !dash && b.Len() > 0 {
				b.WriteByte('-')
				dash = true
			}
		}
		if b.Len() >= maxContainerNameLen {
			break
		}
	}
	out := strings.TrimRight(b.String(), "-")
	if out == "" {
		return "c"
	}
	return out
}

func gracePeriodLabel(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }

func parseGracePeriod(s string) time.Duration {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 30 * time.Second
	}
	return time.Duration(n) * time.Second
}

func parseRestartCount(s string) int32 {
	n, err := strconv.ParseInt(s, 10, 32)
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}
