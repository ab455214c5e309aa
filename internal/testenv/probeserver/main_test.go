package main

import (
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
)

func TestMuxAnswers(t *testing.T) {
	gate := filepath.Join(t.TempDir(), "live")
	mux, err := newMux([]string{"/readyz"}, []string{"/livez=" + gate})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(mux)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	// Probes do not verify; the server's own client trusts httptest's pool, not this certificate.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(path string) int {
		t.Helper()
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.TLS == nil || len(resp.TLS.PeerCertificates) != 1 || resp.TLS.PeerCertificates[0].Subject.CommonName != "probeserver" {
			t.Errorf("GET %s: not served with the self-signed certificate", path)
		}
		return resp.StatusCode
	}
	for path, want := range map[string]int{"/readyz": 200, "/livez": 503, "/healthz": 404} {
		if got := get(path); got != want {
			t.Errorf("GET %s = %d, want %d", path, got, want)
		}
	}
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got := get("/livez"); got != 200 {
		t.Errorf("GET /livez with its file = %d, want 200", got)
	}
}

func TestMuxRejectsBadRule(t *testing.T) {
	for _, rule := range []string{"/livez", "=/file", "/livez="} {
		if _, err := newMux(nil, []string{rule}); err == nil {
			t.Errorf("-ok-if %q accepted", rule)
		}
	}
}
