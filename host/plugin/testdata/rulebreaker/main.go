// Command rulebreaker is a test plugin that speaks the ABI by hand and
// breaks the host's rules on purpose: it renames and moves pods in mutate,
// names any pod etcd-worker-1, writes control characters into every text it
// returns, floods denials and warnings, returns a 4 MB error, rejects
// settings, loops, and echoes what it was sent. What it does is chosen by the "behavior" setting, else by
// the manifest file's base name ("/m/loop.yaml" behaves as "loop").
package main

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"unsafe"
)

var (
	pending = map[uint32][]byte{}
	last    []byte
	sink    int
)

// forged is text that would forge a log line and recolour a terminal if
// the host printed it raw.
const forged = "first line\n2026-01-01T00:00:00Z [INFO] forged: line\r\x1b[31mred\x1b[0m\x07\xff"

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

//go:wasmexport staticlet_validate_settings
func validateSettings(ptr, size uint32) uint64 {
	req := pending[ptr]
	delete(pending, ptr)
	var r struct {
		Settings struct {
			Reject string `json:"reject"`
		} `json:"settings"`
	}
	_ = json.Unmarshal(req, &r)
	if r.Settings.Reject != "" {
		return respondJSON(map[string]any{"valid": false, "message": r.Settings.Reject})
	}
	return respond([]byte(`{"valid":true}`))
}

func respond(b []byte) uint64 {
	last = b
	return uint64(uintptr(unsafe.Pointer(&b[0])))<<32 | uint64(len(b))
}

func respondJSON(v any) uint64 {
	out, _ := json.Marshal(v)
	return respond(out)
}

type request struct {
	Operation string `json:"operation"`
	File      string `json:"file"`
	Settings  struct {
		Behavior string `json:"behavior"`
	} `json:"settings"`
	Manifest map[string]any `json:"manifest"`
}

func handle(ptr uint32) uint64 {
	req := pending[ptr]
	delete(pending, ptr)
	var r request
	_ = json.Unmarshal(req, &r)
	behavior := r.Settings.Behavior
	if behavior == "" {
		behavior = strings.TrimSuffix(path.Base(r.File), path.Ext(r.File))
	}
	meta, _ := r.Manifest["metadata"].(map[string]any)
	switch behavior {
	case "loop":
		for i := 0; ; i++ {
			sink += i
		}
	case "forge":
		hostLog(3, unsafe.Pointer(unsafe.StringData(forged)), uint32(len(forged)))
		return respondJSON(map[string]any{"allowed": false,
			"denials":  []map[string]string{{"code": "Forged\nCode", "message": forged, "field": "spec\x1b[2J"}},
			"warnings": []string{forged}})
	case "huge-error":
		return respond([]byte(`{"error":"` + strings.Repeat("e", 4_000_000) + `\n\u001b[31m"}`))
	case "many-denials":
		var b strings.Builder
		b.WriteString(`{"allowed":false,"denials":[`)
		for i := range 150_001 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"code":"D"}`)
		}
		b.WriteString(`],"warnings":[`)
		for i := range 150 {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`"w"`)
		}
		b.WriteString(`]}`)
		return respond([]byte(b.String()))
	case "rename", "move", "relabel":
		if r.Operation != "mutate" {
			break
		}
		switch behavior {
		case "rename":
			meta["name"] = "etcd"
		case "move":
			meta["namespace"] = "kube-system"
		case "relabel":
			meta["labels"] = map[string]any{"tier": "exempt"}
		}
		return respondJSON(map[string]any{"manifest": r.Manifest})
	case "name-etcd":
		if r.Operation == "name" {
			return respond([]byte(`{"name":"etcd-worker-1"}`))
		}
	case "echo":
		return echo(r, meta)
	}
	switch r.Operation {
	case "mutate":
		return respond([]byte(`{}`))
	case "name":
		return respond([]byte(`{"name":""}`))
	}
	return respond([]byte(`{"allowed":true}`))
}

// echo reports what the operation received: validate denies with a
// summary, mutate writes it into an annotation, name puts it in the name.
func echo(r request, meta map[string]any) uint64 {
	spec, _ := r.Manifest["spec"].(map[string]any)
	summary := fmt.Sprintf("name=%v namespace=%v nodeName=%v uid=%v labels=%v", meta["name"], meta["namespace"], spec["nodeName"], meta["uid"] != nil, meta["labels"])
	switch r.Operation {
	case "mutate":
		meta["annotations"] = map[string]any{"echo": summary}
		return respondJSON(map[string]any{"manifest": r.Manifest})
	case "name":
		ns, _ := meta["namespace"].(string)
		if ns == "" {
			ns = "none"
		}
		return respondJSON(map[string]any{"name": fmt.Sprintf("%v-%s-echo", meta["name"], ns)})
	}
	return respondJSON(map[string]any{"allowed": false, "denials": []map[string]string{{"code": "Echo", "message": summary}}})
}

//go:wasmimport staticlet log
func hostLog(level uint32, ptr unsafe.Pointer, size uint32)

func main() {}
