package plugin

import "encoding/binary"

// tinyModule hand-assembles small modules for the cases a Go guest cannot
// express: a wrong ABI version, missing exports, a bare trap, a loop with no
// calls at all.
type tinyModule struct {
	abiVersion   int64
	noAlloc      bool
	noOperations bool
	// validate is the body of staticlet_validate(ptr, len i32) -> i64,
	// without the final end; nil returns the packed address of response.
	validate []byte
	response string
}

const tinyResponseAt = 2048

func (m tinyModule) bytes() []byte {
	out := []byte{0, 'a', 's', 'm', 1, 0, 0, 0}
	section := func(id byte, body []byte) {
		out = append(out, id)
		out = binary.AppendUvarint(out, uint64(len(body)))
		out = append(out, body...)
	}
	vec := func(items ...[]byte) []byte {
		b := binary.AppendUvarint(nil, uint64(len(items)))
		for _, it := range items {
			b = append(b, it...)
		}
		return b
	}
	name := func(s string) []byte { return append(binary.AppendUvarint(nil, uint64(len(s))), s...) }
	body := func(code ...byte) []byte {
		fn := append([]byte{0}, code...) // no locals
		fn = append(fn, 0x0b)
		return append(binary.AppendUvarint(nil, uint64(len(fn))), fn...)
	}
	section(1, vec(
		[]byte{0x60, 0x00, 0x01, 0x7f},             // () -> i32
		[]byte{0x60, 0x01, 0x7f, 0x01, 0x7f},       // (i32) -> i32
		[]byte{0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7e}, // (i32, i32) -> i64
	))
	section(3, vec([]byte{0}, []byte{1}, []byte{2}))
	section(5, vec([]byte{0x00, 0x01})) // memory: min 1 page
	exports := [][]byte{append(name("memory"), 0x02, 0x00), append(name("staticlet_abi_version"), 0x00, 0x00)}
	if !m.noAlloc {
		exports = append(exports, append(name("staticlet_alloc"), 0x00, 0x01))
	}
	if !m.noOperations {
		exports = append(exports, append(name("staticlet_validate"), 0x00, 0x02))
	}
	section(7, vec(exports...))
	validate := m.validate
	if validate == nil {
		validate = append([]byte{0x42}, sleb(int64(tinyResponseAt)<<32|int64(len(m.response)))...)
	}
	section(10, vec(
		body(append([]byte{0x41}, sleb(m.abiVersion)...)...),
		body(append([]byte{0x41}, sleb(1024)...)...),
		body(validate...),
	))
	data := append([]byte{0x00, 0x41}, sleb(tinyResponseAt)...)
	data = append(data, 0x0b)
	data = append(data, name(m.response)...)
	section(11, vec(data))
	return out
}

func sleb(v int64) []byte {
	var out []byte
	for {
		b := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && b&0x40 == 0) || (v == -1 && b&0x40 != 0) {
			return append(out, b)
		}
		out = append(out, b|0x80)
	}
}
