package plugin

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// This file reads and rewrites the WebAssembly binary format just enough to
// find custom sections and to add the interrupt check (see instrument). It
// does no IO.

var wasmHeader = []byte{0, 'a', 's', 'm', 1, 0, 0, 0}

// Section ids of the WebAssembly binary format.
const (
	sectionCustom   = 0
	sectionType     = 1
	sectionImport   = 2
	sectionFunction = 3
	sectionMemory   = 5
	sectionGlobal   = 6
	sectionExport   = 7
	sectionStart    = 8
	sectionCode     = 10
)

// interruptExport is the name under which instrument exports the global the
// host sets to stop a running call.
const interruptExport = "staticlet.interrupt"

// startExport is the name under which instrument exports the module's start
// function, after removing its start section: the host calls it under the
// call deadline, where instantiation would run it with no deadline at all.
const startExport = "staticlet.start"

// interruptCheckInterval is how many loop iterations run between two checks
// of the interrupt flag: each check is a trip into Go (about 100 ns), and
// 1024 iterations of typical guest code take 2 to 20 us, which bounds both
// the overhead (under 5%) and how long the guest can hold up a Go
// stop-the-world.
const interruptCheckInterval = 1024

var errUnsupportedOpcode = errors.New("unsupported opcode")

// loopChecksOnly is the rewrite before function-entry checks, kept for the
// side-by-side benchmark (BenchmarkDeadlineEnforcement) only: it does not
// bound recursion.
var loopChecksOnly = false

type section struct {
	id   byte
	body []byte
}

func splitSections(module []byte) ([]section, error) {
	if !bytes.HasPrefix(module, wasmHeader) {
		return nil, fmt.Errorf("%w: missing the \\0asm version 1 header", ErrInvalidModule)
	}
	var sections []section
	rest := module[len(wasmHeader):]
	for len(rest) > 0 {
		id := rest[0]
		size, n := binary.Uvarint(rest[1:])
		if n <= 0 || uint64(len(rest)-1-n) < size {
			return nil, fmt.Errorf("%w: truncated section %d", ErrInvalidModule, id)
		}
		sections = append(sections, section{id: id, body: rest[1+n : 1+n+int(size)]})
		rest = rest[1+n+int(size):]
	}
	return sections, nil
}

func joinSections(sections []section) []byte {
	out := append([]byte(nil), wasmHeader...)
	for _, s := range sections {
		out = append(out, s.id)
		out = binary.AppendUvarint(out, uint64(len(s.body)))
		out = append(out, s.body...)
	}
	return out
}

// customSection returns the payload of the first custom section called name.
func customSection(module []byte, name string) ([]byte, bool) {
	sections, err := splitSections(module)
	if err != nil {
		return nil, false
	}
	for _, s := range sections {
		if s.id != sectionCustom {
			continue
		}
		r := reader{b: s.body}
		n, err := r.name()
		if err == nil && n == name {
			return r.b[r.i:], true
		}
	}
	return nil, false
}

// instrument returns module with two globals added, an exported interrupt
// flag and an internal fuel counter, a scratch local in every function, and
// this check at the top of every loop body and at the entry of every
// function that contains a call (unless its body starts with a loop, whose
// check then runs first anyway):
//
//	fuel -= 1
//	if fuel == 0 {
//	    fuel = interruptCheckInterval
//	    memory.grow(0)              // a trip into Go: a preemption point
//	    if interrupt { unreachable } // trap: the host asked to stop
//	}
//
// Setting the interrupt global from another goroutine makes the running
// call trap within interruptCheckInterval checks. This is epoch interruption
// as in Wasmtime; it costs a decrement and a branch per check. Loops and
// calls are the only ways a guest can run longer than its code is long: code
// without loops or calls is straight-line, and an endless or exponential
// call chain enters some function that contains a call again and again, so
// checking those entries bounds recursion (a leaf function needs no check).
// wazero's own WithCloseOnContextDone checks loop headers only, and calls
// into Go at each (docs/RATIONALE.md has the measurements). The periodic
// trip into Go matters: compiled Wasm code cannot be preempted, so without
// it a guest running forever would also block the Go runtime's
// stop-the-world phases, including the one that lets the timer goroutine
// run. memory.grow(0) is the cheapest instruction that leaves native code in
// wazero's compiler, and it needs no new import (a new import would renumber
// every function).
//
// A start section is removed and its function exported as startExport, so
// that the host runs it under the call deadline after instantiation, as the
// start function would have run (nothing can call the instance in between).
//
// The rewrite only adds state the guest cannot name: instrument refuses a
// function that reads or writes a global index outside the module's own
// globals, which the uploaded module's validation refuses too.
func instrument(module []byte) ([]byte, error) {
	sections, err := splitSections(module)
	if err != nil {
		return nil, err
	}
	importedGlobals, localGlobals := uint32(0), uint32(0)
	hasMemory := false
	globalAt, exportAt, startAt, codeAt := -1, -1, -1, -1
	var paramCounts []uint32 // per local function
	var typeParams []uint32  // per type
	for i, s := range sections {
		switch s.id {
		case sectionType:
			if typeParams, err = readTypeParams(s.body); err != nil {
				return nil, err
			}
		case sectionFunction:
			r := reader{b: s.body}
			n, err := r.u32()
			if err != nil {
				return nil, err
			}
			for range n {
				t, err := r.u32()
				if err != nil {
					return nil, err
				}
				if int(t) >= len(typeParams) {
					return nil, fmt.Errorf("%w: function type %d out of range", ErrInvalidModule, t)
				}
				paramCounts = append(paramCounts, typeParams[t])
			}
		case sectionImport:
			var memories uint32
			if importedGlobals, memories, err = countImports(s.body); err != nil {
				return nil, err
			}
			hasMemory = hasMemory || memories > 0
		case sectionMemory:
			hasMemory = true
		case sectionGlobal:
			globalAt = i
			r := reader{b: s.body}
			if localGlobals, err = r.u32(); err != nil {
				return nil, err
			}
		case sectionExport:
			exportAt = i
		case sectionStart:
			startAt = i
		case sectionCode:
			codeAt = i
		}
	}
	if exportAt < 0 || codeAt < 0 {
		return nil, fmt.Errorf("%w: no exports or no code", ErrInvalidModule)
	}
	if !hasMemory {
		return nil, fmt.Errorf("%w: the module has no memory", ErrInvalidModule)
	}
	index := importedGlobals + localGlobals // the interrupt flag; index+1 is the fuel
	code, err := instrumentCode(sections[codeAt].body, index, index+1, paramCounts)
	if err != nil {
		return nil, err
	}
	sections[codeAt].body = code

	var startEntry []byte
	if startAt >= 0 {
		r := reader{b: sections[startAt].body}
		fn, err := r.u32()
		if err != nil {
			return nil, err
		}
		startEntry = binary.AppendUvarint(nil, uint64(len(startExport)))
		startEntry = append(startEntry, startExport...)
		startEntry = append(startEntry, 0x00) // func
		startEntry = binary.AppendUvarint(startEntry, uint64(fn))
		sections = append(sections[:startAt], sections[startAt+1:]...)
		if globalAt > startAt {
			globalAt--
		}
		if exportAt > startAt {
			exportAt--
		}
	}

	flag := []byte{0x7f, 0x01, 0x41, 0x00, 0x0b} // mut i32 = i32.const 0
	fuel := append(append([]byte{0x7f, 0x01, 0x41}, sleb32(interruptCheckInterval)...), 0x0b)
	if globalAt >= 0 {
		body := appendToVector(sections[globalAt].body, localGlobals, flag)
		sections[globalAt].body = appendToVector(body, localGlobals+1, fuel)
	} else {
		body := append(binary.AppendUvarint(nil, 2), flag...)
		body = append(body, fuel...)
		// The global section goes right before the export section.
		sections = append(sections[:exportAt], append([]section{{id: sectionGlobal, body: body}}, sections[exportAt:]...)...)
		exportAt++
	}
	r := reader{b: sections[exportAt].body}
	exports, err := r.u32()
	if err != nil {
		return nil, err
	}
	entry := binary.AppendUvarint(nil, uint64(len(interruptExport)))
	entry = append(entry, interruptExport...)
	entry = append(entry, 0x03) // global
	entry = binary.AppendUvarint(entry, uint64(index))
	sections[exportAt].body = appendToVector(sections[exportAt].body, exports, entry)
	if startEntry != nil {
		sections[exportAt].body = appendToVector(sections[exportAt].body, exports+1, startEntry)
	}
	return joinSections(sections), nil
}

// appendToVector adds one encoded element to a vector whose count is count.
func appendToVector(body []byte, count uint32, element []byte) []byte {
	_, n := binary.Uvarint(body)
	out := binary.AppendUvarint(nil, uint64(count)+1)
	out = append(out, body[n:]...)
	return append(out, element...)
}

func countImports(body []byte) (globals, memories uint32, err error) {
	r := reader{b: body}
	count, err := r.u32()
	if err != nil {
		return 0, 0, err
	}
	for range count {
		if _, err := r.name(); err != nil {
			return 0, 0, err
		}
		if _, err := r.name(); err != nil {
			return 0, 0, err
		}
		kind, err := r.byte()
		if err != nil {
			return 0, 0, err
		}
		switch kind {
		case 0x00: // func: type index
			_, err = r.u32()
		case 0x01: // table: reftype, limits
			if _, err = r.byte(); err == nil {
				err = r.limits()
			}
		case 0x02: // memory: limits
			memories++
			err = r.limits()
		case 0x03: // global: valtype, mut
			globals++
			_, err = r.bytes(2)
		default:
			err = fmt.Errorf("%w: import kind %#x", errUnsupportedOpcode, kind)
		}
		if err != nil {
			return 0, 0, err
		}
	}
	return globals, memories, nil
}

// readTypeParams returns the number of parameters of each function type.
func readTypeParams(body []byte) ([]uint32, error) {
	r := reader{b: body}
	n, err := r.u32()
	if err != nil {
		return nil, err
	}
	out := make([]uint32, 0, n)
	for range n {
		form, err := r.byte()
		if err != nil {
			return nil, err
		}
		if form != 0x60 {
			return nil, fmt.Errorf("%w: type form %#x", errUnsupportedOpcode, form)
		}
		params, err := r.u32()
		if err != nil {
			return nil, err
		}
		if _, err := r.bytes(int(params)); err != nil { // one byte per value type
			return nil, err
		}
		results, err := r.u32()
		if err != nil {
			return nil, err
		}
		if _, err := r.bytes(int(results)); err != nil {
			return nil, err
		}
		out = append(out, params)
	}
	return out, nil
}

// makeCheck returns the check sequence of one function: count down the
// module-wide fuel global (through scratch, a local instrumentFunction adds,
// which saves reading the global back), and every interruptCheckInterval
// checks leave for Go and trap if the interrupt flag is set. A per-frame
// counter in a local for loops was measured too: no faster with wazero's
// compiler (docs/RATIONALE.md).
func makeCheck(flag, fuel, scratch uint32) []byte {
	g := func(op byte, index uint32) []byte { return binary.AppendUvarint([]byte{op}, uint64(index)) }
	var check []byte
	check = append(check, g(0x23, fuel)...)    // global.get fuel
	check = append(check, 0x41, 0x01, 0x6b)    // i32.const 1; i32.sub
	check = append(check, g(0x22, scratch)...) // local.tee scratch
	check = append(check, g(0x24, fuel)...)    // global.set fuel
	check = append(check, g(0x20, scratch)...) // local.get scratch
	check = append(check, 0x45, 0x04, 0x40)    // i32.eqz; if
	check = append(check, 0x41)                // i32.const interval
	check = append(check, sleb32(interruptCheckInterval)...)
	check = append(check, g(0x24, fuel)...)             // global.set fuel
	check = append(check, 0x41, 0x00, 0x40, 0x00, 0x1a) // memory.grow(0); drop
	check = append(check, g(0x23, flag)...)             // global.get interrupt
	check = append(check, 0x04, 0x40, 0x00, 0x0b)       // if; unreachable; end
	return append(check, 0x0b)                          // end
}

func instrumentCode(body []byte, flag, fuel uint32, params []uint32) ([]byte, error) {
	r := reader{b: body}
	count, err := r.u32()
	if err != nil {
		return nil, err
	}
	if int(count) != len(params) {
		return nil, fmt.Errorf("%w: %d function bodies for %d functions", ErrInvalidModule, count, len(params))
	}
	out := binary.AppendUvarint(make([]byte, 0, len(body)+len(body)/16), uint64(count))
	var fn []byte
	for i := range count {
		size, err := r.u32()
		if err != nil {
			return nil, err
		}
		src, err := r.bytes(int(size))
		if err != nil {
			return nil, err
		}
		fn, err = instrumentFunction(fn[:0], src, params[i], flag, fuel, flag)
		if err != nil {
			return nil, fmt.Errorf("function %d: %w", i, err)
		}
		out = binary.AppendUvarint(out, uint64(len(fn)))
		out = append(out, fn...)
	}
	return out, nil
}

// instrumentFunction copies one function body with one i32 local added
// (the check's scratch), inserting the check after the block type of every
// loop instruction and, when the function contains a call and does not
// start with a loop (whose check then runs first anyway), at its start. It must decode every immediate to tell opcodes from
// operand bytes; an opcode it does not know (threads, exception handling)
// makes the module unloadable, since a module without the checks could run
// past its deadline. globals is the number of globals the uploaded module
// has: an index at or above it would name the state instrument adds.
func instrumentFunction(out, src []byte, params, flag, fuel, globals uint32) ([]byte, error) {
	r := reader{b: src}
	groups, err := r.u32()
	if err != nil {
		return nil, err
	}
	groupsEnd := r.i
	locals := uint64(params)
	for range groups {
		n, err := r.u32()
		if err != nil {
			return nil, err
		}
		locals += uint64(n)
		if _, err := r.byte(); err != nil {
			return nil, err
		}
	}
	if locals >= 1<<31 {
		return nil, fmt.Errorf("%w: too many locals", ErrInvalidModule)
	}
	check := makeCheck(flag, fuel, uint32(locals))
	out = binary.AppendUvarint(out, uint64(groups)+1)
	out = append(out, src[groupsEnd:r.i]...)
	out = append(out, 0x01, 0x7f) // one i32: the scratch
	entryAt := len(out)
	r.start = r.i
	startsWithLoop := r.i < len(r.b) && r.b[r.i] == 0x03
	calls := false
	for r.i < len(r.b) {
		op := r.b[r.i]
		r.i++
		switch {
		case op == 0x03: // loop blocktype
			if _, err = r.s64(); err != nil {
				return nil, err
			}
			out = append(out, src[r.start:r.i]...)
			out = append(out, check...)
			r.start = r.i
			continue
		case op == 0x02 || op == 0x04: // block, if: blocktype
			_, err = r.s64()
		case op == 0x10 || op == 0x12: // call, return_call
			calls = true
			_, err = r.u32()
		case op == 0x23 || op == 0x24: // global.get, global.set
			var index uint32
			if index, err = r.u32(); err == nil && index >= globals {
				return nil, fmt.Errorf("%w: global index %d out of range (the module has %d globals)", ErrInvalidModule, index, globals)
			}
		case op == 0x0c || op == 0x0d || // br, br_if
			(op >= 0x20 && op <= 0x22) || op == 0x25 || op == 0x26 || op == 0xd2: // local get/set/tee, table get/set, ref.func
			_, err = r.u32()
		case op == 0x0e: // br_table
			var n uint32
			if n, err = r.u32(); err == nil {
				for range n + 1 {
					if _, err = r.u32(); err != nil {
						break
					}
				}
			}
		case op == 0x11 || op == 0x13: // call_indirect, return_call_indirect
			calls = true
			if _, err = r.u32(); err == nil {
				_, err = r.u32()
			}
		case op == 0x1c: // select t*
			var n uint32
			if n, err = r.u32(); err == nil {
				_, err = r.bytes(int(n))
			}
		case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
			err = r.memarg()
		case op == 0x3f || op == 0x40: // memory.size, memory.grow
			_, err = r.u32()
		case op == 0x41:
			_, err = r.s64()
		case op == 0x42:
			_, err = r.s64()
		case op == 0x43:
			_, err = r.bytes(4)
		case op == 0x44:
			_, err = r.bytes(8)
		case op == 0xd0: // ref.null t
			_, err = r.byte()
		case op == 0xfc:
			err = r.prefixedFC()
		case op == 0xfd:
			err = r.prefixedSIMD()
		case op <= 0x01 || op == 0x05 || op == 0x0b || op == 0x0f || op == 0x1a || op == 0x1b ||
			(op >= 0x45 && op <= 0xc4) || op == 0xd1:
			// no immediates
		default:
			return nil, fmt.Errorf("%w %#x at offset %d", errUnsupportedOpcode, op, r.i-1)
		}
		if err != nil {
			return nil, err
		}
	}
	out = append(out, src[r.start:]...)
	if calls && !startsWithLoop && !loopChecksOnly {
		out = slices.Insert(out, entryAt, check...)
	}
	return out, nil
}

// reader decodes the binary format; start marks how far a rewriting caller
// has copied.
type reader struct {
	b     []byte
	i     int
	start int
}

var errTruncated = fmt.Errorf("%w: truncated", ErrInvalidModule)

func (r *reader) byte() (byte, error) {
	if r.i >= len(r.b) {
		return 0, errTruncated
	}
	r.i++
	return r.b[r.i-1], nil
}

func (r *reader) bytes(n int) ([]byte, error) {
	if n < 0 || r.i+n > len(r.b) {
		return nil, errTruncated
	}
	r.i += n
	return r.b[r.i-n : r.i], nil
}

func (r *reader) u32() (uint32, error) {
	v, n := binary.Uvarint(r.b[r.i:])
	if n <= 0 || v > 1<<32-1 {
		return 0, errTruncated
	}
	r.i += n
	return uint32(v), nil
}

func (r *reader) s64() (int64, error) {
	var result int64
	var shift uint
	for {
		b, err := r.byte()
		if err != nil {
			return 0, err
		}
		result |= int64(b&0x7f) << shift
		shift += 7
		if b&0x80 == 0 {
			if shift < 64 && b&0x40 != 0 {
				result |= -1 << shift
			}
			return result, nil
		}
		if shift >= 70 {
			return 0, errTruncated
		}
	}
}

func (r *reader) name() (string, error) {
	n, err := r.u32()
	if err != nil {
		return "", err
	}
	b, err := r.bytes(int(n))
	return string(b), err
}

func (r *reader) limits() error {
	flag, err := r.byte()
	if err != nil {
		return err
	}
	if _, err := r.u32(); err != nil {
		return err
	}
	if flag&1 != 0 {
		_, err = r.u32()
	}
	return err
}

func (r *reader) memarg() error {
	if _, err := r.u32(); err != nil {
		return err
	}
	_, err := r.u32()
	return err
}

// prefixedSIMD skips the immediates of a 0xfd (fixed-width SIMD)
// instruction.
func (r *reader) prefixedSIMD() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 11 || sub == 92 || sub == 93: // loads and stores: memarg
		return r.memarg()
	case sub == 12 || sub == 13: // v128.const, i8x16.shuffle: 16 bytes
		_, err = r.bytes(16)
	case sub >= 21 && sub <= 34: // extract_lane, replace_lane: lane index
		_, err = r.byte()
	case sub >= 84 && sub <= 91: // load_lane, store_lane: memarg, lane index
		if err = r.memarg(); err == nil {
			_, err = r.byte()
		}
	case sub <= 275:
		// no immediates
	default:
		return fmt.Errorf("%w 0xfd %d", errUnsupportedOpcode, sub)
	}
	return err
}

func (r *reader) prefixedFC() error {
	sub, err := r.u32()
	if err != nil {
		return err
	}
	switch {
	case sub <= 7: // saturating truncations
		return nil
	case sub == 8: // memory.init data, mem
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	case sub == 9 || sub == 11 || sub == 13 || sub == 15 || sub == 16 || sub == 17:
		// data.drop, memory.fill, elem.drop, table.grow/size/fill: one index
		_, err = r.u32()
	case sub == 10 || sub == 12 || sub == 14: // memory.copy, table.init, table.copy
		if _, err = r.u32(); err == nil {
			_, err = r.u32()
		}
	default:
		return fmt.Errorf("%w 0xfc %d", errUnsupportedOpcode, sub)
	}
	return err
}

// minMemoryPages is the declared minimum of the module's memory (defined or
// imported), 0 when it has none.
func minMemoryPages(module []byte) (uint32, error) {
	sections, err := splitSections(module)
	if err != nil {
		return 0, err
	}
	for _, s := range sections {
		if s.id != sectionMemory {
			continue
		}
		r := reader{b: s.body}
		if n, err := r.u32(); err != nil || n == 0 {
			return 0, err
		}
		if _, err := r.byte(); err != nil {
			return 0, err
		}
		return r.u32()
	}
	return 0, nil
}

func sleb32(v int32) []byte {
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
