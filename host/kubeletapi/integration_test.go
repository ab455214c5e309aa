package kubeletapi

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	certificatesv1 "k8s.io/api/certificates/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"

	"github.com/staticlet/staticlet/internal/testenv"
	"github.com/staticlet/staticlet/internal/testenv/kubeapi"
)

// clusterConfig is the server as staticlet runs it against the test cluster: the node's credentials,
// the cluster CA for client certificates, webhook authentication and authorization (denials cached
// only briefly, so a role bound during the test takes effect at once).
func clusterConfig(t *testing.T, c *kubeapi.Cluster) Config {
	return Config{
		NodeName: c.NodeName, Port: 10250, CertDir: t.TempDir(), PodLogDir: writeLogs(t), Client: c.Node(t),
		NodeAddresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}},
		Authentication: kubeletconfigv1beta1.KubeletAuthentication{
			X509: kubeletconfigv1beta1.KubeletX509Authentication{ClientCAFile: c.CACert},
		},
		Authorization: kubeletconfigv1beta1.KubeletAuthorization{
			Webhook: kubeletconfigv1beta1.KubeletWebhookAuthorization{CacheUnauthorizedTTL: metav1.Duration{Duration: time.Millisecond}},
		},
	}
}

// apiserverClientTLS is the TLS the API server uses towards kubelets: its kubelet client certificate
// (O=system:masters), trusting roots.
func apiserverClientTLS(t *testing.T, c *kubeapi.Cluster, roots *x509.CertPool) *tls.Config {
	t.Helper()
	pki := filepath.Dir(c.CACert)
	pair, err := tls.LoadX509KeyPair(filepath.Join(pki, "apiserver-kubelet-client.crt"), filepath.Join(pki, "apiserver-kubelet-client.key"))
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}}
}

func poolFromFile(t *testing.T, path string) *x509.CertPool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		t.Fatalf("no certificate in %s", path)
	}
	return pool
}

func clientWith(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

func TestClusterWebhookAuthenticationAndAuthorization(t *testing.T) {
	c := kubeapi.Start(t)
	admin := c.Admin(t)
	ctx := t.Context()
	s, err := New(clusterConfig(t, c), newFakePods(), fakeContainers{})
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + serveTLS(t, s)
	// The self-signed certificate's file holds its own CA too.
	serverRoots := poolFromFile(t, filepath.Join(s.cfg.CertDir, "kubelet.crt"))
	plain := clientWith(&tls.Config{RootCAs: serverRoots})

	if code, body := get(t, plain, base+"/pods"); code != http.StatusUnauthorized {
		t.Fatalf("no credentials: %d %q", code, body)
	}

	if code, body := get(t, clientWith(apiserverClientTLS(t, c, serverRoots)), base+"/pods"); code != http.StatusOK || !strings.Contains(body, testPodName) {
		t.Fatalf("the API server's kubelet client certificate: %d %q", code, body)
	}

	// A certificate of the cluster CA authenticates as its CN; RBAC grants that user nothing.
	userREST := kubeapi.RESTConfig(t, c.UserKubeconfig)
	userTLS, err := rest.TLSConfigFor(userREST)
	if err != nil {
		t.Fatal(err)
	}
	userTLS.RootCAs = serverRoots
	if code, body := get(t, clientWith(userTLS), base+"/pods"); code != http.StatusForbidden || !strings.Contains(body, "user=staticlet-test-user,") {
		t.Fatalf("unprivileged client certificate: %d %q", code, body)
	}

	const saName = "kubeletapi-viewer"
	if _, err := admin.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: saName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	expiry := int64(600)
	tr, err := admin.CoreV1().ServiceAccounts("default").CreateToken(ctx, saName,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bearer := http.Header{"Authorization": {"Bearer " + tr.Status.Token}}
	execURL := base + "/exec/default/web-worker-1/app?command=id&output=1&error=1"

	code, body := do(t, plain, http.MethodGet, base+"/pods", bearer)
	if want := "Forbidden (user=system:serviceaccount:default:" + saName + ", verb=get, resource=nodes, subresource(s)=[pods proxy])\n"; code != http.StatusForbidden || body != want {
		t.Fatalf("token without RBAC: /pods: %d %q, want %q", code, body, want)
	}
	code, body = do(t, plain, http.MethodPost, execURL, bearer)
	if want := "subresource(s)=[proxy])"; code != http.StatusForbidden || !strings.Contains(body, want) {
		t.Fatalf("token without RBAC: /exec: %d %q", code, body)
	}

	role := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "kubeletapi-test-node-access"},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"nodes/proxy", "nodes/pods"}, Verbs: []string{"get", "create"}}},
	}
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "default", Name: saName}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, 20*time.Second, func() error {
		if code, body := do(t, plain, http.MethodGet, base+"/pods", bearer); code != http.StatusOK {
			return fmt.Errorf("token with RBAC: /pods: %d %q", code, body)
		}
		return nil
	})
	var stdout, stderr testenv.SyncBuffer
	status, err := spdyStream(&tls.Config{RootCAs: serverRoots}, http.MethodPost, execURL, bearer, &stdout, &stderr)
	if err != nil || !strings.Contains(status, `"status":"Success"`) || !strings.Contains(stdout.String(), "/app: id") {
		t.Fatalf("token with RBAC: exec: %v, status %s, stdout %q", err, status, stdout.String())
	}
}

func TestClusterServerTLSBootstrap(t *testing.T) {
	c := kubeapi.Start(t)
	admin := c.Admin(t)
	ctx := t.Context()
	cfg := clusterConfig(t, c)
	cfg.ServerTLSBootstrap = true
	s, err := New(cfg, newFakePods(), fakeContainers{})
	if err != nil {
		t.Fatal(err)
	}
	base := "https://" + serveTLS(t, s)
	client := clientWith(apiserverClientTLS(t, c, poolFromFile(t, c.CACert)))
	if resp, err := client.Get(base + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("a handshake succeeded before a certificate was issued: %s", resp.Status)
	}

	var csr *certificatesv1.CertificateSigningRequest
	testenv.Eventually(t, 20*time.Second, func() error {
		list, err := admin.CertificatesV1().CertificateSigningRequests().List(ctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		for i := range list.Items {
			item := &list.Items[i]
			if item.Spec.SignerName == certificatesv1.KubeletServingSignerName && item.Spec.Username == "system:node:"+c.NodeName {
				csr = item
				return nil
			}
		}
		return fmt.Errorf("no kubelet-serving CSR by system:node:%s among %d", c.NodeName, len(list.Items))
	})

	if st := s.Status(); st.CertificateSource != CertificateFromBootstrap || !st.NotAfter.IsZero() ||
		!strings.Contains(st.Waiting, "kubectl certificate approve") {
		t.Errorf("status before approval: %+v, want bootstrap waiting for approval", st)
	}
	c.ApproveAndSignKubeletServing(t, ctx, csr.Name, time.Hour)

	testenv.Eventually(t, 30*time.Second, func() error {
		resp, err := client.Get(base + "/healthz")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/healthz: %s", resp.Status)
		}
		if cn := resp.TLS.PeerCertificates[0].Subject.CommonName; cn != "system:node:"+c.NodeName {
			return fmt.Errorf("served certificate of %q", cn)
		}
		return nil
	})
	if st := s.Status(); st.Waiting != "" || time.Until(st.NotAfter) < 50*time.Minute {
		t.Errorf("status once signed: %+v, want the hour-long certificate", st)
	}
	if _, err := os.Stat(filepath.Join(cfg.CertDir, "kubelet-server-current.pem")); err != nil {
		t.Errorf("the bootstrapped certificate is not kept in CertDir: %v", err)
	}
}
