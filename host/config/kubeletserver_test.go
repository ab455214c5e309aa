package config

import (
	"strings"
	"testing"
	"time"

	kubeletconfig "k8s.io/kubelet/config/v1beta1"
)

const kubeletServerHeader = "apiVersion: staticlet.dev/v1alpha1\nkind: StaticletConfiguration\n"

func resolveKubeletServer(t *testing.T, yaml string) (Settings, error) {
	t.Helper()
	sc, err := ParseStaticletConfig("/etc/staticlet/config.yaml", []byte(kubeletServerHeader+yaml))
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	return Resolve(nil, sc, Overrides{}, "worker-1")
}

func TestKubeletServerDefaultsAreTheKubeletConfigurations(t *testing.T) {
	s, err := resolveKubeletServer(t, "kubeconfig: /etc/kubernetes/kubelet.conf\nkubeletPort: 10250\n")
	if err != nil {
		t.Fatal(err)
	}
	c := s.KubeletServer
	if c.Address != "0.0.0.0" || *c.Authentication.Anonymous.Enabled || !*c.Authentication.Webhook.Enabled ||
		c.Authentication.Webhook.CacheTTL.Duration != 2*time.Minute || c.Authorization.Mode != kubeletconfig.KubeletAuthorizationModeWebhook ||
		c.Authorization.Webhook.CacheAuthorizedTTL.Duration != 5*time.Minute || c.Authorization.Webhook.CacheUnauthorizedTTL.Duration != 30*time.Second {
		t.Errorf("defaults differ from KubeletConfiguration v1beta1's: %+v", c)
	}
	if got := s.KubeletServerCertDir(); got != "/var/lib/staticlet/pki" {
		t.Errorf("cert dir %s", got)
	}
}

func TestKubeletServerPathsAreRelativeToTheConfigFile(t *testing.T) {
	s, err := resolveKubeletServer(t, `kubeconfig: /k.conf
kubeletPort: 10250
kubeletServer:
  tlsCertFile: pki/serving.crt
  tlsPrivateKeyFile: pki/serving.key
  authentication:
    x509: {clientCAFile: pki/ca.crt}
`)
	if err != nil {
		t.Fatal(err)
	}
	c := s.KubeletServer
	if c.TLSCertFile != "/etc/staticlet/pki/serving.crt" || c.TLSPrivateKeyFile != "/etc/staticlet/pki/serving.key" ||
		c.Authentication.X509.ClientCAFile != "/etc/staticlet/pki/ca.crt" {
		t.Errorf("paths not resolved against the config's folder: %+v", c)
	}
}

func TestKubeletServerRefusesWhatCannotBeServedSafely(t *testing.T) {
	for _, tt := range []struct {
		name, yaml, field string
	}{
		{"section without a port", "kubeletServer: {address: 127.0.0.1}\n", "kubeletServer: "},
		{"webhook authentication without an API server", "kubeletPort: 10250\nkubeletServer: {authorization: {mode: AlwaysAllow}}\n", "kubeletServer.authentication.webhook.enabled"},
		{"webhook authorization without an API server", "kubeletPort: 10250\nkubeletServer: {authentication: {webhook: {enabled: false}, x509: {clientCAFile: /ca.crt}}}\n", "kubeletServer.authorization.mode"},
		{"unknown authorization mode", "kubeconfig: /k\nkubeletPort: 10250\nkubeletServer: {authorization: {mode: RBAC}}\n", "kubeletServer.authorization.mode"},
		{"anonymous and always allow", "kubeconfig: /k\nkubeletPort: 10250\nkubeletServer: {authentication: {anonymous: {enabled: true}}, authorization: {mode: AlwaysAllow}}\n", "kubeletServer.authentication.anonymous.enabled"},
		{"nobody can authenticate", "kubeconfig: /k\nkubeletPort: 10250\nkubeletServer: {authentication: {webhook: {enabled: false}}}\n", "kubeletServer.authentication:"},
		{"certificate without key", "kubeconfig: /k\nkubeletPort: 10250\nkubeletServer: {tlsCertFile: /c.crt}\n", "kubeletServer.tlsCertFile"},
		{"files and bootstrap", "kubeconfig: /k\nkubeletPort: 10250\nkubeletServer: {tlsCertFile: /c.crt, tlsPrivateKeyFile: /c.key, serverTLSBootstrap: true}\n", "kubeletServer.serverTLSBootstrap"},
		{"bootstrap without an API server", "kubeletPort: 10250\nkubeletServer: {serverTLSBootstrap: true, authentication: {webhook: {enabled: false}, x509: {clientCAFile: /ca}}, authorization: {mode: AlwaysAllow}}\n", "kubeletServer.serverTLSBootstrap"},
		{"bad address", "kubeconfig: /k\nkubeletPort: 10250\nkubeletServer: {address: localhost}\n", "kubeletServer.address"},
		{"kubelet front", "kubeconfig: /k\nmode: kubeletFront\nkubeletPort: 10250\n", "kubeletPort: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := resolveKubeletServer(t, tt.yaml)
			if err == nil || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("want an error naming %q, got %v", tt.field, err)
			}
		})
	}
	// Without an API server, x509 client certificates and AlwaysAllow serve.
	if _, err := resolveKubeletServer(t, "kubeletPort: 10250\nkubeletServer: {authentication: {webhook: {enabled: false}, x509: {clientCAFile: /ca.crt}}, authorization: {mode: AlwaysAllow}}\n"); err != nil {
		t.Errorf("x509 + AlwaysAllow without kubeconfig: %v", err)
	}
}
