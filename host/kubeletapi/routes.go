package kubeletapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
)

// routes are the kubelet's paths that static pods need. Unknown paths are 404 after authorization, as
// the kubelet's.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok"))
	})
	mux.HandleFunc("GET /pods", s.getPods)
	mux.HandleFunc("GET /containerLogs/{namespace}/{pod}/{container}", s.getContainerLogs)
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		mux.HandleFunc(method+" /exec/{namespace}/{pod}/{container}", s.getExec)
		mux.HandleFunc(method+" /exec/{namespace}/{pod}/{uid}/{container}", s.getExec)
		mux.HandleFunc(method+" /attach/{namespace}/{pod}/{container}", s.getAttach)
		mux.HandleFunc(method+" /attach/{namespace}/{pod}/{uid}/{container}", s.getAttach)
		mux.HandleFunc(method+" /portForward/{namespace}/{pod}", s.getPortForward)
		mux.HandleFunc(method+" /portForward/{namespace}/{pod}/{uid}", s.getPortForward)
	}
	mux.HandleFunc("POST /run/{namespace}/{pod}/{container}", s.getRun)
	mux.HandleFunc("POST /run/{namespace}/{pod}/{uid}/{container}", s.getRun)
	if s.cfg.ResourceStats != nil {
		mux.HandleFunc("GET /metrics/resource", s.getResourceMetrics)
	}
	return mux
}

// getPods writes the node's pods as a v1 PodList. Its items carry no kind and apiVersion (the list's
// say what they are), as the kubelet's encoding leaves them out.
func (s *Server) getPods(w http.ResponseWriter, _ *http.Request) {
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: []corev1.Pod{}}
	for _, p := range s.pods.Pods() {
		item := *p
		item.TypeMeta = metav1.TypeMeta{}
		list.Items = append(list.Items, item)
	}
	data, err := json.Marshal(list)
	if err != nil {
		http.Error(w, fmt.Sprintf("encode pods: %v", err), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(data)
}

// findPod returns the pod named namespace/name, nil when the node does not run it.
func (s *Server) findPod(namespace, name string) *corev1.Pod {
	for _, p := range s.pods.Pods() {
		if p.Namespace == namespace && p.Name == name {
			return p
		}
	}
	return nil
}

// streamTarget resolves a stream request's pod and optional UID segment, writing the kubelet's 404s.
func (s *Server) streamTarget(w http.ResponseWriter, r *http.Request) (*corev1.Pod, bool) {
	pod := s.findPod(r.PathValue("namespace"), r.PathValue("pod"))
	if pod == nil {
		http.Error(w, "pod does not exist", http.StatusNotFound)
		return nil, false
	}
	if uid := types.UID(r.PathValue("uid")); uid != "" && uid != pod.UID {
		http.Error(w, "pod not found", http.StatusNotFound)
		return nil, false
	}
	return pod, true
}

// runningContainer is the status of the pod's container by that name if it runs, as the kubelet's
// exec, attach and run find only running containers.
func runningContainer(pod *corev1.Pod, name string) (corev1.ContainerStatus, bool) {
	st, ok := containerStatus(pod, name)
	return st, ok && st.State.Running != nil
}

// containerStatus finds a container's status among the pod's init and regular containers.
func containerStatus(pod *corev1.Pod, name string) (corev1.ContainerStatus, bool) {
	for _, list := range [][]corev1.ContainerStatus{pod.Status.ContainerStatuses, pod.Status.InitContainerStatuses} {
		for _, st := range list {
			if st.Name == name {
				return st, true
			}
		}
	}
	return corev1.ContainerStatus{}, false
}

// remoteCommandTarget reads an exec or attach request's streams, pod and running container, writing the
// kubelet's refusals; notRunning is the kubelet's text (which differs between exec and attach).
func (s *Server) remoteCommandTarget(w http.ResponseWriter, r *http.Request, notRunning func(container string, pod *corev1.Pod) string) (*corev1.Pod, string, *remotecommand.Options, bool) {
	streamOpts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return nil, "", nil, false
	}
	pod, ok := s.streamTarget(w, r)
	if !ok {
		return nil, "", nil, false
	}
	container := r.PathValue("container")
	if _, ok := runningContainer(pod, container); !ok {
		http.Error(w, notRunning(container, pod), http.StatusInternalServerError)
		return nil, "", nil, false
	}
	return pod, container, streamOpts, true
}

// getExec serves /exec: the command (repeated `command` parameters) runs through Containers over SPDY
// or websocket streams.
func (s *Server) getExec(w http.ResponseWriter, r *http.Request) {
	pod, container, streamOpts, ok := s.remoteCommandTarget(w, r, func(container string, _ *corev1.Pod) string {
		return fmt.Sprintf("container not found (%q)", container)
	})
	if !ok {
		return
	}
	ctx, done := s.streamContext(r)
	defer done()
	remotecommand.ServeExec(w, r.WithContext(ctx), s.containers, pod.Name, string(pod.UID), container, r.URL.Query()["command"],
		streamOpts, streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// getAttach serves /attach with the output of the container's current run (see logAttacher).
func (s *Server) getAttach(w http.ResponseWriter, r *http.Request) {
	pod, container, streamOpts, ok := s.remoteCommandTarget(w, r, func(container string, pod *corev1.Pod) string {
		return fmt.Sprintf("container %s not found in pod %s", container, podFullName(pod))
	})
	if !ok {
		return
	}
	// Refused before the upgrade, so the client reads the reason instead of a broken stream.
	if err := refuseInput(container, streamOpts.Stdin, streamOpts.TTY); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx, done := s.streamContext(r)
	defer done()
	remotecommand.ServeAttach(w, r.WithContext(ctx), &logAttacher{server: s, pod: pod}, pod.Name, string(pod.UID), container,
		streamOpts, streamIdleTimeout, streamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

// getPortForward serves /portForward over SPDY or websocket streams.
func (s *Server) getPortForward(w http.ResponseWriter, r *http.Request) {
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	pod, ok := s.streamTarget(w, r)
	if !ok {
		return
	}
	ctx, done := s.streamContext(r)
	defer done()
	portforward.ServePortForward(w, r.WithContext(ctx), s.containers, pod.Name, string(pod.UID), opts,
		streamIdleTimeout, streamCreationTimeout, portforward.SupportedProtocols)
}

// getRun serves /run: the `cmd` parameter split on spaces (the kubelet's legacy form) runs through
// Containers, and the combined output is the response.
func (s *Server) getRun(w http.ResponseWriter, r *http.Request) {
	pod, ok := s.streamTarget(w, r)
	if !ok {
		return
	}
	container := r.PathValue("container")
	if _, ok := runningContainer(pod, container); !ok {
		http.Error(w, fmt.Sprintf("container not found (%q)", container), http.StatusInternalServerError)
		return
	}
	ctx, done := s.streamContext(r)
	defer done()
	var out combinedOutput
	cmd := strings.Split(r.URL.Query().Get("cmd"), " ")
	if err := s.containers.ExecInContainer(ctx, pod.Name, string(pod.UID), container, cmd, nil, &out, &out, false, nil, 0); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	// The kubelet labels the raw output JSON; clients read the bytes as they are.
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out.Bytes())
}

// combinedOutput collects a command's stdout and stderr, which the runtime may write concurrently.
type combinedOutput struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *combinedOutput) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *combinedOutput) Close() error { return nil }

func (c *combinedOutput) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

// podFullName is the kubelet's name_namespace form used in its messages.
func podFullName(pod *corev1.Pod) string { return pod.Name + "_" + pod.Namespace }
