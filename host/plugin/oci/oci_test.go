package oci

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"
)

// testRegistry is a real OCI distribution registry (go-containerregistry's)
// on localhost. tamper, when set, flips a byte of every blob it serves.
type testRegistry struct {
	host   string
	tamper atomic.Bool
	server *httptest.Server
}

func newRegistry(t *testing.T) *testRegistry {
	r := &testRegistry{}
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if !r.tamper.Load() || req.Method != http.MethodGet || !strings.Contains(req.URL.Path, "/blobs/") {
			inner.ServeHTTP(w, req)
			return
		}
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if len(body) > 0 {
			body[len(body)/2] ^= 0xff
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(body)
	}))
	t.Cleanup(r.server.Close)
	r.host = strings.TrimPrefix(r.server.URL, "http://")
	return r
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// module is any bytes: the store does not interpret them (LoadChain does).
var module = []byte("\x00asm\x01\x00\x00\x00 a plugin module")

func TestPushSignFetch(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	key := newKey(t)
	ref, err := Push(ctx, "oci://"+reg.host+"/policies/psp:v1", module)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(ctx, ref, key); err != nil {
		t.Fatal(err)
	}
	parsed, err := ParseReference(ref.String())
	if err != nil || parsed != ref {
		t.Fatalf("ParseReference(%s) = %+v, %v", ref, parsed, err)
	}
	resolved, err := Resolve(ctx, "oci://"+reg.host+"/policies/psp:v1")
	if err != nil || resolved != ref {
		t.Fatalf("Resolve: %+v, %v, want %+v", resolved, err, ref)
	}

	store := &Store{Dir: t.TempDir(), Keys: []crypto.PublicKey{&key.PublicKey}}
	path, err := store.Fetch(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, module) {
		t.Fatalf("stored %q", got)
	}

	// Offline: the registry is gone, the store answers.
	reg.server.Close()
	again, err := store.Fetch(ctx, ref)
	if err != nil || again != path {
		t.Fatalf("offline fetch: %s, %v", again, err)
	}
}

func TestFetchRefuses(t *testing.T) {
	ctx := context.Background()
	reg := newRegistry(t)
	key, other := newKey(t), newKey(t)
	ref, err := Push(ctx, "oci://"+reg.host+"/policies/psp:v1", module)
	if err != nil {
		t.Fatal(err)
	}
	unsigned, err := Push(ctx, "oci://"+reg.host+"/policies/unsigned:v1", append([]byte("other "), module...))
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(ctx, ref, key); err != nil {
		t.Fatal(err)
	}
	// The same module pushed to another repository, signed only under the
	// first one's signature tag: nothing vouches for it where it is.
	moved, err := Push(ctx, "oci://"+reg.host+"/policies/moved:v1", module)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(ctx, Reference{Repository: ref.Repository, Digest: moved.Digest}, key); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name  string
		ref   Reference
		keys  []crypto.PublicKey
		setup func()
		want  error
		say   string
	}{
		{name: "wrong key", ref: ref, keys: []crypto.PublicKey{&other.PublicKey}, want: ErrVerify, say: "none of the configured keys"},
		{name: "no key configured", ref: ref, want: ErrVerify, say: "no public key"},
		{name: "unsigned", ref: unsigned, keys: []crypto.PublicKey{&key.PublicKey}, want: ErrVerify, say: "no signature found"},
		{name: "signed only in another repository", ref: moved, keys: []crypto.PublicKey{&key.PublicKey}, want: ErrVerify, say: "no signature found"},
		{name: "unknown digest", ref: Reference{Repository: ref.Repository, Digest: "sha256:" + strings.Repeat("0", 64)},
			keys: []crypto.PublicKey{&key.PublicKey}, want: ErrPull, say: "MANIFEST_UNKNOWN"},
		{name: "tampered blob", ref: ref, keys: []crypto.PublicKey{&key.PublicKey}, setup: func() { reg.tamper.Store(true) }, want: ErrPull, say: "sha256 checksum"},
		{name: "unreachable registry", ref: Reference{Repository: "127.0.0.1:1/policies/psp", Digest: ref.Digest},
			keys: []crypto.PublicKey{&key.PublicKey}, want: ErrPull, say: "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			store := &Store{Dir: t.TempDir(), Keys: tc.keys}
			_, err := store.Fetch(ctx, tc.ref)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.say) {
				t.Fatalf("Fetch: %v, want %v saying %q", err, tc.want, tc.say)
			}
			if entries, _ := os.ReadDir(filepath.Join(store.Dir, "sha256")); len(entries) > 0 {
				t.Errorf("a refused artifact left %d entries in the store", len(entries))
			}
		})
	}
}

func TestParseReference(t *testing.T) {
	digest := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, say string }{
		{"oci://reg.example:5000/a/b@" + digest, ""},
		{"oci://reg.example:5000/a/b:v1", "no @sha256"},
		{"oci://reg.example:5000/a/b:v1@" + digest, "no tag before @"},
		{"oci://reg.example/a@sha256:abc", "64 lowercase"},
		{"reg.example/a@" + digest, "does not start with oci://"},
	} {
		ref, err := ParseReference(tc.in)
		switch {
		case tc.say == "" && err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case tc.say == "" && ref.String() != tc.in:
			t.Errorf("%s: round trip %s", tc.in, ref)
		case tc.say != "" && (!errors.Is(err, ErrReference) || !strings.Contains(err.Error(), tc.say)):
			t.Errorf("%s: %v, want %q", tc.in, err, tc.say)
		}
	}
}

func TestKeys(t *testing.T) {
	key := newKey(t)
	private, public, err := EncodeKeyPair(key)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParsePrivateKey(private)
	if err != nil || !back.Equal(key) {
		t.Fatalf("ParsePrivateKey: %v", err)
	}
	pub, err := ParsePublicKey(public)
	if err != nil || !key.PublicKey.Equal(pub) {
		t.Fatalf("ParsePublicKey: %v", err)
	}
	if _, err := ParsePublicKey(private); !errors.Is(err, ErrKey) {
		t.Errorf("a private key as public: %v", err)
	}
	if _, err := ParsePrivateKey([]byte("junk")); !errors.Is(err, ErrKey) {
		t.Errorf("junk: %v", err)
	}
}

// TestCredentialsFromDockerConfig: a registry that wants a login is pushed
// to and pulled from with the credentials of the Docker configuration, and
// refuses both without them.
func TestCredentialsFromDockerConfig(t *testing.T) {
	ctx := context.Background()
	inner := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	server := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if user, pass, ok := req.BasicAuth(); !ok || user != "author" || pass != "s3cret" {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		inner.ServeHTTP(w, req)
	}))
	defer server.Close()
	host := strings.TrimPrefix(server.URL, "http://")
	key := newKey(t)

	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if _, err := Push(ctx, "oci://"+host+"/policies/psp:v1", module); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("push without credentials: %v", err)
	}
	config := t.TempDir()
	auth := base64.StdEncoding.EncodeToString([]byte("author:s3cret"))
	os.WriteFile(filepath.Join(config, "config.json"), []byte(`{"auths":{"`+host+`":{"auth":"`+auth+`"}}}`), 0o600)
	t.Setenv("DOCKER_CONFIG", config)
	ref, err := Push(ctx, "oci://"+host+"/policies/psp:v1", module)
	if err != nil {
		t.Fatal(err)
	}
	if err := Sign(ctx, ref, key); err != nil {
		t.Fatal(err)
	}
	store := &Store{Dir: t.TempDir(), Keys: []crypto.PublicKey{&key.PublicKey}}
	if _, err := store.Fetch(ctx, ref); err != nil {
		t.Fatalf("fetch with credentials: %v", err)
	}
	t.Setenv("DOCKER_CONFIG", t.TempDir())
	if _, err := (&Store{Dir: t.TempDir(), Keys: store.Keys}).Fetch(ctx, ref); !errors.Is(err, ErrPull) {
		t.Fatalf("fetch without credentials: %v", err)
	}
}
