// Package kubeletapi serves the subset of the kubelet's HTTPS API that the API server and kubectl use on a
// node's static pods: /healthz, /pods, /containerLogs, /exec, /attach, /portForward, /run and
// /metrics/resource (what metrics-server and `kubectl top` read), on the port
// the Node advertises, with the kubelet's paths, query parameters, error texts and authorization
// attributes, so `kubectl logs/exec/attach/port-forward` and the node proxy work unchanged.
//
// It owns the server's TLS (a configured certificate reloaded when its files change, a certificate
// bootstrapped and rotated through a kubernetes.io/kubelet-serving CertificateSigningRequest, or a
// self-signed one as the kubelet makes), the delegated authentication (client certificates against
// authentication.x509.clientCAFile, bearer tokens by TokenReview) and authorization (SubjectAccessReview
// or AlwaysAllow), and the attach of a container: staticlet's containers have no stdin or tty, so attach
// streams the current run's live output from its log file.
//
// IO: listens on TCP; calls the API server for TokenReview, SubjectAccessReview and
// CertificateSigningRequests; reads and watches the certificate and CA files and writes the self-signed or
// bootstrapped certificate under CertDir; reads container log files under PodLogDir; calls the container
// runtime through Containers; reads resource usage through ResourceStats.
package kubeletapi
