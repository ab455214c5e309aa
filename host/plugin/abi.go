package plugin

import "github.com/staticlet/staticlet/sdk"

// ABIVersion is the plugin ABI version this host speaks (docs/plugin-abi.md).
const ABIVersion = sdk.ABIVersion

// Operation is one of the ABI's operations.
type Operation string

// Operations, as named in requests and in the staticlet_<op> exports.
const (
	OpValidate         Operation = sdk.OpValidate
	OpMutate           Operation = sdk.OpMutate
	OpName             Operation = sdk.OpName
	OpValidateSettings Operation = sdk.OpValidateSettings
)

// Names of the ABI's exports and imports.
const (
	exportABIVersion = "staticlet_abi_version"
	exportOperations = "staticlet_operations"
	exportAlloc      = "staticlet_alloc"
	exportPrefix     = "staticlet_"
	exportInitialize = "_initialize"
	hostModule       = "staticlet"
	// MetadataSection is the name of the optional custom section holding
	// the plugin's metadata JSON.
	MetadataSection = "staticlet.metadata"
)

// operations a module may offer, in chain order; validate_settings is not
// an operation of the chain but an optional export checked at load.
var chainOperations = []Operation{OpMutate, OpName, OpValidate}

// bit of an operation in the staticlet_operations export's result.
func (op Operation) bit() uint32 {
	switch op {
	case OpValidate:
		return 1
	case OpMutate:
		return 2
	case OpName:
		return 4
	}
	return 0
}

// The wire types of ABI version 1 are the SDK's (a standard-library-only
// module the host requires): one definition for both sides.
type (
	wireRequest  = sdk.Request
	wireNode     = sdk.Node
	wireResponse = sdk.Response
	wireDenial   = sdk.Denial
)

// Metadata is the content of a module's staticlet.metadata custom section,
// as the SDK writes it.
type Metadata = sdk.Metadata
