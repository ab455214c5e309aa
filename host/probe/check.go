package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Dial opens a connection as the probe's network view sees it (for a pod
// with its own network namespace: from inside it).
type Dial func(ctx context.Context, network, address string) (net.Conn, error)

// UserAgent is sent by httpGet checks unless the probe sets its own, as the
// kubelet sends kube-probe/<minor>.
const UserAgent = "kube-probe/1.37"

// maxBody is how much of a response is read, as the kubelet does (10 KiB).
const maxBody = 10 << 10

// ResolvePort turns a probe's port, a number or the name of one of the
// container's ports, into a number.
func ResolvePort(port intstr.IntOrString, c *corev1.Container) (int, error) {
	if port.Type == intstr.Int {
		return int(port.IntVal), nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("port %q: the container has no port of that name", port.StrVal)
}

// HTTPGet runs an httpGet check against defaultHost when the action names
// no host: success is a status in [200, 400). HTTPS is not verified, as in
// the kubelet; redirects are not followed, so a redirect counts as success
// (the kubelet follows those to the same host and passes those elsewhere).
func HTTPGet(ctx context.Context, dial Dial, a *corev1.HTTPGetAction, c *corev1.Container, defaultHost string) Result {
	port, err := ResolvePort(a.Port, c)
	if err != nil {
		return Result{Message: err.Error()}
	}
	host := a.Host
	if host == "" {
		host = defaultHost
	}
	scheme := strings.ToLower(string(a.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := a.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, strconv.Itoa(port))}
	ref, err := url.Parse(path)
	if err != nil {
		return Result{Message: fmt.Sprintf("path %q: %v", a.Path, err)}
	}
	u = u.ResolveReference(ref)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Result{Message: err.Error()}
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range a.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
			continue
		}
		req.Header.Set(h.Name, h.Value)
	}
	transport := &http.Transport{
		DialContext:       dial,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes do not verify, as in the kubelet
		DisableKeepAlives: true,
		Proxy:             nil,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return Result{Message: fmt.Sprintf("GET %s: %v", u, err)}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return Result{OK: true, StatusCode: resp.StatusCode}
	}
	return Result{Message: fmt.Sprintf("GET %s: HTTP status %d: %s", u, resp.StatusCode, strings.TrimSpace(string(body))), StatusCode: resp.StatusCode}
}

// TCPSocket succeeds when a TCP connection to host:port opens.
func TCPSocket(ctx context.Context, dial Dial, a *corev1.TCPSocketAction, c *corev1.Container, defaultHost string) Result {
	port, err := ResolvePort(a.Port, c)
	if err != nil {
		return Result{Message: err.Error()}
	}
	host := a.Host
	if host == "" {
		host = defaultHost
	}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	conn, err := dial(ctx, "tcp", addr)
	if err != nil {
		return Result{Message: fmt.Sprintf("dial %s: %v", addr, err)}
	}
	conn.Close()
	return Result{OK: true}
}

// GRPC runs the standard gRPC health check (grpc.health.v1.Health/Check)
// on host:port; success is SERVING. Plaintext, as the kubelet does.
func GRPC(ctx context.Context, dial Dial, a *corev1.GRPCAction, host string) Result {
	addr := net.JoinHostPort(host, strconv.Itoa(int(a.Port)))
	var creds credentials.TransportCredentials = insecure.NewCredentials()
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) { return dial(ctx, "tcp", addr) }),
		grpc.WithUserAgent(UserAgent))
	if err != nil {
		return Result{Message: fmt.Sprintf("grpc %s: %v", addr, err)}
	}
	defer conn.Close()
	service := ""
	if a.Service != nil {
		service = *a.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		return Result{Message: fmt.Sprintf("grpc health check %s: %v", addr, err)}
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		return Result{Message: fmt.Sprintf("grpc health check %s: service %q is %s", addr, service, resp.GetStatus())}
	}
	return Result{OK: true}
}
