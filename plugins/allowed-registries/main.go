// Command allowed-registries is the allowed-registries reference plugin, built as a WASI reactor:
// GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared. Run natively with the
// argument "metadata" it prints its metadata.
package main

import (
	"github.com/staticlet/staticlet/plugins/allowed-registries/policy"
	"github.com/staticlet/staticlet/sdk"
)

func init() { sdk.Register(policy.Plugin) }

func main() { sdk.Main() }
