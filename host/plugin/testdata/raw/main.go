// Command raw is a hostile test plugin that speaks the ABI by hand, without
// the SDK. What it does is chosen by the "behavior" setting, so one module
// (one compile) covers every misbehaviour the host must contain.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path"
	"strings"
	"unsafe"
)

var (
	pending = map[uint32][]byte{}
	last    []byte
	hoard   [][]byte
	sink    int
)

//go:wasmexport staticlet_abi_version
func abiVersion() uint32 { return 1 }

//go:wasmexport staticlet_alloc
func alloc(size uint32) uint32 {
	buf := make([]byte, size+1)
	ptr := uint32(uintptr(unsafe.Pointer(&buf[0])))
	pending[ptr] = buf[:size]
	return ptr
}

//go:wasmexport staticlet_validate
func validate(ptr, size uint32) uint64 { return handle(ptr) }

//go:wasmexport staticlet_mutate
func mutate(ptr, size uint32) uint64 { return handle(ptr) }

//go:wasmexport staticlet_name
func name(ptr, size uint32) uint64 { return handle(ptr) }

func respond(b []byte) uint64 {
	last = b
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

func handle(ptr uint32) uint64 {
	req := pending[ptr]
	delete(pending, ptr)
	var r struct {
		Operation string `json:"operation"`
		File      string `json:"file"`
		Settings  struct {
			Behavior string `json:"behavior"`
		} `json:"settings"`
	}
	_ = json.Unmarshal(req, &r)
	behavior := r.Settings.Behavior
	if behavior == "" {
		// by file: "/manifests/loop.yaml" behaves as "loop"
		behavior = strings.TrimSuffix(path.Base(r.File), path.Ext(r.File))
	}
	switch behavior {
	case "loop":
		for i := 0; ; i++ {
			sink += i
		}
	case "membomb":
		for {
			hoard = append(hoard, bytes.Repeat([]byte{1}, 4<<20))
		}
	case "panic":
		panic("raw plugin panics on purpose")
	case "exit":
		os.Exit(3)
	case "giant":
		return respond(bytes.Repeat([]byte{' '}, 5<<20))
	case "invalid-json":
		return respond([]byte(`{"allowed": tru`))
	case "out-of-bounds":
		last = nil
		return uint64(0xfffffff0)<<32 | 64
	case "files":
		data, err := os.ReadFile("/etc/passwd")
		return deny("Files", fmt.Sprintf("read %d bytes, err=%v", len(data), err))
	case "socket":
		conn, err := net.Dial("tcp", "127.0.0.1:22")
		if conn != nil {
			conn.Close()
		}
		return deny("Socket", fmt.Sprintf("connected=%v err=%v", conn != nil, err))
	case "env":
		return deny("Env", fmt.Sprintf("env=%d", len(os.Environ())))
	case "log":
		msg := strings.Repeat("x", 10000)
		for range 200 {
			hostLog(2, unsafe.Pointer(unsafe.StringData(msg)), uint32(len(msg)))
		}
		return respond([]byte(`{"allowed":true}`))
	case "node":
		buf := make([]byte, 4)
		n := hostNodeName(unsafe.Pointer(&buf[0]), uint32(len(buf)))
		if n > uint32(len(buf)) {
			buf = make([]byte, n)
			n = hostNodeName(unsafe.Pointer(&buf[0]), n)
		}
		labels := make([]byte, 1024)
		m := hostNodeLabels(unsafe.Pointer(&labels[0]), 1024)
		return deny("Node", fmt.Sprintf("%s %s", buf[:n], labels[:m]))
	case "error":
		return respond([]byte(`{"error":"settings say fail"}`))
	}
	switch r.Operation {
	case "mutate":
		return respond([]byte(`{}`))
	case "name":
		return respond([]byte(`{"name":""}`))
	}
	return respond([]byte(`{"allowed":true}`))
}

func deny(code, msg string) uint64 {
	out, _ := json.Marshal(map[string]any{"allowed": false, "denials": []map[string]string{{"code": code, "message": msg}}})
	return respond(out)
}

//go:wasmimport staticlet log
func hostLog(level uint32, ptr unsafe.Pointer, size uint32)

//go:wasmimport staticlet node_name
func hostNodeName(ptr unsafe.Pointer, capacity uint32) uint32

//go:wasmimport staticlet node_labels
func hostNodeLabels(ptr unsafe.Pointer, capacity uint32) uint32

func main() {}
