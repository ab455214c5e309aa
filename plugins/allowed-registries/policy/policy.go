// Package policy is the allowed-registries plugin's logic: every container
// image must come from an allowed registry (or repository prefix), and
// optionally be pinned by digest or carry an explicit non-latest tag. It does
// no IO.
package policy

import (
	"errors"
	"fmt"
	"strings"

	"github.com/staticlet/staticlet/sdk"
)

// Settings configure the plugin.
type Settings struct {
	// Registries are allowed prefixes of the normalized image reference:
	// "registry.k8s.io" allows every image there, "docker.io/library"
	// only official Docker Hub images. An image written without a registry
	// ("nginx") is normalized to "docker.io/library/nginx".
	Registries []string `json:"registries"`
	// RequireDigest denies images not pinned with @sha256:.
	RequireDigest bool `json:"requireDigest"`
	// DenyLatest denies images without a tag or with the tag "latest"
	// (unless pinned by digest).
	DenyLatest bool `json:"denyLatest"`
}

// Plugin is the allowed-registries plugin.
var Plugin = sdk.Plugin[Settings]{
	Name:        "allowed-registries",
	Version:     "0.1.0",
	Description: "Denies container images from registries outside an allow-list.",
	SettingsSchema: []byte(`{"type":"object","additionalProperties":false,"required":["registries"],"properties":{` +
		`"registries":{"type":"array","items":{"type":"string"},"minItems":1},` +
		`"requireDigest":{"type":"boolean"},"denyLatest":{"type":"boolean"}}}`),
	CheckSettings: func(s Settings) error {
		if len(s.Registries) == 0 {
			return errors.New("registries: at least one registry is required")
		}
		for i, r := range s.Registries {
			if r == "" || strings.Contains(r, "://") || strings.HasSuffix(r, "/") {
				return fmt.Errorf("registries[%d]: %q must look like registry.example.com or registry.example.com/team", i, r)
			}
		}
		return nil
	},
	Validate: validate,
}

func validate(req *sdk.Request, s Settings) (sdk.Validation, error) {
	var v sdk.Validation
	pod, err := req.Pod()
	if err != nil {
		return v, err
	}
	for _, ref := range pod.Spec.AllContainers() {
		field := ref.Field + ".image"
		image := ref.Container.Image
		ref := Normalize(image)
		if !allowed(ref.Repository, s.Registries) {
			v.Deny("RegistryNotAllowed", field, "image %q (%s) is not from an allowed registry %v", image, ref.Repository, s.Registries)
		}
		if s.RequireDigest && ref.Digest == "" {
			v.Deny("DigestRequired", field, "image %q must be pinned by digest (@sha256:...)", image)
		}
		if s.DenyLatest && ref.Digest == "" && (ref.Tag == "" || ref.Tag == "latest") {
			v.Deny("LatestTag", field, "image %q must have an explicit tag other than latest", image)
		}
	}
	return v, nil
}

// Reference is a parsed image reference.
type Reference struct {
	// Repository is the normalized name without tag or digest, such as
	// "docker.io/library/nginx".
	Repository string
	Tag        string
	Digest     string
}

// Normalize parses an image reference the way container runtimes do.
func Normalize(image string) Reference {
	var r Reference
	name := image
	if i := strings.Index(name, "@"); i >= 0 {
		name, r.Digest = name[:i], name[i+1:]
	}
	if i := strings.LastIndex(name, ":"); i >= 0 && !strings.Contains(name[i:], "/") {
		name, r.Tag = name[:i], name[i+1:]
	}
	first, _, hasSlash := strings.Cut(name, "/")
	switch {
	case !hasSlash:
		name = "docker.io/library/" + name
	case !strings.ContainsAny(first, ".:") && first != "localhost":
		name = "docker.io/" + name
	}
	r.Repository = name
	return r
}

func allowed(repo string, registries []string) bool {
	for _, reg := range registries {
		if repo == reg || strings.HasPrefix(repo, reg+"/") {
			return true
		}
	}
	return false
}
