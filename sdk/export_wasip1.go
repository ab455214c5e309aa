//go:build wasip1

package sdk

import (
	"encoding/json"
	"unsafe"
)

// The guest owns every buffer: staticlet_alloc hands the host a buffer to
// write a request into, the operation takes it back, and the response stays
// referenced in lastResponse until the next call into the module, so the Go
// garbage collector neither frees a buffer the host still reads nor keeps
// one forever.
var (
	pending      = map[uint32][]byte{}
	lastResponse []byte
)

//go:wasmexport staticlet_abi_version
func exportABIVersion() uint32 { return ABIVersion }

//go:wasmexport staticlet_operations
func exportOperations() uint32 {
	if registered == nil {
		return 0
	}
	return registered.operations()
}

//go:wasmexport staticlet_alloc
func exportAlloc(size uint32) uint32 {
	lastResponse = nil
	buf := make([]byte, max(size, 1))
	ptr := uint32(uintptr(unsafe.Pointer(&buf[0])))
	pending[ptr] = buf[:size]
	return ptr
}

//go:wasmexport staticlet_validate
func exportValidate(ptr, size uint32) uint64 { return call(OpValidate, ptr, size) }

//go:wasmexport staticlet_mutate
func exportMutate(ptr, size uint32) uint64 { return call(OpMutate, ptr, size) }

//go:wasmexport staticlet_name
func exportName(ptr, size uint32) uint64 { return call(OpName, ptr, size) }

//go:wasmexport staticlet_validate_settings
func exportValidateSettings(ptr, size uint32) uint64 { return call(OpValidateSettings, ptr, size) }

func call(op string, ptr, size uint32) uint64 {
	req, ok := pending[ptr]
	delete(pending, ptr)
	var resp []byte
	switch {
	case registered == nil:
		resp, _ = json.Marshal(Response{Error: "sdk: no plugin registered (call sdk.Register from init)"})
	case !ok || uint32(len(req)) != size:
		resp, _ = json.Marshal(Response{Error: "sdk: request buffer was not allocated with staticlet_alloc"})
	default:
		resp = registered.Handle(op, req)
	}
	lastResponse = resp
	return uint64(uintptr(unsafe.Pointer(unsafe.SliceData(resp))))<<32 | uint64(len(resp))
}

//go:wasmimport staticlet log
func hostLog(level uint32, ptr unsafe.Pointer, size uint32)

//go:wasmimport staticlet node_name
func hostNodeName(ptr unsafe.Pointer, capacity uint32) uint32

//go:wasmimport staticlet node_labels
func hostNodeLabels(ptr unsafe.Pointer, capacity uint32) uint32

func logMessage(level Level, msg string) {
	if msg == "" {
		return
	}
	hostLog(uint32(level), unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
}

// hostString calls a node-fact host function: it returns the fact's length,
// copying it only when it fits, so a second call with a big enough buffer
// gets it all.
func hostString(fn func(unsafe.Pointer, uint32) uint32) []byte {
	buf := make([]byte, 256)
	for {
		n := fn(unsafe.Pointer(&buf[0]), uint32(len(buf)))
		if n <= uint32(len(buf)) {
			return buf[:n]
		}
		buf = make([]byte, n)
	}
}

func hostNode() Node {
	n := Node{Name: string(hostString(hostNodeName))}
	_ = json.Unmarshal(hostString(hostNodeLabels), &n.Labels)
	return n
}
