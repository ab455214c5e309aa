// Command probeserver stands in for a control-plane component in integration tests: it answers
// the kubelet-style health checks (httpGet over HTTP or HTTPS, tcpSocket) that kubeadm's static
// pods are probed with, so their manifests can run on the busybox test image, which has no TLS
// server. testenv.ImportProbeImage builds it (static, standard library only) into
// /usr/local/bin/probeserver of the probe image.
//
//	probeserver -listen https://127.0.0.1:6443 -ok /readyz -ok-if /livez=/etc/kubernetes/pki/live
//
// -listen (repeatable) serves on scheme://host:port, scheme http or https; https uses a
// self-signed certificate made in memory at start, as probes do not verify. -ok PATH answers 200;
// -ok-if PATH=FILE answers 200 while FILE exists and 503 otherwise, so a test can fail a probe by
// removing a file or pass one by creating it. Other paths get 404. Every request is logged to
// standard output. SIGTERM and SIGINT shut it down with exit status 0.
//
// IO: listens on the given addresses, stats the -ok-if files per request, writes to stdout.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// repeated is a flag that may be given several times.
type repeated []string

func (r *repeated) String() string     { return strings.Join(*r, ",") }
func (r *repeated) Set(v string) error { *r = append(*r, v); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "probeserver:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	flags := flag.NewFlagSet("probeserver", flag.ContinueOnError)
	var listens, oks, okIfs repeated
	flags.Var(&listens, "listen", "serve on `scheme://host:port` (http or https); repeatable")
	flags.Var(&oks, "ok", "answer 200 on `PATH`; repeatable")
	flags.Var(&okIfs, "ok-if", "answer 200 on PATH while FILE exists, else 503 (`PATH=FILE`); repeatable")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if len(listens) == 0 {
		return errors.New("no -listen given")
	}
	mux, err := newMux(oks, okIfs)
	if err != nil {
		return err
	}

	var certOnce sync.Once
	var cert tls.Certificate
	var certErr error
	servers := make([]*http.Server, 0, len(listens))
	errs := make(chan error, len(listens))
	for _, listen := range listens {
		u, err := url.Parse(listen)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
			return fmt.Errorf("-listen %q: want http://host:port or https://host:port", listen)
		}
		ln, err := net.Listen("tcp", u.Host)
		if err != nil {
			return fmt.Errorf("-listen %q: %w", listen, err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		if u.Scheme == "https" {
			certOnce.Do(func() { cert, certErr = selfSigned() })
			if certErr != nil {
				return certErr
			}
			ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		}
		fmt.Printf("probeserver: serving %s\n", listen)
		servers = append(servers, srv)
		go func() { errs <- srv.Serve(ln) }()
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	select {
	case sig := <-stop:
		fmt.Printf("probeserver: %v: shutting down\n", sig)
	case err := <-errs:
		return fmt.Errorf("serve: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	for _, srv := range servers {
		_ = srv.Shutdown(ctx) // exiting anyway: an unfinished request does not matter
	}
	return nil
}

// newMux answers 200 on each of oks, 200 or 503 on each PATH=FILE of okIfs, and 404 elsewhere.
func newMux(oks, okIfs []string) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	for _, path := range oks {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { answer(w, r, http.StatusOK, "ok") })
	}
	for _, rule := range okIfs {
		path, file, ok := strings.Cut(rule, "=")
		if !ok || path == "" || file == "" {
			return nil, fmt.Errorf("-ok-if %q: want PATH=FILE", rule)
		}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			if _, err := os.Stat(file); err != nil {
				answer(w, r, http.StatusServiceUnavailable, "not ok: "+file+" is absent")
				return
			}
			answer(w, r, http.StatusOK, "ok")
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { answer(w, r, http.StatusNotFound, "no such path") })
	return mux, nil
}

func answer(w http.ResponseWriter, r *http.Request, code int, body string) {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	fmt.Printf("probeserver: %s %s %s://%s%s from %s: %d\n", time.Now().UTC().Format(time.RFC3339Nano), r.Method, scheme, r.Host, r.URL.Path, r.RemoteAddr, code)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	fmt.Fprintln(w, body)
}

// selfSigned makes a certificate for the loopback names, valid for a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	now := time.Now()
	template := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "probeserver"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("self-sign certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
