package main

import (
	"testing"

	"github.com/staticlet/staticlet/internal/testenv"
)

// TestMain starts a private containerd lazily, for the operations tests
// that run the built binary against it, and stops it at the end.
func TestMain(m *testing.M) { testenv.Main(m) }
