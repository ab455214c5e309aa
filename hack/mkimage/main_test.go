package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

func TestRunWritesArchive(t *testing.T) {
	dir := t.TempDir()
	busybox := filepath.Join(dir, "busybox")
	if err := os.WriteFile(busybox, staticELF(t), 0o755); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	var stdout, stderr bytes.Buffer
	err := run([]string{
		"-o", out, "-busybox", busybox, "-applets", "sh,sleep", "-name", "staticlet.test/app:v2",
		"-cmd", `["sh", "-c", "sleep 60"]`, "-entrypoint", "/bin/env FOO=1", "-env", "A=1", "-env", "B=2",
		"-workdir", "/tmp", "-stop-signal", "SIGINT", "-user", "nobody",
	}, &stdout, &stderr)
	if err != nil {
		t.Fatalf("run: %v (stderr %s)", err, stderr.String())
	}
	if fields := strings.Fields(stdout.String()); len(fields) != 3 || fields[1] != "staticlet.test/app:v2" {
		t.Errorf("stdout = %q, want path, name and digest", stdout.String())
	}
	config := imageConfig(t, out)
	if !slices.Equal(config.Cmd, []string{"sh", "-c", "sleep 60"}) ||
		!slices.Equal(config.Entrypoint, []string{"/bin/env", "FOO=1"}) ||
		!slices.Equal(config.Env[1:], []string{"A=1", "B=2"}) ||
		config.WorkingDir != "/tmp" || config.StopSignal != "SIGINT" || config.User != "nobody" {
		t.Errorf("image config = %+v", config)
	}
}

func TestRunNeedsOutput(t *testing.T) {
	if err := run(nil, io.Discard, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("run without -o: %v, want flag.ErrHelp", err)
	}
}

// imageConfig reads the image config out of an oci-archive with a single manifest.
func imageConfig(t *testing.T, path string) ocispec.ImageConfig {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read %s: %v", path, err)
		}
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			t.Fatalf("read %s: %s: %v", path, h.Name, err)
		}
	}
	blob := func(d ocispec.Descriptor) []byte { return files["blobs/sha256/"+d.Digest.Encoded()] }
	var index ocispec.Index
	var manifest ocispec.Manifest
	var image ocispec.Image
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatalf("decode index.json: %v", err)
	}
	if err := json.Unmarshal(blob(index.Manifests[0]), &manifest); err != nil {
		t.Fatalf("decode manifest: %v", err)
	}
	if err := json.Unmarshal(blob(manifest.Config), &image); err != nil {
		t.Fatalf("decode config: %v", err)
	}
	return image.Config
}

// staticELF returns a minimal 64-bit ELF header with no program interpreter.
func staticELF(t *testing.T) []byte {
	t.Helper()
	header := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(elf.EM_X86_64),
		Version:   uint32(elf.EV_CURRENT),
		Ehsize:    64,
		Phentsize: 56,
	}
	copy(header.Ident[:], elf.ELFMAG)
	header.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	header.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	header.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var buf bytes.Buffer
	if err := binary.Write(&buf, binary.LittleEndian, header); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
