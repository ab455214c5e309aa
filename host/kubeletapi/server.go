package kubeletapi

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"
)

// Pods is the node's pods as the kubelet API sees them.
type Pods interface {
	// Pods returns the pods this node runs now (the static pods, with the runtime's UID, not the
	// mirror's), each with its status as its mirror pod shows it: containerStatuses and
	// initContainerStatuses with name, restartCount, containerID and state.
	Pods() []*corev1.Pod
}

// Containers runs commands in and forwards ports to pods' containers. The name passed is the pod's
// name and uid the pod's UID from Pods(). ExecInContainer reports a command's non-zero exit as a
// k8s.io/utils/exec ExitError, so the client gets the exit code.
type Containers interface {
	remotecommand.Executor
	portforward.PortForwarder
}

// Config configures the server. Its fields mirror the KubeletConfiguration's of the same names.
type Config struct {
	// NodeName is the Node's name: the name in every authorization check.
	NodeName string
	// Address is the IP to listen on; "" or 0.0.0.0 listen on every address.
	Address string
	// Port is the TCP port, the Node's status.daemonEndpoints.kubeletEndpoint.
	Port int32
	// TLSCertFile and TLSPrivateKeyFile are a serving certificate and key (PEM), served again when the
	// files change.
	TLSCertFile, TLSPrivateKeyFile string
	// ServerTLSBootstrap requests the serving certificate through a CertificateSigningRequest for
	// signer kubernetes.io/kubelet-serving and renews it before it expires, as the kubelet's
	// serverTLSBootstrap. With neither it nor the files, a self-signed certificate is made under
	// CertDir, as the kubelet does.
	ServerTLSBootstrap bool
	// CertDir keeps the bootstrapped or self-signed certificate.
	CertDir string
	// NodeAddresses are the requested certificate's subject alternative names (IPs and host names),
	// as the kubelet takes them from its Node's addresses.
	NodeAddresses []corev1.NodeAddress
	// Authentication and Authorization are the KubeletConfiguration's; unset fields get its v1beta1
	// defaults: anonymous off, webhook on with a 2m cache, authorization Webhook caching allowed
	// answers 5m and denied ones 30s.
	Authentication kubeletconfigv1beta1.KubeletAuthentication
	Authorization  kubeletconfigv1beta1.KubeletAuthorization
	// Client is the node's own client: TokenReview, SubjectAccessReview, CertificateSigningRequests.
	Client kubernetes.Interface
	// PodLogDir is the root of the pods' CRI log files (/var/log/pods).
	PodLogDir string
	// ResourceStats, when set, serves /metrics/resource (metrics-server, `kubectl top`); nil leaves it 404.
	ResourceStats ResourceStats
	// Logger gets the server's log lines; nil discards them.
	Logger hclog.Logger
	// ObserveRequest, when set, is told of every request once it has ended: its route (healthz, pods,
	// metrics/resource, containerLogs, exec, attach, portForward, run, other), the status code it got (101 for an upgraded
	// stream, 401 and 403 included), whether it was a stream, and how long it took.
	ObserveRequest func(route string, code int, longRunning bool, took time.Duration)
}

// The kubelet's streaming timeouts (streamingConnectionIdleTimeout's default and the stream creation
// timeout of its streaming server).
const (
	streamIdleTimeout     = 4 * time.Hour
	streamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// shutdownGrace bounds how long Run waits for requests in progress once its context ends.
const shutdownGrace = 5 * time.Second

// ErrInvalidConfig is wrapped by every error New returns for a bad Config.
var ErrInvalidConfig = errors.New("invalid kubelet API config")

// Server is the kubelet API server. Make it with New and serve with Run, once.
type Server struct {
	cfg        Config
	log        hclog.Logger
	pods       Pods
	containers Containers

	authn authenticator.Request
	authz authorizer.UnconditionalAuthorizer
	// clientCA is nil without authentication.x509.clientCAFile.
	clientCA *dynamiccertificates.DynamicFileCAContent
	serving  servingCertificate
	// certificateSource is CertificateFromFiles, CertificateFromBootstrap or CertificateSelfSigned.
	certificateSource string

	handler http.Handler
	// stopping ends when Run begins to shut down: long-lived streams (follow, exec, attach,
	// port-forward) end at once instead of holding the shutdown for its grace period.
	stopping     context.Context
	stopStreams  context.CancelFunc
	runOnce      sync.Once
	handlersDone sync.WaitGroup
}

// New validates cfg, applies the KubeletConfiguration defaults, loads the client CA and the serving
// certificate, and returns a server ready to Run.
func New(cfg Config, pods Pods, containers Containers) (*Server, error) {
	cfg = withDefaults(cfg)
	if err := validate(cfg, pods, containers); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, pods: pods, containers: containers}
	var err error
	if s.authn, s.clientCA, err = newAuthenticator(cfg); err != nil {
		return nil, fmt.Errorf("kubelet API: authentication: %w", err)
	}
	if s.authz, err = newAuthorizer(cfg); err != nil {
		return nil, fmt.Errorf("kubelet API: authorization: %w", err)
	}
	if s.serving, s.certificateSource, err = newServingCertificate(cfg); err != nil {
		return nil, fmt.Errorf("kubelet API: serving certificate: %w", err)
	}
	s.stopping, s.stopStreams = context.WithCancel(context.Background())
	s.handler = s.observed(s.withAuth(s.routes()))
	return s, nil
}

// withDefaults applies KubeletConfiguration v1beta1's defaults to the fields left unset.
func withDefaults(cfg Config) Config {
	if cfg.Logger == nil {
		cfg.Logger = hclog.NewNullLogger()
	}
	DefaultAuth(&cfg.Authentication, &cfg.Authorization)
	return cfg
}

// DefaultAuth sets what authn and authz leave unset to KubeletConfiguration v1beta1's defaults: no
// anonymous requests, webhook authentication (TokenReview cached 2m), Webhook authorization
// (SubjectAccessReview cached 5m when allowed, 30s when denied).
func DefaultAuth(authn *kubeletconfigv1beta1.KubeletAuthentication, authz *kubeletconfigv1beta1.KubeletAuthorization) {
	if authn.Anonymous.Enabled == nil {
		authn.Anonymous.Enabled = new(bool)
	}
	if authn.Webhook.Enabled == nil {
		enabled := true
		authn.Webhook.Enabled = &enabled
	}
	if authn.Webhook.CacheTTL.Duration == 0 {
		authn.Webhook.CacheTTL = metav1.Duration{Duration: 2 * time.Minute}
	}
	if authz.Mode == "" {
		authz.Mode = kubeletconfigv1beta1.KubeletAuthorizationModeWebhook
	}
	if authz.Webhook.CacheAuthorizedTTL.Duration == 0 {
		authz.Webhook.CacheAuthorizedTTL = metav1.Duration{Duration: 5 * time.Minute}
	}
	if authz.Webhook.CacheUnauthorizedTTL.Duration == 0 {
		authz.Webhook.CacheUnauthorizedTTL = metav1.Duration{Duration: 30 * time.Second}
	}
}

func validate(cfg Config, pods Pods, containers Containers) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalidConfig, field, fmt.Sprintf(format, args...)))
	}
	if cfg.NodeName == "" {
		bad("NodeName", "is empty: it names the node in every authorization check")
	}
	if cfg.Address != "" && net.ParseIP(cfg.Address) == nil {
		bad("Address", "%q is not an IP address", cfg.Address)
	}
	if cfg.Port < 1 || cfg.Port > 65535 {
		bad("Port", "%d is not a TCP port (1-65535)", cfg.Port)
	}
	if (cfg.TLSCertFile == "") != (cfg.TLSPrivateKeyFile == "") {
		bad("TLSCertFile", "TLSCertFile and TLSPrivateKeyFile are set together or not at all")
	}
	if cfg.ServerTLSBootstrap && cfg.TLSCertFile != "" {
		bad("ServerTLSBootstrap", "cannot be combined with TLSCertFile: the certificate comes from one or the other")
	}
	if cfg.TLSCertFile == "" && cfg.CertDir == "" {
		bad("CertDir", "is empty: without TLSCertFile the bootstrapped or self-signed certificate is kept there")
	}
	if cfg.ServerTLSBootstrap {
		if cfg.Client == nil {
			bad("ServerTLSBootstrap", "needs Client: the certificate is requested from the API server")
		}
		if ips, _ := addressSANs(cfg.NodeAddresses); len(ips) == 0 {
			bad("NodeAddresses", "has no IP address: a kubelet-serving certificate is requested for the node's IPs, as the kubelet does")
		}
	}
	authn := cfg.Authentication
	if *authn.Webhook.Enabled && cfg.Client == nil {
		bad("Authentication.Webhook.Enabled", "needs Client: bearer tokens are checked with the API server's TokenReview")
	}
	switch cfg.Authorization.Mode {
	case kubeletconfigv1beta1.KubeletAuthorizationModeWebhook:
		if cfg.Client == nil {
			bad("Authorization.Mode", "Webhook needs Client: requests are authorized with the API server's SubjectAccessReview")
		}
	case kubeletconfigv1beta1.KubeletAuthorizationModeAlwaysAllow:
	default:
		bad("Authorization.Mode", "%q is not one of %s, %s", cfg.Authorization.Mode,
			kubeletconfigv1beta1.KubeletAuthorizationModeWebhook, kubeletconfigv1beta1.KubeletAuthorizationModeAlwaysAllow)
	}
	if !*authn.Anonymous.Enabled && !*authn.Webhook.Enabled && authn.X509.ClientCAFile == "" {
		bad("Authentication", "anonymous, webhook and x509 are all off: no request could ever be served")
	}
	if cfg.PodLogDir == "" {
		bad("PodLogDir", "is empty: container logs are read from there")
	}
	if pods == nil {
		bad("pods", "is nil")
	}
	if containers == nil {
		bad("containers", "is nil")
	}
	return errors.Join(errs...)
}

// ServingStatus is what the server serves with, for `staticlet status`.
type ServingStatus struct {
	// Address is host:port.
	Address string
	// CertificateSource is CertificateFromFiles, CertificateFromBootstrap or CertificateSelfSigned.
	CertificateSource string
	// NotAfter is the served certificate's expiry, zero while none is served.
	NotAfter time.Time
	// Waiting says why no certificate is served (a bootstrap waiting for approval); empty when one is.
	Waiting string
}

// Status reports the address and the serving certificate now. Safe from any goroutine.
func (s *Server) Status() ServingStatus {
	st := ServingStatus{Address: s.ListenAddress(), CertificateSource: s.certificateSource}
	if cert := s.serving.Current(); cert != nil {
		st.NotAfter = certificateExpiry(cert)
	} else {
		st.Waiting = s.serving.missing().Error()
	}
	return st
}

// ListenAddress is the host:port Run listens on.
func (s *Server) ListenAddress() string {
	return net.JoinHostPort(s.cfg.Address, strconv.Itoa(int(s.cfg.Port)))
}

// Handler is the server's authenticating HTTP handler, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.handler }

// Run listens on ListenAddress and serves until ctx ends, as Serve. It returns early with an error when
// it cannot listen.
func (s *Server) Run(ctx context.Context) error {
	ln, err := s.Listen()
	if err != nil {
		return err
	}
	return s.Serve(ctx, ln)
}

// Listen opens the server's TCP listener, so a caller can fail at start when the port is taken (the
// kubelet exits then) and serve later.
func (s *Server) Listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.ListenAddress())
	if err != nil {
		return nil, fmt.Errorf("kubelet API: listen: %w", err)
	}
	return ln, nil
}

// Serve serves on ln until ctx ends, then stops taking connections, ends the long-lived streams, gives
// the other requests in progress up to shutdownGrace and returns; ln is closed when it returns. Serve
// (or Run) may be called once.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	first := false
	s.runOnce.Do(func() { first = true })
	if !first {
		ln.Close()
		return errors.New("kubelet API: served twice")
	}
	defer s.stopStreams()
	// The certificate and CA watchers run until serve returns, so they end with it.
	watchCtx, stopWatchers := context.WithCancel(ctx)
	var watchers sync.WaitGroup
	defer watchers.Wait()
	defer stopWatchers()

	tlsConfig, err := s.tlsConfig(watchCtx, &watchers)
	if err != nil {
		ln.Close()
		return fmt.Errorf("kubelet API: TLS: %w", err)
	}
	watchers.Go(func() { s.serving.run(watchCtx) })
	if s.clientCA != nil {
		watchers.Go(func() { s.clientCA.Run(watchCtx, 1) })
	}

	srv := &http.Server{
		Handler:   s.trackHandlers(s.handler),
		TLSConfig: tlsConfig,
		// The kubelet's server timeouts: streams may be long-lived, the API server keeps connections alive.
		IdleTimeout:    90 * time.Second,
		ReadTimeout:    4 * 60 * time.Minute,
		WriteTimeout:   4 * 60 * time.Minute,
		MaxHeaderBytes: 1 << 20,
		ErrorLog:       s.log.StandardLogger(&hclog.StandardLoggerOptions{ForceLevel: hclog.Warn}),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, c)
		},
	}
	srv.RegisterOnShutdown(s.stopStreams)
	s.log.Info("serving the kubelet API", "address", ln.Addr().String(), "node", s.cfg.NodeName)
	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-served:
		return fmt.Errorf("kubelet API: serve: %w", err)
	case <-ctx.Done():
	}
	graceCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(graceCtx); err != nil {
		s.log.Warn("kubelet API: requests still running after the shutdown grace period; closing them", "grace", shutdownGrace)
		srv.Close()
	}
	<-served
	s.waitHandlers(graceCtx)
	return nil
}

// trackHandlers counts the handlers running, hijacked streams included, which http.Server.Shutdown
// does not wait for.
func (s *Server) trackHandlers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.handlersDone.Add(1)
		defer s.handlersDone.Done()
		next.ServeHTTP(w, r)
	})
}

func (s *Server) waitHandlers(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		s.handlersDone.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.log.Warn("kubelet API: a stream handler did not end within the shutdown grace period", "grace", shutdownGrace)
	}
}

// connKey keys the request's connection in its context, so a stream can be closed on shutdown.
type connKey struct{}

// streamContext is the context of a long-lived stream: it ends with the request or when the server
// shuts down, and then also closes the (possibly hijacked) connection, since the streaming libraries
// wait on the connection, not on a context.
func (s *Server) streamContext(r *http.Request) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	conn, _ := r.Context().Value(connKey{}).(net.Conn)
	stop := context.AfterFunc(s.stopping, func() {
		cancel()
		if conn != nil {
			conn.Close()
		}
	})
	return ctx, func() {
		stop()
		cancel()
	}
}

// tlsConfig is the kubelet's serving TLS: the current serving certificate at each handshake, and a
// client certificate requested (not required) and verified by the x509 authenticator, with the
// client CA bundle as the hint of which certificate to send.
func (s *Server) tlsConfig(ctx context.Context, watchers *sync.WaitGroup) (*tls.Config, error) {
	base := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := s.serving.Current(); c != nil {
				return c, nil
			}
			return nil, s.serving.missing()
		},
	}
	if s.clientCA == nil {
		return base, nil
	}
	base.ClientAuth = tls.RequestClientCert
	caHints := dynamiccertificates.NewDynamicServingCertificateController(base.Clone(), s.clientCA, nil, nil, nil)
	if err := caHints.RunOnce(); err != nil {
		return nil, fmt.Errorf("client CA %s: %w", s.cfg.Authentication.X509.ClientCAFile, err)
	}
	s.clientCA.AddListener(caHints)
	watchers.Go(func() { caHints.Run(1, ctx.Done()) })
	base.GetConfigForClient = caHints.GetConfigForClient
	return base, nil
}
