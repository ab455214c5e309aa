package config

import (
	"fmt"
	"net"
	"path/filepath"

	kubeletconfig "k8s.io/kubelet/config/v1beta1"

	"github.com/staticlet/staticlet/host/kubeletapi"
)

// DefaultKubeletServerAddress is where the kubelet API listens unless kubeletServer.address says otherwise:
// every address, as the kubelet's `address` default, because the API server dials the node's InternalIP.
const DefaultKubeletServerAddress = "0.0.0.0"

// KubeletServerConfig configures the kubelet API staticlet serves on kubeletPort (logs, exec, attach,
// port-forward, /pods, /healthz for the API server and kubectl). Its fields are the KubeletConfiguration's
// of the same names, so an operator's kubelet settings carry over; staticlet does not read them from the
// KubeletConfiguration because a kubelet on the same node reads that file too and holds its port
// (docs/RATIONALE.md, "The kubelet API").
type KubeletServerConfig struct {
	// Address is the IP to listen on (default 0.0.0.0).
	Address string `json:"address,omitempty"`
	// TLSCertFile and TLSPrivateKeyFile are a serving certificate and key (PEM), reloaded when they
	// change. Without them and without serverTLSBootstrap, staticlet makes a self-signed certificate
	// under <stateDir>/pki, as the kubelet does.
	TLSCertFile       string `json:"tlsCertFile,omitempty"`
	TLSPrivateKeyFile string `json:"tlsPrivateKeyFile,omitempty"`
	// ServerTLSBootstrap requests the serving certificate from the API server with a
	// CertificateSigningRequest for the kubernetes.io/kubelet-serving signer, and renews it; Kubernetes
	// does not approve these automatically (kubectl certificate approve, or an approver).
	ServerTLSBootstrap bool `json:"serverTLSBootstrap,omitempty"`
	// Authentication and Authorization are the KubeletConfiguration's, with its defaults: no anonymous
	// requests, bearer tokens checked with TokenReview, client certificates against
	// authentication.x509.clientCAFile, every request authorized with SubjectAccessReview.
	Authentication kubeletconfig.KubeletAuthentication `json:"authentication,omitempty"`
	Authorization  kubeletconfig.KubeletAuthorization  `json:"authorization,omitempty"`
}

// kubeletServerSettings defaults kubeletServer as KubeletConfiguration v1beta1 defaults its fields.
func kubeletServerSettings(c KubeletServerConfig) KubeletServerConfig {
	c.Address = first(c.Address, DefaultKubeletServerAddress)
	kubeletapi.DefaultAuth(&c.Authentication, &c.Authorization)
	return c
}

// relativePaths resolves the file names in kubeletServer against the config file's folder.
func (c *KubeletServerConfig) relativePaths(configPath string) {
	for _, p := range []*string{&c.TLSCertFile, &c.TLSPrivateKeyFile, &c.Authentication.X509.ClientCAFile} {
		*p = relativeTo(configPath, *p)
	}
}

// KubeletServerCertDir is where a self-signed or bootstrapped serving certificate is kept.
func (s Settings) KubeletServerCertDir() string { return filepath.Join(s.StateDir, "pki") }

// validateKubeletServer checks kubeletServer against what serving it needs.
func validateKubeletServer(s Settings) []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %w: %s", field, ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	c := s.KubeletServer
	if s.KubeletPort == 0 {
		return nil
	}
	if s.Mode == ModeKubeletFront {
		bad("kubeletPort", "must be 0 with mode %s: the kubelet serves its own API", ModeKubeletFront)
	}
	if net.ParseIP(c.Address) == nil {
		bad("kubeletServer.address", "%q is not an IP address", c.Address)
	}
	if (c.TLSCertFile == "") != (c.TLSPrivateKeyFile == "") {
		bad("kubeletServer.tlsCertFile", "tlsCertFile and tlsPrivateKeyFile are set together or not at all")
	}
	if c.ServerTLSBootstrap && c.TLSCertFile != "" {
		bad("kubeletServer.serverTLSBootstrap", "cannot be combined with tlsCertFile: the certificate comes from one or the other")
	}
	needsAPI := func(field, why string) {
		if s.Kubeconfig == "" {
			bad(field, "needs kubeconfig: %s", why)
		}
	}
	if c.ServerTLSBootstrap {
		needsAPI("kubeletServer.serverTLSBootstrap", "the certificate is requested from the API server")
	}
	if *c.Authentication.Webhook.Enabled {
		needsAPI("kubeletServer.authentication.webhook.enabled", "bearer tokens are checked with the API server's TokenReview")
	}
	switch c.Authorization.Mode {
	case kubeletconfig.KubeletAuthorizationModeWebhook:
		needsAPI("kubeletServer.authorization.mode", "Webhook asks the API server's SubjectAccessReview")
	case kubeletconfig.KubeletAuthorizationModeAlwaysAllow:
	default:
		bad("kubeletServer.authorization.mode", "%q is not one of %s, %s", c.Authorization.Mode,
			kubeletconfig.KubeletAuthorizationModeWebhook, kubeletconfig.KubeletAuthorizationModeAlwaysAllow)
	}
	if !*c.Authentication.Anonymous.Enabled && !*c.Authentication.Webhook.Enabled && c.Authentication.X509.ClientCAFile == "" {
		bad("kubeletServer.authentication", "anonymous, webhook and x509 are all off: no request could ever be served")
	}
	if *c.Authentication.Anonymous.Enabled && c.Authorization.Mode == kubeletconfig.KubeletAuthorizationModeAlwaysAllow {
		bad("kubeletServer.authentication.anonymous.enabled", "with authorization mode AlwaysAllow anyone who reaches the port could exec into every pod")
	}
	return errs
}
