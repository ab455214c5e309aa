package kubeletapi

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	kubeletconfigv1beta1 "k8s.io/kubelet/config/v1beta1"
)

// webhookRetryBackoff is k8s.io/apiserver's DefaultAuthWebhookRetryBackoff, which the kubelet uses for
// TokenReview and SubjectAccessReview; copied because its package pulls in the whole generic API server.
func webhookRetryBackoff() *wait.Backoff {
	return &wait.Backoff{Duration: 500 * time.Millisecond, Factor: 1.5, Jitter: 0.2, Steps: 5}
}

// newAuthenticator builds the kubelet's delegated authentication: client certificates verified against
// the client CA file (reloaded when it changes), bearer tokens by TokenReview, anonymous last if enabled.
func newAuthenticator(cfg Config) (authenticator.Request, *dynamiccertificates.DynamicFileCAContent, error) {
	authn := cfg.Authentication
	var clientCA *dynamiccertificates.DynamicFileCAContent
	factory := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous: &apiserver.AnonymousAuthConfig{Enabled: *authn.Anonymous.Enabled},
		CacheTTL:  authn.Webhook.CacheTTL.Duration,
	}
	if authn.X509.ClientCAFile != "" {
		var err error
		clientCA, err = dynamiccertificates.NewDynamicCAContentFromFile("client-ca-bundle", authn.X509.ClientCAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("x509.clientCAFile %s: %w", authn.X509.ClientCAFile, err)
		}
		// Assigned only when set: a nil *DynamicFileCAContent in the interface would not read as nil.
		factory.ClientCertificateCAContentProvider = clientCA
	}
	if *authn.Webhook.Enabled {
		factory.TokenAccessReviewClient = cfg.Client.AuthenticationV1()
		factory.WebhookRetryBackoff = webhookRetryBackoff()
	}
	a, _, err := factory.New()
	if err != nil {
		return nil, nil, err
	}
	return a, clientCA, nil
}

// newAuthorizer builds the kubelet's authorizer: SubjectAccessReview with cached answers, or allow all.
func newAuthorizer(cfg Config) (authorizer.Authorizer, error) {
	authz := cfg.Authorization
	if authz.Mode == kubeletconfigv1beta1.KubeletAuthorizationModeAlwaysAllow {
		return authorizerfactory.NewAlwaysAllowAuthorizer(), nil
	}
	return authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: cfg.Client.AuthorizationV1(),
		AllowCacheTTL:             authz.Webhook.CacheAuthorizedTTL.Duration,
		DenyCacheTTL:              authz.Webhook.CacheUnauthorizedTTL.Duration,
		WebhookRetryBackoff:       webhookRetryBackoff(),
	}.New()
}

// withAuth authenticates and authorizes every request as the kubelet's auth filter: 401 when no
// authenticator accepts it, 403 naming the attributes when no subresource is allowed.
func (s *Server) withAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, ok, err := s.authn.AuthenticateRequest(r)
		if err != nil {
			s.log.Warn("kubelet API: unable to authenticate the request", "path", r.URL.Path, "error", err)
		}
		if err != nil || !ok {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		attrs := requestAttributes(s.cfg.NodeName, resp.User, r)
		subresources := make([]string, 0, len(attrs))
		for _, attr := range attrs {
			subresources = append(subresources, attr.GetSubresource())
			decision, _, err := s.authz.Authorize(r.Context(), attr)
			if err != nil {
				s.log.Error("kubelet API: authorization error", "user", attr.GetUser().GetName(), "verb", attr.GetVerb(),
					"subresource", attr.GetSubresource(), "error", err)
				http.Error(w, fmt.Sprintf("Authorization error (user=%s, verb=%s, resource=%s, subresource=%s)",
					attr.GetUser().GetName(), attr.GetVerb(), attr.GetResource(), attr.GetSubresource()), http.StatusInternalServerError)
				return
			}
			if decision == authorizer.DecisionAllow {
				next.ServeHTTP(w, r)
				return
			}
		}
		s.log.Debug("kubelet API: forbidden", "user", resp.User.GetName(), "verb", attrs[0].GetVerb(), "subresources", subresources)
		http.Error(w, fmt.Sprintf("Forbidden (user=%s, verb=%s, resource=%s, subresource(s)=%v)",
			resp.User.GetName(), attrs[0].GetVerb(), attrs[0].GetResource(), subresources), http.StatusForbidden)
	})
}

// requestAttributes are the kubelet's (v1.37, KubeletFineGrainedAuthz locked on) authorization
// attributes of a request: verb from the HTTP method, resource nodes named after the node, and the
// subresources tried in order: a fine-grained one for /pods, /healthz and /configz before proxy, a
// specific one for /stats, /metrics, /logs, /checkpoint, /statusz and /flagz, else proxy.
func requestAttributes(nodeName string, u user.Info, r *http.Request) []authorizer.Attributes {
	verb := map[string]string{
		http.MethodPost: "create", http.MethodGet: "get", http.MethodPut: "update",
		http.MethodPatch: "patch", http.MethodDelete: "delete",
	}[r.Method]
	path := r.URL.Path
	var subresources []string
	switch {
	case isSubpath(path, "/allocatedPods"), isSubpath(path, "/pods"), isSubpath(path, "/runningpods/"):
		subresources = append(subresources, "pods")
	case isSubpath(path, "/healthz"):
		subresources = append(subresources, "healthz")
	case isSubpath(path, "/configz"):
		subresources = append(subresources, "configz")
	}
	switch {
	case isSubpath(path, "/stats/"):
		subresources = append(subresources, "stats")
	case isSubpath(path, "/metrics"):
		subresources = append(subresources, "metrics")
	case isSubpath(path, "/logs/"):
		subresources = append(subresources, "log") // as other log subresources (pods/log)
	case isSubpath(path, "/checkpoint/"):
		subresources = append(subresources, "checkpoint")
	case isSubpath(path, "/statusz"):
		subresources = append(subresources, "statusz")
	case isSubpath(path, "/flagz"):
		subresources = append(subresources, "configz")
	default:
		subresources = append(subresources, "proxy")
	}
	attrs := make([]authorizer.Attributes, 0, len(subresources))
	for _, sub := range subresources {
		attrs = append(attrs, authorizer.AttributesRecord{
			User: u, Verb: verb, APIVersion: "v1", Resource: "nodes", Subresource: sub,
			Name: nodeName, ResourceRequest: true, Path: path,
		})
	}
	return attrs
}

// isSubpath reports whether subpath is path or below it.
func isSubpath(subpath, path string) bool {
	path = strings.TrimSuffix(path, "/")
	return subpath == path || (strings.HasPrefix(subpath, path) && subpath[len(path)] == '/')
}
