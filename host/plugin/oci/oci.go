// Package oci gets staticlet plugins published as OCI artifacts:
// `oci://registry/repository@sha256:<digest>` references (a digest is
// required; Resolve turns a tag into one, for a person to pin), pulled into a
// local content store, their cosign signature verified against configured
// public keys before first use, and served from the store afterwards, so a
// restart needs no registry. It also publishes: Push uploads a module as a
// Wasm artifact (the layout wasm-to-oci and Kubewarden use) and Sign attaches
// a cosign-compatible signature (`cosign verify --key` accepts it). IO:
// registry HTTP(S) through go-containerregistry, and the store folder.
package oci

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Scheme prefixes a plugin path that names an OCI artifact.
const Scheme = "oci://"

// Media types of a Wasm plugin artifact and of a cosign signature.
const (
	WasmLayerMediaType  types.MediaType = "application/vnd.wasm.content.layer.v1+wasm"
	WasmConfigMediaType types.MediaType = "application/vnd.wasm.config.v1+json"
	signatureMediaType  types.MediaType = "application/vnd.dev.cosign.simplesigning.v1+json"
	signatureAnnotation                 = "dev.cosignproject.cosign/signature"
)

// Sentinel kinds of failure.
var (
	ErrReference = errors.New("invalid plugin reference")
	ErrPull      = errors.New("cannot pull plugin")
	ErrVerify    = errors.New("plugin signature not verified")
	ErrKey       = errors.New("invalid key")
)

var digestPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Reference is a pinned artifact: registry/repository@sha256:hex.
type Reference struct {
	Repository string // registry/repository, e.g. localhost:5000/policies/psp
	Digest     string // sha256:<64 hex digits>
}

func (r Reference) String() string { return Scheme + r.Repository + "@" + r.Digest }

// IsReference reports whether a plugin path names an OCI artifact.
func IsReference(path string) bool { return strings.HasPrefix(path, Scheme) }

// ParseReference parses oci://registry/repository@sha256:hex. A tag, or no
// digest, is refused: a tag can move, and the agent never follows one
// silently (Resolve pins it).
func ParseReference(s string) (Reference, error) {
	rest, ok := strings.CutPrefix(s, Scheme)
	if !ok {
		return Reference{}, fmt.Errorf("%w: %q does not start with %s", ErrReference, s, Scheme)
	}
	repo, digest, ok := strings.Cut(rest, "@")
	if !ok {
		return Reference{}, fmt.Errorf("%w: %q has no @sha256:<digest>; a tag is not pinned (`staticlet plugin resolve %s` prints the digest it points at now)", ErrReference, s, s)
	}
	if !digestPattern.MatchString(digest) {
		return Reference{}, fmt.Errorf("%w: %q: the digest must be sha256: and 64 lowercase hexadecimal digits", ErrReference, s)
	}
	if _, err := name.NewRepository(repo, name.StrictValidation); err != nil {
		return Reference{}, fmt.Errorf("%w: %q: repository %q is not registry/name (no tag before @): %w", ErrReference, s, repo, err)
	}
	return Reference{Repository: repo, Digest: digest}, nil
}

func (r Reference) name() (name.Digest, error) {
	d, err := name.NewDigest(r.Repository + "@" + r.Digest)
	if err != nil {
		return name.Digest{}, fmt.Errorf("%w: %s: %w", ErrReference, r, err)
	}
	return d, nil
}

// Store is the local content store: <Dir>/sha256/<hex>/module.wasm for each
// pulled and verified artifact.
type Store struct {
	Dir string
	// Keys verify signatures: an artifact is used only if one of them
	// verifies a cosign signature of its manifest digest. Empty means
	// every pull is refused.
	Keys []crypto.PublicKey
	// Options are go-containerregistry's remote options (transport,
	// authentication), applied after the defaults (credentials from the
	// Docker configuration, defaultOptions).
	Options []remote.Option
}

// Path is where the store keeps ref's module.
func (s *Store) Path(ref Reference) string {
	return filepath.Join(s.Dir, "sha256", strings.TrimPrefix(ref.Digest, "sha256:"), "module.wasm")
}

// Fetch returns the path of ref's module in the store, pulling and
// verifying it first unless the store already has it (then no registry is
// contacted: offline restarts work). The module is written only after the
// signature verified, so a file in the store is a verified one.
func (s *Store) Fetch(ctx context.Context, ref Reference) (string, error) {
	path := s.Path(ref)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if len(s.Keys) == 0 {
		return "", fmt.Errorf("%w: %s: no public key is configured to verify it", ErrVerify, ref)
	}
	module, err := s.pull(ctx, ref)
	if err != nil {
		return "", err
	}
	if err := s.verify(ctx, ref); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("plugin store: %w", err)
	}
	tmp := fmt.Sprintf("%s.%d.tmp", path, os.Getpid())
	if err := os.WriteFile(tmp, module, 0o600); err != nil {
		return "", fmt.Errorf("plugin store: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("plugin store: %w", err)
	}
	return path, nil
}

func (s *Store) remoteOptions(ctx context.Context) []remote.Option {
	return append(defaultOptions(ctx), s.Options...)
}

// defaultOptions authenticate as `docker login` (and cosign, crane, oras)
// would: with the credentials of the Docker configuration ($DOCKER_CONFIG or
// ~/.docker/config.json of the user the agent runs as), anonymously where
// it has none.
func defaultOptions(ctx context.Context) []remote.Option {
	return []remote.Option{remote.WithContext(ctx), remote.WithAuthFromKeychain(authn.DefaultKeychain)}
}

// pull fetches the manifest by digest (go-containerregistry checks it
// against the digest) and its Wasm layer, checked against the layer digest.
func (s *Store) pull(ctx context.Context, ref Reference) ([]byte, error) {
	d, err := ref.name()
	if err != nil {
		return nil, err
	}
	img, err := remote.Image(d, s.remoteOptions(ctx)...)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPull, ref, err)
	}
	manifest, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("%w: %s: manifest: %w", ErrPull, ref, err)
	}
	var wasm []v1.Descriptor
	for _, l := range manifest.Layers {
		if l.MediaType == WasmLayerMediaType {
			wasm = append(wasm, l)
		}
	}
	if len(wasm) != 1 {
		return nil, fmt.Errorf("%w: %s: the artifact has %d layers of type %s, want exactly one", ErrPull, ref, len(wasm), WasmLayerMediaType)
	}
	layer, err := img.LayerByDigest(wasm[0].Digest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrPull, ref, err)
	}
	data, err := readBlob(layer, wasm[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %s: module layer: %w", ErrPull, ref, err)
	}
	return data, nil
}

// readBlob reads a layer and checks its size and sha256 against the
// manifest's descriptor.
func readBlob(layer v1.Layer, desc v1.Descriptor) ([]byte, error) {
	rc, err := layer.Compressed()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, desc.Size+1))
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(data)
	if got := "sha256:" + hex.EncodeToString(sum[:]); int64(len(data)) != desc.Size || got != desc.Digest.String() {
		return nil, fmt.Errorf("content has digest %s (%d bytes), the manifest says %s (%d bytes)", got, len(data), desc.Digest, desc.Size)
	}
	return data, nil
}

// simpleSigning is cosign's signed payload ("simple signing" format).
type simpleSigning struct {
	Critical struct {
		Identity struct {
			DockerReference string `json:"docker-reference"`
		} `json:"identity"`
		Image struct {
			DockerManifestDigest string `json:"docker-manifest-digest"`
		} `json:"image"`
		Type string `json:"type"`
	} `json:"critical"`
	Optional map[string]any `json:"optional"`
}

// signatureTag is where cosign keeps an artifact's signatures.
func signatureTag(ref Reference) string {
	return ref.Repository + ":" + strings.Replace(ref.Digest, ":", "-", 1) + ".sig"
}

// verify accepts ref when one of the signatures attached to it (cosign's
// sha256-<hex>.sig tag) is by one of the keys over a payload naming ref's
// digest and repository.
func (s *Store) verify(ctx context.Context, ref Reference) error {
	tag, err := name.NewTag(signatureTag(ref))
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrVerify, ref, err)
	}
	img, err := remote.Image(tag, s.remoteOptions(ctx)...)
	if err != nil {
		return fmt.Errorf("%w: %s: no signature found at %s: %w", ErrVerify, ref, tag, err)
	}
	manifest, err := img.Manifest()
	if err != nil {
		return fmt.Errorf("%w: %s: signature manifest: %w", ErrVerify, ref, err)
	}
	var reasons []string
	for _, desc := range manifest.Layers {
		sig, err := base64.StdEncoding.DecodeString(desc.Annotations[signatureAnnotation])
		if err != nil || len(sig) == 0 {
			reasons = append(reasons, "a signature layer without a signature annotation")
			continue
		}
		layer, err := img.LayerByDigest(desc.Digest)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrVerify, ref, err)
		}
		payload, err := readBlob(layer, desc)
		if err != nil {
			return fmt.Errorf("%w: %s: signature payload: %w", ErrVerify, ref, err)
		}
		if !verifiedByAny(s.Keys, payload, sig) {
			reasons = append(reasons, "a signature by none of the configured keys")
			continue
		}
		var p simpleSigning
		if err := json.Unmarshal(payload, &p); err != nil {
			reasons = append(reasons, "a signed payload that is not simple signing JSON")
			continue
		}
		if p.Critical.Image.DockerManifestDigest != ref.Digest {
			reasons = append(reasons, fmt.Sprintf("a signature of another digest (%s)", p.Critical.Image.DockerManifestDigest))
			continue
		}
		if p.Critical.Identity.DockerReference != ref.Repository {
			reasons = append(reasons, fmt.Sprintf("a signature for another repository (%s)", p.Critical.Identity.DockerReference))
			continue
		}
		return nil
	}
	if len(reasons) == 0 {
		reasons = append(reasons, "no signatures")
	}
	return fmt.Errorf("%w: %s: found %s", ErrVerify, ref, strings.Join(reasons, "; "))
}

func verifiedByAny(keys []crypto.PublicKey, payload, sig []byte) bool {
	digest := sha256.Sum256(payload)
	for _, k := range keys {
		if pub, ok := k.(*ecdsa.PublicKey); ok && ecdsa.VerifyASN1(pub, digest[:], sig) {
			return true
		}
	}
	return false
}

// ParsePublicKey reads a PEM "PUBLIC KEY" (PKIX) ECDSA key, the format of
// cosign's cosign.pub.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: not a PEM PUBLIC KEY block", ErrKey)
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	if _, ok := key.(*ecdsa.PublicKey); !ok {
		return nil, fmt.Errorf("%w: a %T; cosign keys are ECDSA", ErrKey, key)
	}
	return key, nil
}

// ParsePrivateKey reads a PEM "PRIVATE KEY" (PKCS #8) ECDSA key, as
// GenerateKey writes and `openssl genpkey -algorithm EC -pkeyopt
// ec_paramgen_curve:P-256` makes.
func ParsePrivateKey(data []byte) (*ecdsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: not a PEM PRIVATE KEY (PKCS #8) block", ErrKey)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKey, err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T; use an ECDSA P-256 key", ErrKey, key)
	}
	return ec, nil
}

// EncodeKeyPair returns key as PEM: the private key (PKCS #8) and the public
// key (PKIX).
func EncodeKeyPair(key *ecdsa.PrivateKey) (private, public []byte, err error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), nil
}

// Resolve returns the digest a tag (oci://registry/repository:tag) points
// at now, as a pinned Reference.
func Resolve(ctx context.Context, tagRef string, opts ...remote.Option) (Reference, error) {
	tag, err := parseTag(tagRef)
	if err != nil {
		return Reference{}, err
	}
	desc, err := remote.Head(tag, append(defaultOptions(ctx), opts...)...)
	if err != nil {
		return Reference{}, fmt.Errorf("%w: %s: %w", ErrPull, tagRef, err)
	}
	return Reference{Repository: tag.Context().Name(), Digest: desc.Digest.String()}, nil
}

// parseTag parses oci://registry/repository:tag.
func parseTag(tagRef string) (name.Tag, error) {
	rest, ok := strings.CutPrefix(tagRef, Scheme)
	if !ok {
		return name.Tag{}, fmt.Errorf("%w: %q does not start with %s", ErrReference, tagRef, Scheme)
	}
	tag, err := name.NewTag(rest, name.StrictValidation)
	if err != nil {
		return name.Tag{}, fmt.Errorf("%w: %q: %w", ErrReference, tagRef, err)
	}
	return tag, nil
}

// Push uploads module as a Wasm artifact tagged oci://registry/repository:tag
// and returns its pinned reference.
func Push(ctx context.Context, tagRef string, module []byte, opts ...remote.Option) (Reference, error) {
	tag, err := parseTag(tagRef)
	if err != nil {
		return Reference{}, err
	}
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		mutate.Addendum{Layer: static.NewLayer(module, WasmLayerMediaType), MediaType: WasmLayerMediaType})
	if err != nil {
		return Reference{}, err
	}
	img = mutate.ConfigMediaType(img, WasmConfigMediaType)
	if err := remote.Write(tag, img, append(defaultOptions(ctx), opts...)...); err != nil {
		return Reference{}, fmt.Errorf("push %s: %w", tagRef, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return Reference{}, err
	}
	return Reference{Repository: tag.Context().Name(), Digest: digest.String()}, nil
}

// Sign attaches a cosign-compatible signature of ref by key: a simple
// signing payload naming ref's repository and digest, signed with ECDSA
// over its SHA-256, pushed as a layer of the sha256-<hex>.sig tag (adding to
// the signatures already there).
func Sign(ctx context.Context, ref Reference, key *ecdsa.PrivateKey, opts ...remote.Option) error {
	var p simpleSigning
	p.Critical.Identity.DockerReference = ref.Repository
	p.Critical.Image.DockerManifestDigest = ref.Digest
	p.Critical.Type = "cosign container image signature"
	payload, err := json.Marshal(p)
	if err != nil {
		return err
	}
	digest := sha256.Sum256(payload)
	sig, err := ecdsa.SignASN1(rand.Reader, key, digest[:])
	if err != nil {
		return fmt.Errorf("sign %s: %w", ref, err)
	}
	tag, err := name.NewTag(signatureTag(ref))
	if err != nil {
		return fmt.Errorf("%w: %w", ErrReference, err)
	}
	ropts := append(defaultOptions(ctx), opts...)
	base := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	if existing, err := remote.Image(tag, ropts...); err == nil {
		base = existing
	}
	img, err := mutate.Append(base, mutate.Addendum{
		Layer:       static.NewLayer(payload, signatureMediaType),
		MediaType:   signatureMediaType,
		Annotations: map[string]string{signatureAnnotation: base64.StdEncoding.EncodeToString(sig)},
	})
	if err != nil {
		return err
	}
	if err := remote.Write(tag, img, ropts...); err != nil {
		return fmt.Errorf("push the signature of %s: %w", ref, err)
	}
	return nil
}
