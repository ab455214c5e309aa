package kubeapi

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"testing"
	"time"

	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/keyutil"
)

// ApproveAndSignKubeletServing does what an approver and kube-controller-manager's csrsigning controller
// do for the kubernetes.io/kubelet-serving CertificateSigningRequest called name (this control plane runs
// no controller manager): approve it, then issue a serverAuth certificate for the request's subject and
// names, signed by the cluster CA, valid for validity. It fails the test on any error.
func (c *Cluster) ApproveAndSignKubeletServing(t testing.TB, ctx context.Context, name string, validity time.Duration) {
	t.Helper()
	if err := approveAndSign(ctx, c.Admin(t), c.CACert, c.CAKey, name, validity); err != nil {
		t.Fatalf("kubeapi: sign CSR %s: %v", name, err)
	}
}

func approveAndSign(ctx context.Context, admin kubernetes.Interface, caCert, caKeyFile, name string, validity time.Duration) error {
	csrs := admin.CertificatesV1().CertificateSigningRequests()
	csr, err := csrs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if csr.Spec.SignerName != certificatesv1.KubeletServingSignerName {
		return fmt.Errorf("signer %q, want %q", csr.Spec.SignerName, certificatesv1.KubeletServingSignerName)
	}
	csr.Status.Conditions = append(csr.Status.Conditions, certificatesv1.CertificateSigningRequestCondition{
		Type: certificatesv1.CertificateApproved, Status: corev1.ConditionTrue, Reason: "StaticletTest", Message: "approved by the test",
	})
	if csr, err = csrs.UpdateApproval(ctx, name, csr, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("approve: %w", err)
	}
	block, _ := pem.Decode(csr.Spec.Request)
	if block == nil {
		return fmt.Errorf("request holds no PEM block")
	}
	req, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return fmt.Errorf("parse request: %w", err)
	}
	if err := req.CheckSignature(); err != nil {
		return fmt.Errorf("request signature: %w", err)
	}
	certPEM, err := issueServing(caCert, caKeyFile, req.Subject, req.DNSNames, req.IPAddresses, req.PublicKey, validity)
	if err != nil {
		return err
	}
	csr.Status.Certificate = certPEM
	if _, err := csrs.UpdateStatus(ctx, csr, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("store certificate: %w", err)
	}
	return nil
}

// IssueKubeletServing issues a serverAuth certificate for subject, DNS names and IPs and the public key
// pub, signed by the cluster CA and valid for validity, as PEM: what kube-controller-manager signs for a
// kubernetes.io/kubelet-serving request. It fails the test on any error.
func (c *Cluster) IssueKubeletServing(t testing.TB, subject pkix.Name, dnsNames []string, ips []net.IP, pub crypto.PublicKey, validity time.Duration) []byte {
	t.Helper()
	certPEM, err := issueServing(c.CACert, c.CAKey, subject, dnsNames, ips, pub, validity)
	if err != nil {
		t.Fatalf("kubeapi: issue a kubelet serving certificate: %v", err)
	}
	return certPEM
}

func issueServing(caCert, caKeyFile string, subject pkix.Name, dnsNames []string, ips []net.IP, pub crypto.PublicKey, validity time.Duration) ([]byte, error) {
	caPEM, err := os.ReadFile(caCert)
	if err != nil {
		return nil, err
	}
	caBlock, _ := pem.Decode(caPEM)
	if caBlock == nil {
		return nil, fmt.Errorf("%s holds no PEM block", caCert)
	}
	ca, err := x509.ParseCertificate(caBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA: %w", err)
	}
	caKey, err := keyutil.PrivateKeyFromFile(caKeyFile)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: subject, DNSNames: dnsNames, IPAddresses: ips,
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(validity),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, pub, caKey)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}
