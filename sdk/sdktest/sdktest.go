//go:build !wasip1

// Package sdktest lets plugin authors unit-test a plugin as ordinary Go: it
// runs a Plugin's handlers natively through the same JSON request/response
// path the Wasm exports use, and decodes the response. It does no IO; log
// messages the plugin writes are captured into the Result.
package sdktest

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/staticlet/staticlet/sdk"
)

// Handler is satisfied by *sdk.Plugin[S] for any settings type S.
type Handler interface {
	Handle(operation string, request []byte) []byte
}

// Input is one request.
type Input struct {
	// Manifest is the pod as JSON.
	Manifest string
	// Settings is the plugin's settings as JSON; empty means none.
	Settings string
	Node     sdk.Node
	File     string
}

// Result is a decoded response.
type Result struct {
	// Error is the error the plugin reported, if any.
	Error    string
	Allowed  bool
	Denials  []sdk.Denial
	Warnings []string
	// Manifest is the mutated manifest (mutate), nil when unchanged.
	Manifest json.RawMessage
	// Name is the name a naming plugin chose.
	Name string
	// Valid and Message answer a settings check.
	Valid   bool
	Message string
	// Logs are the messages the plugin logged, as "LEVEL: message".
	Logs []string
}

var hostMu sync.Mutex // the native host hooks are process-wide

// Run sends one operation to the plugin and decodes its response. It fails
// the test if the request cannot be built or the response is not valid.
func Run(t testing.TB, p Handler, operation string, in Input) Result {
	t.Helper()
	req := sdk.Request{
		ABIVersion: sdk.ABIVersion,
		Operation:  operation,
		File:       in.File,
		Source:     "file",
		Node:       in.Node,
	}
	if in.Settings != "" {
		req.Settings = json.RawMessage(in.Settings)
	}
	if in.Manifest != "" {
		if !json.Valid([]byte(in.Manifest)) {
			t.Fatalf("sdktest: Input.Manifest is not valid JSON")
		}
		req.Manifest = json.RawMessage(in.Manifest)
	}
	data, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("sdktest: encode request: %v", err)
	}
	var logs []string
	hostMu.Lock()
	restore := sdk.SetNativeHost(func(level sdk.Level, msg string) {
		logs = append(logs, fmt.Sprintf("%s: %s", levelName(level), msg))
	}, in.Node)
	out := p.Handle(operation, data)
	restore()
	hostMu.Unlock()
	var resp struct {
		Error    string          `json:"error"`
		Allowed  *bool           `json:"allowed"`
		Denials  []sdk.Denial    `json:"denials"`
		Warnings []string        `json:"warnings"`
		Manifest json.RawMessage `json:"manifest"`
		Name     *string         `json:"name"`
		Valid    *bool           `json:"valid"`
		Message  string          `json:"message"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("sdktest: plugin response is not JSON: %v: %s", err, out)
	}
	r := Result{Error: resp.Error, Denials: resp.Denials, Warnings: resp.Warnings, Manifest: resp.Manifest, Message: resp.Message, Logs: logs}
	if resp.Allowed != nil {
		r.Allowed = *resp.Allowed
	}
	if resp.Name != nil {
		r.Name = *resp.Name
	}
	if resp.Valid != nil {
		r.Valid = *resp.Valid
	}
	return r
}

// Validate runs the validate operation.
func Validate(t testing.TB, p Handler, in Input) Result {
	t.Helper()
	return Run(t, p, sdk.OpValidate, in)
}

// Mutate runs the mutate operation.
func Mutate(t testing.TB, p Handler, in Input) Result {
	t.Helper()
	return Run(t, p, sdk.OpMutate, in)
}

// Name runs the name operation.
func Name(t testing.TB, p Handler, in Input) Result {
	t.Helper()
	return Run(t, p, sdk.OpName, in)
}

// CheckSettings runs the settings check on settings (JSON).
func CheckSettings(t testing.TB, p Handler, settings string) Result {
	t.Helper()
	return Run(t, p, sdk.OpValidateSettings, Input{Settings: settings})
}

// HasDenial reports whether r holds a denial with this code (and this field,
// when field is not empty).
func (r Result) HasDenial(code, field string) bool {
	for _, d := range r.Denials {
		if d.Code == code && (field == "" || d.Field == field) {
			return true
		}
	}
	return false
}

func levelName(l sdk.Level) string {
	switch l {
	case sdk.LevelTrace:
		return "TRACE"
	case sdk.LevelDebug:
		return "DEBUG"
	case sdk.LevelInfo:
		return "INFO"
	case sdk.LevelWarn:
		return "WARN"
	default:
		return "ERROR"
	}
}
