package ociimage_test

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/staticlet/staticlet/internal/testenv/ociimage"
)

func TestBuildReadsBack(t *testing.T) {
	busybox := writeELF(t, false)
	opts := ociimage.Options{
		Name:        "staticlet.test/busybox:v1",
		BusyboxPath: busybox,
		Applets:     []string{"sleep", "sh", "busybox", "echo", "sh"},
		Env:         []string{"GREETING=hello"},
		WorkingDir:  "/tmp",
		StopSignal:  "SIGUSR1",
		User:        "65534",
		Files:       []ociimage.File{{Path: "usr/local/bin/probeserver", Mode: 0o755, Data: []byte("server")}},
	}
	var archive bytes.Buffer
	img, err := ociimage.Build(&archive, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	blobs, files := readArchive(t, archive.Bytes())

	if got := string(files[ocispec.ImageLayoutFile]); got != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout = %s", got)
	}
	var index ocispec.Index
	decode(t, files[ocispec.ImageIndexFile], &index)
	if len(index.Manifests) != 1 {
		t.Fatalf("index.json has %d manifests, want 1", len(index.Manifests))
	}
	manifestDesc := index.Manifests[0]
	if manifestDesc.Digest != img.Manifest.Digest || manifestDesc.Size != img.Manifest.Size {
		t.Errorf("index.json manifest %s/%d, Build returned %s/%d",
			manifestDesc.Digest, manifestDesc.Size, img.Manifest.Digest, img.Manifest.Size)
	}
	if got := manifestDesc.Annotations[ociimage.AnnotationImageName]; got != opts.Name {
		t.Errorf("%s = %q, want %q", ociimage.AnnotationImageName, got, opts.Name)
	}
	if got := manifestDesc.Annotations[ocispec.AnnotationRefName]; got != "v1" {
		t.Errorf("%s = %q, want the tag v1", ocispec.AnnotationRefName, got)
	}
	if p := manifestDesc.Platform; p == nil || p.OS != "linux" || p.Architecture != runtime.GOARCH {
		t.Errorf("manifest platform = %+v, want linux/%s", p, runtime.GOARCH)
	}

	var manifest ocispec.Manifest
	decode(t, blob(t, blobs, manifestDesc), &manifest)
	if manifest.MediaType != ocispec.MediaTypeImageManifest || manifest.SchemaVersion != 2 {
		t.Errorf("manifest media type %q schema %d", manifest.MediaType, manifest.SchemaVersion)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("manifest has %d layers, want 1", len(manifest.Layers))
	}
	var config ocispec.Image
	decode(t, blob(t, blobs, manifest.Config), &config)
	layer := blob(t, blobs, manifest.Layers[0])
	if manifest.Layers[0].MediaType != ocispec.MediaTypeImageLayer {
		t.Errorf("layer media type %q", manifest.Layers[0].MediaType)
	}
	if want := []digest.Digest{digest.FromBytes(layer)}; !slices.Equal(config.RootFS.DiffIDs, want) {
		t.Errorf("config diff IDs %v, want %v", config.RootFS.DiffIDs, want)
	}
	if config.OS != "linux" || config.Architecture != runtime.GOARCH {
		t.Errorf("config platform %s/%s", config.OS, config.Architecture)
	}
	wantEnv := []string{ociimage.DefaultPathEnv, "GREETING=hello"}
	if c := config.Config; !slices.Equal(c.Cmd, []string{"sh"}) || !slices.Equal(c.Env, wantEnv) ||
		c.WorkingDir != "/tmp" || c.StopSignal != "SIGUSR1" || c.User != "65534" {
		t.Errorf("image config = %+v", c)
	}

	if want := []string{"echo", "sh", "sleep"}; !slices.Equal(img.Applets, want) {
		t.Errorf("Applets = %v, want %v", img.Applets, want)
	}
	headers := readLayer(t, layer)
	checkHeader(t, headers, "bin/busybox", tar.TypeReg, 0o755, "")
	checkHeader(t, headers, "bin/sh", tar.TypeSymlink, 0o777, "busybox")
	checkHeader(t, headers, "bin/sleep", tar.TypeSymlink, 0o777, "busybox")
	checkHeader(t, headers, "tmp/", tar.TypeDir, 0o1777, "")
	checkHeader(t, headers, "etc/passwd", tar.TypeReg, 0o644, "")
	checkHeader(t, headers, "etc/group", tar.TypeReg, 0o644, "")
	checkHeader(t, headers, "usr/local/", tar.TypeDir, 0o755, "")
	checkHeader(t, headers, "usr/local/bin/", tar.TypeDir, 0o755, "")
	checkHeader(t, headers, "usr/local/bin/probeserver", tar.TypeReg, 0o755, "")
	if _, ok := headers["bin/busybox/busybox"]; ok {
		t.Error("busybox linked to itself")
	}
}

func TestBuildIsDeterministic(t *testing.T) {
	opts := ociimage.Options{BusyboxPath: writeELF(t, false), Applets: []string{"sh", "true"}}
	var first, second bytes.Buffer
	a, err := ociimage.Build(&first, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	b, err := ociimage.Build(&second, opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if !bytes.Equal(first.Bytes(), second.Bytes()) || a.Manifest.Digest != b.Manifest.Digest {
		t.Errorf("two builds differ: manifests %s and %s", a.Manifest.Digest, b.Manifest.Digest)
	}
	if a.Name != ociimage.DefaultName {
		t.Errorf("Name = %q, want %q", a.Name, ociimage.DefaultName)
	}
}

func TestBuildRejects(t *testing.T) {
	static := writeELF(t, false)
	for _, tc := range []struct {
		name string
		opts ociimage.Options
		want error
	}{
		{"dynamic busybox", ociimage.Options{BusyboxPath: writeELF(t, true), Applets: []string{"sh"}}, ociimage.ErrNotStatic},
		{"name without domain", ociimage.Options{Name: "busybox:latest", BusyboxPath: static, Applets: []string{}}, ociimage.ErrInvalidOptions},
		{"name without tag", ociimage.Options{Name: "staticlet.test/busybox", BusyboxPath: static, Applets: []string{}}, ociimage.ErrInvalidOptions},
		{"applet with slash", ociimage.Options{BusyboxPath: static, Applets: []string{"../sh"}}, ociimage.ErrInvalidOptions},
		{"absolute file path", ociimage.Options{BusyboxPath: static, Applets: []string{}, Files: []ociimage.File{{Path: "/etc/x"}}}, ociimage.ErrInvalidOptions},
		{"file outside the root", ociimage.Options{BusyboxPath: static, Applets: []string{}, Files: []ociimage.File{{Path: "a/../../x"}}}, ociimage.ErrInvalidOptions},
		{"file over busybox", ociimage.Options{BusyboxPath: static, Applets: []string{}, Files: []ociimage.File{{Path: "bin/busybox"}}}, ociimage.ErrInvalidOptions},
		{"missing busybox", ociimage.Options{BusyboxPath: filepath.Join(t.TempDir(), "none"), Applets: []string{}}, os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ociimage.Build(io.Discard, tc.opts)
			if !errors.Is(err, tc.want) {
				t.Errorf("Build error = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestBuildHostBusybox checks the real thing: Debian's busybox-static and the applets it lists.
func TestBuildHostBusybox(t *testing.T) {
	if _, err := os.Stat(ociimage.DefaultBusyboxPath); err != nil {
		t.Skipf("no host busybox: %v", err)
	}
	var archive bytes.Buffer
	img, err := ociimage.Build(&archive, ociimage.Options{})
	if errors.Is(err, ociimage.ErrNotStatic) {
		t.Skipf("host busybox is not busybox-static: %v", err)
	}
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	for _, applet := range []string{"sh", "sleep", "echo", "cat", "true", "false", "ls", "env", "hostname", "nc", "wget", "httpd"} {
		if !slices.Contains(img.Applets, applet) {
			t.Errorf("applet %s missing from %v", applet, img.Applets)
		}
	}
	blobs, _ := readArchive(t, archive.Bytes())
	headers := readLayer(t, blob(t, blobs, img.Layer))
	if h := headers["bin/busybox"]; h == nil || h.Size < 100_000 {
		t.Errorf("bin/busybox header %+v, want the real binary", h)
	}
}

// writeELF writes a minimal 64-bit ELF header; dynamic adds a PT_INTERP program header.
func writeELF(t *testing.T, dynamic bool) string {
	t.Helper()
	const headerSize, progSize = 64, 56
	header := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(elf.EM_X86_64),
		Version:   uint32(elf.EV_CURRENT),
		Ehsize:    headerSize,
		Phentsize: progSize,
	}
	copy(header.Ident[:], elf.ELFMAG)
	header.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	header.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	header.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	var progs []elf.Prog64
	if dynamic {
		interp := uint64(headerSize + progSize)
		progs = append(progs, elf.Prog64{Type: uint32(elf.PT_INTERP), Off: interp, Filesz: 8, Memsz: 8})
		header.Phoff = headerSize
		header.Phnum = 1
	}
	var buf bytes.Buffer
	for _, part := range []any{header, progs, []byte("/ld.so\x00\x00")} {
		if err := binary.Write(&buf, binary.LittleEndian, part); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "busybox")
	if err := os.WriteFile(path, buf.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// readArchive returns the archive's blobs by digest and its other files by name, checking that every
// blob's name is its digest.
func readArchive(t *testing.T, archive []byte) (map[digest.Digest][]byte, map[string][]byte) {
	t.Helper()
	blobs := map[digest.Digest][]byte{}
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("read archive: %v", err)
		}
		if h.Typeflag == tar.TypeDir {
			continue
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("read archive: %s: %v", h.Name, err)
		}
		if dir, name := filepath.Split(h.Name); dir == "blobs/sha256/" {
			d := digest.NewDigestFromEncoded(digest.SHA256, name)
			if got := digest.FromBytes(data); got != d {
				t.Errorf("blob %s has digest %s", h.Name, got)
			}
			blobs[d] = data
			continue
		}
		files[h.Name] = data
	}
	return blobs, files
}

// blob returns the blob desc points to, checking its size.
func blob(t *testing.T, blobs map[digest.Digest][]byte, desc ocispec.Descriptor) []byte {
	t.Helper()
	data, ok := blobs[desc.Digest]
	if !ok {
		t.Fatalf("blob %s (%s) missing from archive", desc.Digest, desc.MediaType)
	}
	if int64(len(data)) != desc.Size {
		t.Fatalf("blob %s has %d bytes, descriptor says %d", desc.Digest, len(data), desc.Size)
	}
	return data
}

func readLayer(t *testing.T, layer []byte) map[string]*tar.Header {
	t.Helper()
	headers := map[string]*tar.Header{}
	tr := tar.NewReader(bytes.NewReader(layer))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return headers
		}
		if err != nil {
			t.Fatalf("read layer: %v", err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.ModTime.Unix() != 0 {
			t.Errorf("layer entry %s: uid %d gid %d mtime %v, want 0 0 epoch", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		headers[h.Name] = h
	}
}

func checkHeader(t *testing.T, headers map[string]*tar.Header, name string, typ byte, mode int64, link string) {
	t.Helper()
	h, ok := headers[name]
	if !ok {
		t.Errorf("layer has no %s", name)
		return
	}
	if h.Typeflag != typ || h.Mode != mode || h.Linkname != link {
		t.Errorf("%s: type %c mode %o link %q, want %c %o %q", name, h.Typeflag, h.Mode, h.Linkname, typ, mode, link)
	}
}

func decode(t *testing.T, data []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("decode %T: %v", v, err)
	}
}
