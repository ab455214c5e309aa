package containerd_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	restclient "k8s.io/client-go/rest"
	clientspdy "k8s.io/client-go/transport/spdy"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"github.com/staticlet/staticlet/host/runtime/containerd"
)

// streamingServer serves exec and port-forward for one pod with package
// cri-streaming, as the kubelet API does: /exec?container=C&command=...
// and /portforward.
func streamingServer(t *testing.T, rt *containerd.Runtime, p *corev1.Pod) *httptest.Server {
	name, uid := p.Namespace+"/"+p.Name, string(p.UID)
	mux := http.NewServeMux()
	mux.HandleFunc("/exec", func(w http.ResponseWriter, req *http.Request) {
		q := req.URL.Query()
		opts := &remotecommand.Options{Stdin: q.Has("stdin"), Stdout: true, Stderr: true}
		remotecommand.ServeExec(w, req, rt, name, uid, q.Get("container"), q["command"], opts, time.Minute, 10*time.Second, remotecommand.SupportedStreamingProtocols)
	})
	mux.HandleFunc("/portforward", func(w http.ResponseWriter, req *http.Request) {
		portforward.ServePortForward(w, req, rt, name, uid, &portforward.V4Options{}, time.Minute, 10*time.Second, portforward.SupportedProtocols)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// dialSPDY upgrades a POST to rawURL to SPDY with client-go's transport, as
// kubectl does (client-go's executor itself needs gorilla/websocket, which
// this module does not require).
func dialSPDY(t *testing.T, rawURL, protocol string) httpstream.Connection {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	transport, upgrader, err := clientspdy.RoundTripperFor(&restclient.Config{Host: u.Scheme + "://" + u.Host})
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	conn, got, err := clientspdy.Negotiate(upgrader, &http.Client{Transport: transport}, req, protocol)
	if err != nil {
		t.Fatal(err)
	}
	if got != protocol {
		t.Fatalf("negotiated %q, want %q", got, protocol)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func createStream(t *testing.T, conn httpstream.Connection, headers map[string]string) httpstream.Stream {
	t.Helper()
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	s, err := conn.CreateStream(h)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readAll reads the streams to their ends at once: the server writes them
// concurrently.
func readAll(t *testing.T, streams ...io.Reader) []string {
	t.Helper()
	out := make([]string, len(streams))
	var wg sync.WaitGroup
	for i, s := range streams {
		wg.Go(func() {
			b, err := io.ReadAll(s)
			if err != nil {
				t.Errorf("read stream %d: %v", i, err)
			}
			out[i] = string(b)
		})
	}
	wg.Wait()
	return out
}

// spdyExec runs command in container over the v4 exec protocol, as kubectl
// exec does, and returns stdout, stderr and the status the server sent.
func spdyExec(t *testing.T, srv *httptest.Server, container, stdin string, command ...string) (stdout, stderr string, status metav1.Status) {
	t.Helper()
	q := url.Values{"container": {container}, "command": command}
	if stdin != "" {
		q.Set("stdin", "1")
	}
	conn := dialSPDY(t, srv.URL+"/exec?"+q.Encode(), remotecommand.StreamProtocolV4Name)
	errStream := createStream(t, conn, map[string]string{corev1.StreamType: corev1.StreamTypeError})
	if stdin != "" {
		in := createStream(t, conn, map[string]string{corev1.StreamType: corev1.StreamTypeStdin})
		go func() {
			_, _ = io.Copy(in, strings.NewReader(stdin))
			in.Close() // kubectl's half-close: the command reads its end
		}()
	}
	outStream := createStream(t, conn, map[string]string{corev1.StreamType: corev1.StreamTypeStdout})
	errOutStream := createStream(t, conn, map[string]string{corev1.StreamType: corev1.StreamTypeStderr})
	got := readAll(t, outStream, errOutStream, errStream)
	if err := json.Unmarshal([]byte(got[2]), &status); err != nil {
		t.Fatalf("status %q: %v", got[2], err)
	}
	return got[0], got[1], status
}

// TestStreamingEndToEnd drives ExecInContainer and PortForward through
// cri-streaming's ServeExec and ServePortForward over SPDY, the wire
// protocol kubectl exec and kubectl port-forward speak to a kubelet.
func TestStreamingEndToEnd(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	port := freePort(t)
	p := echoPod(e.image, "stream-node1", port, false)
	if err := rt.StartPod(t.Context(), p); err != nil {
		t.Fatal(err)
	}
	waitContainer(t, rt, p.UID, "echo", 20*time.Second, func(cs corev1.ContainerStatus) bool { return cs.State.Running != nil })
	srv := streamingServer(t, rt, p)

	t.Run("exec", func(t *testing.T) {
		stdout, stderr, status := spdyExec(t, srv, "echo", "hello\n", "sh", "-c", "cat; echo oops >&2")
		if stdout != "hello\n" || stderr != "oops\n" || status.Status != metav1.StatusSuccess {
			t.Errorf("stdout %q stderr %q status %+v, want hello, oops, Success", stdout, stderr, status)
		}
	})

	t.Run("exit code", func(t *testing.T) {
		_, _, status := spdyExec(t, srv, "echo", "", "sh", "-c", "exit 3")
		if status.Reason != remotecommand.NonZeroExitCodeReason || status.Details == nil || len(status.Details.Causes) != 1 ||
			status.Details.Causes[0].Type != remotecommand.ExitCodeCauseType || status.Details.Causes[0].Message != "3" {
			t.Errorf("status %+v, want NonZeroExitCode with cause ExitCode 3", status)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		forward(t, rt, p, port, "listening?\n") // nc listens by now
		conn := dialSPDY(t, srv.URL+"/portforward", portforward.ProtocolV1Name)
		headers := map[string]string{portforward.PortHeader: strconv.Itoa(int(port)), portforward.PortForwardRequestIDHeader: "0"}
		headers[portforward.StreamType] = portforward.StreamTypeError
		errStream := createStream(t, conn, headers)
		headers[portforward.StreamType] = portforward.StreamTypeData
		data := createStream(t, conn, headers)
		if _, err := io.WriteString(data, "ping\n"); err != nil {
			t.Fatal(err)
		}
		data.Close() // half-close, as kubectl when its local client is done
		got := readAll(t, data, errStream)
		if got[0] != "ping\n" || got[1] != "" {
			t.Errorf("data %q error stream %q, want ping echoed and no error", got[0], got[1])
		}
	})
}
