// Package wasmmeta embeds a plugin's metadata JSON into its .wasm binary as
// the `staticlet.metadata` custom section (ABI version 1). It is pure: it
// transforms bytes and does no IO.
package wasmmeta

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
)

// SectionName is the custom section's name, fixed by ABI version 1.
const SectionName = "staticlet.metadata"

// ErrNotWasm means the input is not a WebAssembly binary module.
var ErrNotWasm = errors.New("not a WebAssembly binary module")

// Embed returns module with every existing staticlet.metadata custom
// section removed and a new one holding meta appended. Custom sections may
// appear anywhere, so this keeps the module valid.
func Embed(module, meta []byte) ([]byte, error) {
	header := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	if !bytes.HasPrefix(module, header) {
		return nil, ErrNotWasm
	}
	out := append([]byte(nil), header...)
	rest := module[len(header):]
	for len(rest) > 0 {
		id := rest[0]
		size, n := binary.Uvarint(rest[1:])
		if n <= 0 || uint64(len(rest)-1-n) < size {
			return nil, fmt.Errorf("%w: truncated section", ErrNotWasm)
		}
		end := 1 + n + int(size)
		section := rest[:end]
		if id == 0 && customName(rest[1+n:end]) == SectionName {
			rest = rest[end:]
			continue
		}
		out = append(out, section...)
		rest = rest[end:]
	}
	var payload []byte
	payload = binary.AppendUvarint(payload, uint64(len(SectionName)))
	payload = append(payload, SectionName...)
	payload = append(payload, meta...)
	out = append(out, 0)
	out = binary.AppendUvarint(out, uint64(len(payload)))
	return append(out, payload...), nil
}

func customName(body []byte) string {
	size, n := binary.Uvarint(body)
	if n <= 0 || uint64(len(body)-n) < size {
		return ""
	}
	return string(body[n : n+int(size)])
}
