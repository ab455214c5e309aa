package testenv_test

import (
	"testing"

	"github.com/staticlet/staticlet/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
