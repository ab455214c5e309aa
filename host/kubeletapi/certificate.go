package kubeletapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/client-go/kubernetes"
	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/certificate"
	"k8s.io/client-go/util/keyutil"
)

// servingCertificate is where the TLS handshake takes the server's certificate from.
type servingCertificate interface {
	// Current is the certificate to serve now, nil while there is none.
	Current() *tls.Certificate
	// missing says why there is no certificate, for the handshake's error.
	missing() error
	// run keeps the certificate current (reloading files, renewing) until ctx ends.
	run(ctx context.Context)
}

// Where the serving certificate comes from, as ServingStatus reports it.
const (
	CertificateFromFiles     = "files"
	CertificateFromBootstrap = "bootstrap"
	CertificateSelfSigned    = "self-signed"
)

// newServingCertificate picks the kubelet's source of the serving certificate: the bootstrap through a
// CertificateSigningRequest, the configured files, or a self-signed pair made once under CertDir. It
// returns the source's name too.
func newServingCertificate(cfg Config) (servingCertificate, string, error) {
	if cfg.ServerTLSBootstrap {
		b, err := newBootstrapCertificate(cfg)
		return b, CertificateFromBootstrap, err
	}
	certFile, keyFile, source := cfg.TLSCertFile, cfg.TLSPrivateKeyFile, CertificateFromFiles
	if certFile == "" {
		var err error
		if certFile, keyFile, err = selfSignedFiles(cfg); err != nil {
			return nil, "", err
		}
		source = CertificateSelfSigned
	}
	f, err := newFileCertificate(certFile, keyFile)
	return f, source, err
}

// certificateExpiry is when cert stops being valid; zero for none.
func certificateExpiry(cert *tls.Certificate) time.Time {
	if cert == nil {
		return time.Time{}
	}
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	if leaf == nil {
		return time.Time{}
	}
	return leaf.NotAfter
}

// fileCertificate serves a certificate and key from files, reloaded when they change (the kubelet's
// ReloadKubeletServerCertificateFile). A pair that does not parse keeps the last good one served.
type fileCertificate struct {
	certFile, keyFile string
	content           *dynamiccertificates.DynamicCertKeyPairContent
	// current is written by the content's watcher goroutine and read by every handshake.
	current atomic.Pointer[tls.Certificate]
	// lastErr is why the last pair read could not be used.
	lastErr atomic.Pointer[error]
}

func newFileCertificate(certFile, keyFile string) (*fileCertificate, error) {
	content, err := dynamiccertificates.NewDynamicServingContentFromFiles("kubelet-server-cert-files", certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load %s and %s: %w", certFile, keyFile, err)
	}
	f := &fileCertificate{certFile: certFile, keyFile: keyFile, content: content}
	f.Enqueue()
	if f.current.Load() == nil {
		return nil, *f.lastErr.Load()
	}
	content.AddListener(f)
	return f, nil
}

// Enqueue is called by the content's watcher when the files changed.
func (f *fileCertificate) Enqueue() {
	certPEM, keyPEM := f.content.CurrentCertKeyContent()
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		err = fmt.Errorf("certificate %s and key %s: %w", f.certFile, f.keyFile, err)
		f.lastErr.Store(&err)
		return
	}
	f.current.Store(&cert)
}

func (f *fileCertificate) Current() *tls.Certificate { return f.current.Load() }

func (f *fileCertificate) missing() error {
	if err := f.lastErr.Load(); err != nil {
		return *err
	}
	return fmt.Errorf("no serving certificate loaded from %s", f.certFile)
}

func (f *fileCertificate) run(ctx context.Context) { f.content.Run(ctx, 1) }

// selfSignedFiles returns CertDir's kubelet.crt and kubelet.key, made self-signed first if they cannot
// be read, as the kubelet does without a configured or bootstrapped certificate.
func selfSignedFiles(cfg Config) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(cfg.CertDir, "kubelet.crt"), filepath.Join(cfg.CertDir, "kubelet.key")
	readable, err := certutil.CanReadCertAndKey(certFile, keyFile)
	if err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	if readable {
		return certFile, keyFile, nil
	}
	ips, hostnames := addressSANs(cfg.NodeAddresses)
	certPEM, keyPEM, err := certutil.GenerateSelfSignedCertKey(cfg.NodeName, ips, hostnames)
	if err != nil {
		return "", "", fmt.Errorf("self-signed certificate: generate: %w", err)
	}
	if err := certutil.WriteCert(certFile, certPEM); err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	if err := keyutil.WriteKey(keyFile, keyPEM); err != nil {
		return "", "", fmt.Errorf("self-signed certificate: %w", err)
	}
	return certFile, keyFile, nil
}

// bootstrapCertificate is the kubelet's serverTLSBootstrap: client-go's certificate manager requests
// a kubernetes.io/kubelet-serving certificate for system:node:<name> with the node's addresses, keeps
// it under CertDir and renews it before it expires.
type bootstrapCertificate struct {
	manager certificate.Manager
	certDir string
}

func newBootstrapCertificate(cfg Config) (*bootstrapCertificate, error) {
	store, err := certificate.NewFileStore("kubelet-server", cfg.CertDir, cfg.CertDir, "", "")
	if err != nil {
		return nil, fmt.Errorf("certificate store %s: %w", cfg.CertDir, err)
	}
	ips, hostnames := addressSANs(cfg.NodeAddresses)
	client := cfg.Client
	m, err := certificate.NewManager(&certificate.Config{
		ClientsetFn: func(*tls.Certificate) (kubernetes.Interface, error) { return client, nil },
		Template: &x509.CertificateRequest{
			Subject:     pkix.Name{CommonName: "system:node:" + cfg.NodeName, Organization: []string{"system:nodes"}},
			DNSNames:    hostnames,
			IPAddresses: ips,
		},
		SignerName:       certificatesv1.KubeletServingSignerName,
		GetUsages:        certificate.DefaultKubeletServingGetUsages,
		CertificateStore: store,
		Name:             "kubelet-serving",
	})
	if err != nil {
		return nil, fmt.Errorf("certificate manager: %w", err)
	}
	return &bootstrapCertificate{manager: m, certDir: cfg.CertDir}, nil
}

func (b *bootstrapCertificate) Current() *tls.Certificate { return b.manager.Current() }

func (b *bootstrapCertificate) missing() error {
	return errors.New("no serving certificate yet: waiting for the kubernetes.io/kubelet-serving CertificateSigningRequest " +
		"to be approved and signed (kubectl certificate approve), kept in " + b.certDir)
}

func (b *bootstrapCertificate) run(ctx context.Context) {
	b.manager.Start()
	<-ctx.Done()
	b.manager.Stop()
}

// addressSANs splits node addresses into the certificate's IPs and host names, sorted and without
// duplicates, as the kubelet's serving certificate template does.
func addressSANs(addresses []corev1.NodeAddress) (ips []net.IP, hostnames []string) {
	var ipTexts []string
	for _, a := range addresses {
		if a.Address == "" {
			continue
		}
		ip := net.ParseIP(a.Address)
		switch a.Type {
		case corev1.NodeHostName:
			if ip != nil {
				ipTexts = append(ipTexts, ip.String())
			} else {
				hostnames = append(hostnames, a.Address)
			}
		case corev1.NodeExternalIP, corev1.NodeInternalIP:
			if ip != nil {
				ipTexts = append(ipTexts, ip.String())
			}
		case corev1.NodeExternalDNS, corev1.NodeInternalDNS:
			hostnames = append(hostnames, a.Address)
		}
	}
	slices.Sort(ipTexts)
	slices.Sort(hostnames)
	for _, t := range slices.Compact(ipTexts) {
		ips = append(ips, net.ParseIP(t))
	}
	return ips, slices.Compact(hostnames)
}
