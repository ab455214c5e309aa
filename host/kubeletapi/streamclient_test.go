package kubeletapi

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"

	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
)

// spdyStream is a minimal remotecommand client (SPDY, v4.channel.k8s.io) for exec and attach with
// stdout and stderr, as the API server speaks it to a kubelet; client-go's executor would need a module
// go.sum does not hold. It returns the status the server sent on the error stream (JSON), or an error
// with the server's refusal when the upgrade fails.
func spdyStream(tlsConfig *tls.Config, method, rawURL string, header http.Header, stdout, stderr io.Writer) (string, error) {
	rt, err := spdy.NewRoundTripper(tlsConfig)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		return "", err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set(httpstream.HeaderProtocolVersion, "v4.channel.k8s.io")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return "", err
	}
	conn, err := rt.NewConnection(resp)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	create := func(streamType string) (httpstream.Stream, error) {
		h := http.Header{}
		h.Set("streamType", streamType)
		return conn.CreateStream(h)
	}
	errStream, err := create("error")
	if err != nil {
		return "", fmt.Errorf("error stream: %w", err)
	}
	var copies sync.WaitGroup
	var copyErrs [2]error
	for i, s := range []struct {
		name string
		dst  io.Writer
	}{{"stdout", stdout}, {"stderr", stderr}} {
		stream, err := create(s.name)
		if err != nil {
			return "", fmt.Errorf("%s stream: %w", s.name, err)
		}
		copies.Go(func() { _, copyErrs[i] = io.Copy(s.dst, stream) })
	}
	status, err := io.ReadAll(errStream)
	copies.Wait()
	return string(status), errors.Join(append([]error{err}, copyErrs[:]...)...)
}
