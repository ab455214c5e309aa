package containerd_test

import (
	"strings"
	"testing"
)

// TestRuntimeVersion: the real containerd names itself as a Node's containerRuntimeVersion does
// ("containerd://<version>"), and answers its health check.
func TestRuntimeVersion(t *testing.T) {
	e := newEnv(t)
	rt := newRuntime(t, e.options(t))
	if err := rt.Ping(t.Context()); err != nil {
		t.Fatalf("ping: %v", err)
	}
	v, err := rt.RuntimeVersion(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if rest, ok := strings.CutPrefix(v, "containerd://"); !ok || rest == "" || strings.ContainsAny(rest, " \n") {
		t.Errorf("runtime version = %q, want containerd://<version>", v)
	}
	t.Logf("runtime version %s", v)
}
