package plugin

import (
	"syscall"

	"github.com/tetratelabs/wazero/experimental"
)

// guestMemory backs each guest's linear memory with its own anonymous
// mapping, reserved at the memory's maximum (the plugin's memoryLimit) and
// never moved. Three things follow, and docs/plugin-abi.md promises them:
//   - growing costs nothing: wazero's default allocator appends to a Go
//     slice, copying the whole memory and holding the old copy until the
//     next GC, so a guest growing to its limit briefly costs the host twice
//     the limit;
//   - only pages the guest touches are resident, so a plugin costs the host
//     its memoryLimit at most, plus a constant;
//   - closing an instance returns its memory to the kernel at once
//     (munmap), not at some later GC.
//
// The mapping is MAP_NORESERVE: reserving address space commits nothing.
type guestMemory struct{}

var _ experimental.MemoryAllocator = guestMemory{}

// Allocate implements experimental.MemoryAllocator. wazero cannot take a
// failure here (it would panic), so if the kernel refuses the mapping the
// memory is a Go slice of the same size, which the Go runtime also maps
// lazily, and which is freed by the GC instead.
func (guestMemory) Allocate(_, maxBytes uint64) experimental.LinearMemory {
	if maxBytes == 0 {
		return &mappedMemory{}
	}
	buf, err := syscall.Mmap(-1, 0, int(maxBytes), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
	if err != nil {
		return &mappedMemory{mapped: make([]byte, maxBytes), onGoHeap: true}
	}
	return &mappedMemory{mapped: buf}
}

type mappedMemory struct {
	mapped   []byte
	onGoHeap bool
}

// Reallocate implements experimental.LinearMemory: the memory grows in
// place, within the mapping.
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if size > uint64(len(m.mapped)) {
		return nil
	}
	return m.mapped[:size:size]
}

// Free implements experimental.LinearMemory.
func (m *mappedMemory) Free() {
	if m.mapped != nil && !m.onGoHeap {
		_ = syscall.Munmap(m.mapped)
	}
	m.mapped = nil
}
