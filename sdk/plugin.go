package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
)

// Plugin describes one plugin. S is its settings type: the host's settings
// JSON is decoded into a fresh S for every call, strictly (unknown fields are
// an error), so a typo in the agent's configuration fails at load time.
// Handlers left nil are operations the plugin does not offer.
type Plugin[S any] struct {
	// Name, Version and Description go into the plugin's metadata.
	Name        string
	Version     string
	Description string
	// SettingsSchema is an optional JSON Schema of S, shown by
	// `staticlet plugin inspect`.
	SettingsSchema json.RawMessage

	// CheckSettings rejects bad settings when the plugin is loaded. Decoding
	// errors are reported without calling it.
	CheckSettings func(settings S) error
	// Validate admits or denies the manifest.
	Validate func(req *Request, settings S) (Validation, error)
	// Mutate returns the changed manifest, or an unchanged Mutation.
	Mutate func(req *Request, settings S) (Mutation, error)
	// PodName returns the pod name to use, or "" for the default
	// `<name>-<node>` rule.
	PodName func(req *Request, settings S) (string, error)
}

// Validation is a validate handler's verdict. The zero value allows.
type Validation struct {
	Denials  []Denial
	Warnings []string
}

// Deny adds a reason to reject the manifest.
func (v *Validation) Deny(code, field, format string, args ...any) {
	v.Denials = append(v.Denials, Denial{Code: code, Field: field, Message: fmt.Sprintf(format, args...)})
}

// Warn adds a warning; warnings never reject.
func (v *Validation) Warn(format string, args ...any) {
	v.Warnings = append(v.Warnings, fmt.Sprintf(format, args...))
}

// Allowed reports whether no denial was added.
func (v *Validation) Allowed() bool { return len(v.Denials) == 0 }

// Mutation is a mutate handler's result. Manifest nil means unchanged.
type Mutation struct {
	Manifest []byte
	Warnings []string
}

// Changed returns a Mutation carrying obj as the new manifest.
func Changed(obj Object) (Mutation, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return Mutation{}, fmt.Errorf("encode mutated manifest: %w", err)
	}
	return Mutation{Manifest: data}, nil
}

// Pod decodes the request's manifest into the typed subset of a Pod that
// policies usually read. Use Object to change a manifest without losing
// fields this type does not model.
func (r *Request) Pod() (*Pod, error) {
	var p Pod
	if err := json.Unmarshal(r.Manifest, &p); err != nil {
		return nil, fmt.Errorf("decode manifest: %w", err)
	}
	return &p, nil
}

// Object decodes the request's manifest into a generic JSON tree.
func (r *Request) Object() (Object, error) {
	return ParseObject(r.Manifest)
}

// Metadata is the content of a plugin's `staticlet.metadata` custom section.
type Metadata struct {
	Name           string          `json:"name"`
	Version        string          `json:"version,omitempty"`
	Description    string          `json:"description,omitempty"`
	ABIVersion     int             `json:"abiVersion"`
	Operations     []string        `json:"operations"`
	SettingsSchema json.RawMessage `json:"settingsSchema,omitempty"`
}

// Metadata returns the plugin's metadata.
func (p *Plugin[S]) Metadata() Metadata {
	m := Metadata{Name: p.Name, Version: p.Version, Description: p.Description, ABIVersion: ABIVersion, SettingsSchema: p.SettingsSchema}
	if p.Validate != nil {
		m.Operations = append(m.Operations, OpValidate)
	}
	if p.Mutate != nil {
		m.Operations = append(m.Operations, OpMutate)
	}
	if p.PodName != nil {
		m.Operations = append(m.Operations, OpName)
	}
	return m
}

func (p *Plugin[S]) operations() uint32 {
	var bits uint32
	if p.Validate != nil {
		bits |= opBitValidate
	}
	if p.Mutate != nil {
		bits |= opBitMutate
	}
	if p.PodName != nil {
		bits |= opBitName
	}
	return bits
}

// Handle runs one operation on a JSON request and returns the JSON response,
// exactly as the exported Wasm functions do. The sdktest package and native
// benchmarks call it directly.
func (p *Plugin[S]) Handle(operation string, request []byte) []byte {
	resp := p.handle(operation, request)
	data, err := json.Marshal(resp)
	if err != nil {
		data, _ = json.Marshal(Response{Error: "encode response: " + err.Error()})
	}
	return data
}

func (p *Plugin[S]) handle(operation string, request []byte) (resp Response) {
	defer func() {
		if r := recover(); r != nil {
			resp = Response{Error: fmt.Sprintf("panic: %v\n%s", r, debug.Stack())}
		}
	}()
	var req Request
	if err := json.Unmarshal(request, &req); err != nil {
		return Response{Error: "decode request: " + err.Error()}
	}
	if req.ABIVersion != ABIVersion {
		return Response{Error: fmt.Sprintf("request ABI version %d, this plugin speaks %d", req.ABIVersion, ABIVersion)}
	}
	settings, err := decodeSettings[S](req.Settings)
	if operation == OpValidateSettings {
		if err == nil && p.CheckSettings != nil {
			err = p.CheckSettings(settings)
		}
		valid := err == nil
		resp := Response{Valid: &valid}
		if err != nil {
			resp.Message = err.Error()
		}
		return resp
	}
	if err != nil {
		return Response{Error: err.Error()}
	}
	switch operation {
	case OpValidate:
		if p.Validate == nil {
			break
		}
		v, err := p.Validate(&req, settings)
		if err != nil {
			return Response{Error: err.Error()}
		}
		allowed := v.Allowed()
		return Response{Allowed: &allowed, Denials: v.Denials, Warnings: v.Warnings}
	case OpMutate:
		if p.Mutate == nil {
			break
		}
		m, err := p.Mutate(&req, settings)
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{Manifest: m.Manifest, Warnings: m.Warnings}
	case OpName:
		if p.PodName == nil {
			break
		}
		name, err := p.PodName(&req, settings)
		if err != nil {
			return Response{Error: err.Error()}
		}
		return Response{Name: &name}
	}
	return Response{Error: fmt.Sprintf("operation %q not offered by this plugin", operation)}
}

func decodeSettings[S any](raw json.RawMessage) (S, error) {
	var s S
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")) {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(trimmed))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return s, fmt.Errorf("settings: %w", err)
	}
	return s, nil
}

// handler is what Register keeps: a Plugin with its settings type erased.
type handler interface {
	Handle(operation string, request []byte) []byte
	Metadata() Metadata
	operations() uint32
}

var registered handler

// ErrAlreadyRegistered is the panic value of a second Register call.
var ErrAlreadyRegistered = errors.New("sdk: a plugin is already registered")

// Register makes p the plugin this module serves. Call it once, from init.
func Register[S any](p Plugin[S]) {
	if registered != nil {
		panic(ErrAlreadyRegistered)
	}
	registered = &p
}

// Main is the body of a plugin's main function. The Wasm build never runs
// main (it is a reactor); a native build run with the argument "metadata"
// prints the metadata JSON, which `make plugins` embeds into the .wasm.
func Main() {
	if registered == nil {
		fmt.Fprintln(os.Stderr, "sdk: no plugin registered")
		os.Exit(2)
	}
	if len(os.Args) == 2 && os.Args[1] == "metadata" {
		data, _ := json.MarshalIndent(registered.Metadata(), "", "  ")
		fmt.Println(string(data))
		return
	}
	fmt.Fprintln(os.Stderr, "usage: build with GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared; run natively with `metadata` to print metadata")
	os.Exit(2)
}
