package sdk

import "encoding/json"

// ABIVersion is the staticlet plugin ABI this SDK implements.
const ABIVersion = 1

// Operation names, as they appear in requests.
const (
	OpValidate         = "validate"
	OpMutate           = "mutate"
	OpName             = "name"
	OpValidateSettings = "validate_settings"
)

// Operation bits returned by the staticlet_operations export.
const (
	opBitValidate = 1 << iota
	opBitMutate
	opBitName
)

// Request is what the host sends to every operation.
type Request struct {
	ABIVersion int    `json:"abiVersion"`
	Operation  string `json:"operation"`
	// File is the path of the manifest file (empty for validate_settings).
	File string `json:"file,omitempty"`
	// Source is "file" or "http".
	Source string `json:"source,omitempty"`
	Node   Node   `json:"node"`
	// Settings is the plugin's settings from the agent's configuration, as
	// JSON; "null" or empty when none were given.
	Settings json.RawMessage `json:"settings,omitempty"`
	// Manifest is the pod as JSON, as the source produced it (after the
	// mutations of earlier plugins in the chain).
	Manifest json.RawMessage `json:"manifest,omitempty"`
}

// Node holds read-only facts about the node the agent runs on.
type Node struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
}

// Denial is one reason to reject a manifest.
type Denial struct {
	// Code is a short, stable, CamelCase identifier (e.g. "Privileged").
	Code string `json:"code"`
	// Message is for humans.
	Message string `json:"message"`
	// Field is the path of the offending field, such as
	// "spec.containers[0].securityContext.privileged"; empty for the whole pod.
	Field string `json:"field,omitempty"`
}

// Response is the union of all operations' responses; see
// docs/plugin-abi.md. The host decodes responses with this same type, so the
// SDK and the host cannot disagree on the wire format.
type Response struct {
	Error    string          `json:"error,omitempty"`
	Allowed  *bool           `json:"allowed,omitempty"`
	Denials  []Denial        `json:"denials,omitempty"`
	Warnings []string        `json:"warnings,omitempty"`
	Manifest json.RawMessage `json:"manifest,omitempty"`
	Name     *string         `json:"name,omitempty"`
	Valid    *bool           `json:"valid,omitempty"`
	Message  string          `json:"message,omitempty"`
}
