package plugin

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
)

// The OPA built-ins the host implements for OPA modules (opaHostBuiltins).
// They take and return JSON and do no IO.

// opaSprintf is OPA's sprintf(format, values): Go's fmt.Sprintf with each
// value as OPA passes it: a number as an integer when it is one (else a
// float), a string as itself, anything else in Rego's notation (objects
// with sorted keys, `{"a": 1}`; a set arrives as JSON and prints as an
// array).
func opaSprintf(args []json.RawMessage) (any, error) {
	if len(args) != 2 {
		return nil, fmt.Errorf("sprintf: want 2 arguments, got %d", len(args))
	}
	var format string
	if err := json.Unmarshal(args[0], &format); err != nil {
		return nil, fmt.Errorf("sprintf: operand 1 must be a string: %w", err)
	}
	var values []json.RawMessage
	if err := json.Unmarshal(args[1], &values); err != nil {
		return nil, fmt.Errorf("sprintf: operand 2 must be an array: %w", err)
	}
	out := make([]any, len(values))
	for i, raw := range values {
		v, err := decodeJSONNumber(raw)
		if err != nil {
			return nil, fmt.Errorf("sprintf: value %d: %w", i, err)
		}
		switch x := v.(type) {
		case json.Number:
			if n, ok := new(big.Int).SetString(x.String(), 10); ok {
				if n.IsInt64() {
					out[i] = n.Int64()
				} else {
					out[i] = n
				}
			} else if f, err := x.Float64(); err == nil {
				out[i] = f
			} else {
				out[i] = x.String()
			}
		case string:
			out[i] = x
		default:
			out[i] = regoString(v)
		}
	}
	return fmt.Sprintf(format, out...), nil
}

func decodeJSONNumber(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

// regoString renders a JSON value as Rego prints it (ast.Value.String()).
func regoString(v any) string {
	var b strings.Builder
	writeRego(&b, v)
	return b.String()
}

func writeRego(b *strings.Builder, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
	case bool:
		fmt.Fprint(b, x)
	case json.Number:
		b.WriteString(x.String())
	case string:
		data, _ := json.Marshal(x)
		b.Write(data)
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRego(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			writeRego(b, k)
			b.WriteString(": ")
			writeRego(b, x[k])
		}
		b.WriteByte('}')
	}
}
