package containerd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"regexp"
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

// containerID names one run of a container: readable (the container's name
// and restart count), tied to the pod UID, and a valid containerd
// identifier. The run nonce makes it unique per run even when the restart
// count repeats (a run removed behind the agent's back and started again,
// as the kubelet's static pod conformance test does): the API's
// containerID must name one run only. runc keys its state by namespace and
// ID alone, so the ID must not depend on the daemon.
func containerID(uid, container string, restartCount int32, nonce string) string {
	sum := sha256.Sum256([]byte(uid + "/" + container))
	return sanitizeID(container) + "-" + hex.EncodeToString(sum[:6]) + "-" + strconv.Itoa(int(restartCount)) + "-" + nonce
}

// newRunNonce is the random part of a new run's container ID.
func newRunNonce() string {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux; the clock is unique enough.
		return strconv.FormatInt(time.Now().UnixNano()&0xffffffff, 16)
	}
	return hex.EncodeToString(b[:])
}

// logFileName is a run's log file, {restartCount}.log, as the kubelet names it.
var logFileName = regexp.MustCompile(`^(\d+)\.log(\..*)?$`)

// restartCountFromLogs is the restart count of a container's next run when
// the runtime holds none of its runs: one more than the newest run whose log
// file is left, as the kubelet's calcRestartCountByLogDir reckons it; 0 when
// the folder is missing or empty.
func restartCountFromLogs(dir string) int32 {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	var next int32
	for _, e := range entries {
		m := logFileName.FindStringSubmatch(e.Name())
		if e.IsDir() || m == nil {
			continue
		}
		n, err := strconv.ParseInt(m[1], 10, 32)
		if err == nil && int32(n)+1 > next {
			next = int32(n) + 1
		}
	}
	return next
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
