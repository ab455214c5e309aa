package kubeletapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/staticlet/staticlet/host/podlogs"
)

// logRequest is a /containerLogs query as the kubelet reads it (v1 PodLogOptions).
type logRequest struct {
	follow, previous, timestamps bool
	tailLines, limitBytes        *int64
	sinceSeconds                 *int64
	sinceTime                    *time.Time
}

// errBadLogQuery and errInvalidLogQuery are the kubelet's two refusals of a log query: a value that
// does not parse (400) and one that parses but is not allowed (422).
var (
	errBadLogQuery     = errors.New("bad log query")
	errInvalidLogQuery = errors.New("invalid log query")
)

// parseLogQuery reads the query as the kubelet's parameter codec and validation do: booleans are true
// unless absent, "false" or "0"; the legacy `tail` is tailLines ("all": no limit); numbers are
// int64; sinceTime is RFC3339. Unlike the kubelet, whose messages say only "Unable to decode query."
// or "Invalid request.", the errors name the parameter.
func parseLogQuery(q url.Values) (logRequest, error) {
	if tail := q.Get("tail"); tail != "" {
		q = cloneValues(q)
		q.Set("tailLines", tail)
		if tail == "all" {
			q.Del("tailLines")
		}
	}
	var req logRequest
	req.follow, req.previous, req.timestamps = queryBool(q, "follow"), queryBool(q, "previous"), queryBool(q, "timestamps")
	var errs []error
	for _, p := range []struct {
		name string
		dst  **int64
	}{{"tailLines", &req.tailLines}, {"limitBytes", &req.limitBytes}, {"sinceSeconds", &req.sinceSeconds}} {
		values, ok := q[p.name]
		if !ok || len(values) == 0 {
			continue
		}
		n, err := strconv.ParseInt(values[0], 10, 64)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %q is not an integer", errBadLogQuery, p.name, values[0]))
			continue
		}
		*p.dst = &n
	}
	if values := q["sinceTime"]; len(values) > 0 && values[0] != "" {
		t, err := time.Parse(time.RFC3339, values[0])
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: sinceTime: %q is not an RFC3339 time", errBadLogQuery, values[0]))
		} else {
			req.sinceTime = &t
		}
	}
	if len(errs) > 0 {
		return logRequest{}, errors.Join(errs...)
	}
	invalid := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", errInvalidLogQuery, fmt.Sprintf(format, args...)))
	}
	if req.tailLines != nil && *req.tailLines < 0 {
		invalid("tailLines: %d: must be greater than or equal to 0", *req.tailLines)
	}
	if req.limitBytes != nil && *req.limitBytes < 1 {
		invalid("limitBytes: %d: must be greater than 0", *req.limitBytes)
	}
	switch {
	case req.sinceSeconds != nil && req.sinceTime != nil:
		invalid("sinceSeconds, sinceTime: at most one of `sinceTime` or `sinceSeconds` may be specified")
	case req.sinceSeconds != nil && *req.sinceSeconds < 1:
		invalid("sinceSeconds: %d: must be greater than 0", *req.sinceSeconds)
	}
	// The kubelet's PodLogsQuerySplitStreams is alpha and off: a stream may not be chosen.
	if stream := q.Get("stream"); stream != "" && stream != string(corev1.LogStreamAll) {
		invalid("stream: %q: may not be specified (the kubelet's PodLogsQuerySplitStreams is off)", stream)
	}
	return req, errors.Join(errs...)
}

func queryBool(q url.Values, name string) bool {
	values, ok := q[name]
	if !ok || len(values) == 0 {
		return false
	}
	return values[0] != "0" && !strings.EqualFold(values[0], "false")
}

func cloneValues(q url.Values) url.Values {
	out := make(url.Values, len(q))
	for k, v := range q {
		out[k] = append([]string(nil), v...)
	}
	return out
}

// logTarget is the log file a request reads and whether its writer may still append to it.
type logTarget struct {
	path string
	// containerID is the run writing path, empty when that run is over (previous).
	containerID string
}

// containerLogTarget picks the file of the container's current run (restartCount) or, for previous,
// of the run before it, with the kubelet's refusals (validateContainerLogStatus).
func containerLogTarget(logDir string, pod *corev1.Pod, st corev1.ContainerStatus, previous bool) (logTarget, error) {
	path := func(restartCount int32) string {
		return podlogs.ContainerLogPath(logDir, pod.Namespace, pod.Name, string(pod.UID), st.Name, restartCount)
	}
	last := st.LastTerminationState.Terminated
	switch {
	case previous:
		if st.RestartCount < 1 {
			return logTarget{}, fmt.Errorf("previous terminated container %q in pod %q not found", st.Name, pod.Name)
		}
		return logTarget{path: path(st.RestartCount - 1)}, nil
	case st.State.Running != nil:
		return logTarget{path: path(st.RestartCount), containerID: st.ContainerID}, nil
	case st.State.Terminated != nil, last != nil:
		return logTarget{path: path(st.RestartCount)}, nil
	case st.State.Waiting != nil:
		return logTarget{}, fmt.Errorf("container %q in pod %q is waiting to start: %v", st.Name, pod.Name, st.State.Waiting.Reason)
	default:
		return logTarget{}, fmt.Errorf("container %q in pod %q is waiting to start - no logs yet", st.Name, pod.Name)
	}
}

// stillWriting reports whether the pod's container still runs as containerID, so a follower stops at
// the end of the file once that run is over.
func (s *Server) stillWriting(pod *corev1.Pod, container, containerID string) func() bool {
	return func() bool {
		if containerID == "" {
			return false
		}
		now := s.findPod(pod.Namespace, pod.Name)
		if now == nil || now.UID != pod.UID {
			return false
		}
		st, ok := runningContainer(now, container)
		return ok && st.ContainerID == containerID
	}
}

// getContainerLogs serves /containerLogs/{namespace}/{pod}/{container} from the CRI log files.
func (s *Server) getContainerLogs(w http.ResponseWriter, r *http.Request) {
	query, err := parseLogQuery(r.URL.Query())
	switch {
	case errors.Is(err, errBadLogQuery):
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	case err != nil:
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	podName, container := r.PathValue("pod"), r.PathValue("container")
	pod := s.findPod(r.PathValue("namespace"), podName)
	if pod == nil {
		http.Error(w, fmt.Sprintf("pod %q does not exist", podName), http.StatusNotFound)
		return
	}
	st, ok := containerStatus(pod, container)
	if !ok {
		http.Error(w, fmt.Sprintf("container %q not found in pod %q", container, podName), http.StatusNotFound)
		return
	}
	target, err := containerLogTarget(s.cfg.PodLogDir, pod, st, query.previous)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	opts := podlogs.LogOptions{Follow: query.follow, TailLines: query.tailLines, LimitBytes: query.limitBytes,
		SinceTime: query.sinceTime, Timestamps: query.timestamps}
	if query.sinceSeconds != nil {
		since := time.Now().Add(-time.Duration(*query.sinceSeconds) * time.Second)
		opts.SinceTime = &since
	}
	ctx, done := s.streamContext(r)
	defer done()
	out := newFlushWriter(w)
	err = podlogs.ReadLog(ctx, target.path, opts, out, out, s.stillWriting(pod, container, target.containerID))
	if err != nil && !out.wrote() {
		// Nothing sent yet: the status can still say what went wrong, as the kubelet's 400.
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err != nil && ctx.Err() == nil {
		s.log.Warn("kubelet API: container logs cut short", "pod", pod.Namespace+"/"+pod.Name, "container", container, "error", err)
	}
}

// flushWriter sends each write to the client at once, so followed logs arrive as they are written.
type flushWriter struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	written bool
}

func newFlushWriter(w http.ResponseWriter) *flushWriter {
	return &flushWriter{w: w, rc: http.NewResponseController(w)}
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.written {
		f.w.Header().Set("Content-Type", "text/plain")
		f.written = true
	}
	n, err := f.w.Write(p)
	if err != nil {
		return n, err
	}
	if err := f.rc.Flush(); err != nil {
		return n, fmt.Errorf("flush logs: %w", err)
	}
	return n, nil
}

func (f *flushWriter) wrote() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.written
}

// refuseInput refuses what staticlet's containers cannot give: they run without stdin and tty.
func refuseInput(container string, stdin, tty bool) error {
	switch {
	case tty:
		return fmt.Errorf("attach to container %q: it has no tty: staticlet runs containers without one", container)
	case stdin:
		return fmt.Errorf("attach to container %q: it has no stdin: staticlet runs containers without one", container)
	}
	return nil
}

// logAttacher attaches to a container by following its current run's log file from its end: every
// line written from now on goes to the client's stdout or stderr, until the run ends or the client
// goes. Staticlet refuses tty and stdin at admission, so there is no input to connect.
type logAttacher struct {
	server *Server
	pod    *corev1.Pod
}

func (a *logAttacher) AttachContainer(ctx context.Context, _, _, container string, in io.Reader, stdout, stderr io.WriteCloser, tty bool, _ <-chan remotecommand.TerminalSize) error {
	if err := refuseInput(container, in != nil, tty); err != nil {
		return err
	}
	st, ok := runningContainer(a.pod, container)
	if !ok {
		return fmt.Errorf("attach to container %q in pod %q: it is not running", container, a.pod.Name)
	}
	path := podlogs.ContainerLogPath(a.server.cfg.PodLogDir, a.pod.Namespace, a.pod.Name, string(a.pod.UID), container, st.RestartCount)
	tailNone := int64(0)
	opts := podlogs.LogOptions{Follow: true, TailLines: &tailNone}
	// A stream not asked for is a nil interface, which ReadLog drops.
	if err := podlogs.ReadLog(ctx, path, opts, stdout, stderr, a.server.stillWriting(a.pod, container, st.ContainerID)); err != nil {
		return fmt.Errorf("attach to container %q in pod %q: %w", container, a.pod.Name, err)
	}
	return nil
}
