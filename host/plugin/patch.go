package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// PatchOperation is one RFC 6902 operation.
type PatchOperation struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
}

// Patch is an RFC 6902 JSON patch.
type Patch []PatchOperation

// String is the patch as compact JSON, for logs and status.
func (p Patch) String() string {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Sprintf("<unprintable patch: %v>", err)
	}
	return string(data)
}

// Summary is the patch as one line for logs, status and reasons: a patch
// quotes the plugin's strings (JSON escapes their control characters), so
// it is capped like any plugin text, at MaxErrorBytes.
func (p Patch) Summary() string {
	return SanitizeText(p.String(), MaxErrorBytes)
}

// Diff returns the JSON patch that turns from into to: objects are compared
// key by key (sorted), arrays of equal length element by element, anything
// else is replaced whole.
func Diff(from, to []byte) (Patch, error) {
	a, err := decodeTree(from)
	if err != nil {
		return nil, fmt.Errorf("diff: old: %w", err)
	}
	b, err := decodeTree(to)
	if err != nil {
		return nil, fmt.Errorf("diff: new: %w", err)
	}
	var p Patch
	diffValue("", a, b, &p)
	return p, nil
}

func decodeTree(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func diffValue(ptr string, a, b any, p *Patch) {
	switch av := a.(type) {
	case map[string]any:
		if bv, ok := b.(map[string]any); ok {
			diffObject(ptr, av, bv, p)
			return
		}
	case []any:
		if bv, ok := b.([]any); ok && len(av) == len(bv) {
			for i := range av {
				diffValue(ptr+"/"+strconv.Itoa(i), av[i], bv[i], p)
			}
			return
		}
	}
	if !reflect.DeepEqual(a, b) {
		*p = append(*p, PatchOperation{Op: "replace", Path: ptr, Value: mustJSON(b)})
	}
}

func diffObject(ptr string, a, b map[string]any, p *Patch) {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		child := ptr + "/" + escapePointer(k)
		av, inA := a[k]
		bv, inB := b[k]
		switch {
		case inA && !inB:
			*p = append(*p, PatchOperation{Op: "remove", Path: child})
		case !inA && inB:
			*p = append(*p, PatchOperation{Op: "add", Path: child, Value: mustJSON(bv)})
		default:
			diffValue(child, av, bv, p)
		}
	}
}

func escapePointer(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func mustJSON(v any) json.RawMessage {
	data, err := json.Marshal(v)
	if err != nil {
		// v came out of encoding/json, so it encodes.
		panic(fmt.Sprintf("re-encode decoded JSON: %v", err))
	}
	return data
}
