package plugin

import "encoding/json"

// ABIVersion is the plugin ABI version this host speaks (docs/plugin-abi.md).
const ABIVersion = 1

// Operation is one of the ABI's operations.
type Operation string

// Operations, as named in requests and in the staticlet_<op> exports.
const (
	OpValidate         Operation = "validate"
	OpMutate           Operation = "mutate"
	OpName             Operation = "name"
	OpValidateSettings Operation = "validate_settings"
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

// wireRequest is the request JSON of ABI version 1.
type wireRequest struct {
	ABIVersion int             `json:"abiVersion"`
	Operation  Operation       `json:"operation"`
	File       string          `json:"file,omitempty"`
	Source     string          `json:"source,omitempty"`
	Node       wireNode        `json:"node"`
	Settings   json.RawMessage `json:"settings,omitempty"`
	Manifest   json.RawMessage `json:"manifest,omitempty"`
}

type wireNode struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// wireResponse is the union of the operations' responses.
type wireResponse struct {
	Error    string          `json:"error"`
	Allowed  *bool           `json:"allowed"`
	Denials  []wireDenial    `json:"denials"`
	Warnings []string        `json:"warnings"`
	Manifest json.RawMessage `json:"manifest"`
	Name     *string         `json:"name"`
	Valid    *bool           `json:"valid"`
	Message  string          `json:"message"`
}

type wireDenial struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field"`
}

// Metadata is the content of a module's staticlet.metadata custom section.
type Metadata struct {
	Name           string          `json:"name"`
	Version        string          `json:"version,omitempty"`
	Description    string          `json:"description,omitempty"`
	ABIVersion     int             `json:"abiVersion"`
	Operations     []string        `json:"operations,omitempty"`
	SettingsSchema json.RawMessage `json:"settingsSchema,omitempty"`
}
