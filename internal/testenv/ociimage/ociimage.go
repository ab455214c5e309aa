package ociimage

import (
	"archive/tar"
	"bytes"
	"context"
	// go-digest computes sha256 only when the hash is linked in.
	_ "crypto/sha256"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	// DefaultName names the image when Options.Name is empty.
	DefaultName = "staticlet.test/busybox:latest"
	// DefaultBusyboxPath is where Debian's busybox-static installs busybox.
	DefaultBusyboxPath = "/bin/busybox"
	// DefaultPathEnv is the image's PATH when Options.Env sets none.
	DefaultPathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

	// AnnotationImageName is the annotation containerd's Import reads the full image name from.
	AnnotationImageName = "io.containerd.image.name"
)

var (
	// ErrInvalidOptions is wrapped by every error about a bad Options value.
	ErrInvalidOptions = errors.New("invalid image options")
	// ErrNotStatic means the busybox binary needs a dynamic loader, which the image does not have.
	ErrNotStatic = errors.New("busybox is not statically linked (install Debian's busybox-static)")
)

// epoch is the modification time of every file in the image, so that builds are reproducible.
var epoch = time.Unix(0, 0).UTC()

// Options says what image Build makes. The zero value makes DefaultName from DefaultBusyboxPath with
// Cmd ["sh"].
type Options struct {
	// Name is the image reference, with a domain and a tag or digest: "staticlet.test/busybox:latest".
	Name string
	// BusyboxPath is the static busybox binary to copy into the image.
	BusyboxPath string
	// Applets are the names linked to busybox in /bin. Nil means every applet `busybox --list` prints.
	Applets []string

	// The image config's fields (see the OCI image spec's config.config).
	Cmd        []string
	Entrypoint []string
	// Env is added after DefaultPathEnv; an entry starting with "PATH=" replaces it.
	Env        []string
	WorkingDir string
	StopSignal string
	User       string
	Labels     map[string]string

	// Files are added to the layer besides busybox (say a test server in /usr/local/bin), with
	// their missing parent folders (0755).
	Files []File
}

// File is a regular file Build adds to the image.
type File struct {
	// Path is where the file goes, relative to the root: "usr/local/bin/probeserver".
	Path string
	Mode int64
	Data []byte
}

// Image describes the archive Build wrote.
type Image struct {
	// Name is the image reference containerd will give the imported image.
	Name string
	// Manifest is the descriptor index.json lists, with its platform and name annotations.
	Manifest ocispec.Descriptor
	Config   ocispec.Descriptor
	// Layer is the image's single layer, an uncompressed tar, so its digest is also its diff ID.
	Layer ocispec.Descriptor
	// Applets are the names linked to busybox in /bin, sorted.
	Applets []string
}

// Build writes an oci-archive of a busybox image to w.
func Build(w io.Writer, opts Options) (Image, error) {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.BusyboxPath == "" {
		opts.BusyboxPath = DefaultBusyboxPath
	}
	if len(opts.Cmd) == 0 && len(opts.Entrypoint) == 0 {
		opts.Cmd = []string{"sh"}
	}
	tag, err := ociRefName(opts.Name)
	if err != nil {
		return Image{}, err
	}
	busybox, err := os.ReadFile(opts.BusyboxPath)
	if err != nil {
		return Image{}, fmt.Errorf("build image: read busybox: %w", err)
	}
	if err := checkStatic(opts.BusyboxPath, busybox); err != nil {
		return Image{}, err
	}
	applets := opts.Applets
	if applets == nil {
		if applets, err = ListApplets(opts.BusyboxPath); err != nil {
			return Image{}, err
		}
	}
	if applets, err = cleanApplets(applets); err != nil {
		return Image{}, err
	}

	layer, err := buildLayer(busybox, applets, opts.Files)
	if err != nil {
		return Image{}, err
	}
	img := Image{Name: opts.Name, Applets: applets}
	img.Layer = descriptorOf(ocispec.MediaTypeImageLayer, layer)

	platform := ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	config, err := json.Marshal(ocispec.Image{
		Platform: platform,
		Config: ocispec.ImageConfig{
			User:       opts.User,
			Env:        imageEnv(opts.Env),
			Entrypoint: opts.Entrypoint,
			Cmd:        opts.Cmd,
			WorkingDir: opts.WorkingDir,
			Labels:     opts.Labels,
			StopSignal: opts.StopSignal,
		},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{img.Layer.Digest}},
		History: []ocispec.History{{
			Created:   &epoch,
			CreatedBy: "staticlet ociimage: busybox and " + fmt.Sprint(len(applets)) + " applet links",
		}},
	})
	if err != nil {
		return Image{}, fmt.Errorf("build image: encode config: %w", err)
	}
	img.Config = descriptorOf(ocispec.MediaTypeImageConfig, config)

	manifest, err := json.Marshal(ocispec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    img.Config,
		Layers:    []ocispec.Descriptor{img.Layer},
	})
	if err != nil {
		return Image{}, fmt.Errorf("build image: encode manifest: %w", err)
	}
	img.Manifest = descriptorOf(ocispec.MediaTypeImageManifest, manifest)
	img.Manifest.Platform = &platform
	// The same pair of names containerd's own export writes: the full name for containerd, the tag
	// alone for the OCI annotation, which the image spec defines as not including the repository.
	img.Manifest.Annotations = map[string]string{
		AnnotationImageName:       opts.Name,
		ocispec.AnnotationRefName: tag,
	}

	index, err := json.Marshal(ocispec.Index{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{img.Manifest},
	})
	if err != nil {
		return Image{}, fmt.Errorf("build image: encode index: %w", err)
	}
	layout, err := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	if err != nil {
		return Image{}, fmt.Errorf("build image: encode oci-layout: %w", err)
	}

	// Blobs in digest order, so the archive's bytes depend on nothing but its content.
	blobs := [][]byte{config, layer, manifest}
	slices.SortFunc(blobs, func(a, b []byte) int {
		return strings.Compare(digest.FromBytes(a).Encoded(), digest.FromBytes(b).Encoded())
	})
	archive := tar.NewWriter(w)
	entries := []tarEntry{dir("blobs/", 0o755), dir("blobs/sha256/", 0o755)}
	for _, blob := range blobs {
		entries = append(entries, file("blobs/sha256/"+digest.FromBytes(blob).Encoded(), 0o644, blob))
	}
	entries = append(entries,
		file(ocispec.ImageIndexFile, 0o644, index),
		file(ocispec.ImageLayoutFile, 0o644, layout))
	if err := writeEntries(archive, entries); err != nil {
		return Image{}, fmt.Errorf("build image: write archive: %w", err)
	}
	if err := archive.Close(); err != nil {
		return Image{}, fmt.Errorf("build image: write archive: %w", err)
	}
	return img, nil
}

// ListApplets runs `busybox --list` and returns the applet names it prints.
func ListApplets(busyboxPath string) ([]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, busyboxPath, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("list applets: %s --list: %w", busyboxPath, err)
	}
	return strings.Fields(string(out)), nil
}

// ociRefName validates name and returns what org.opencontainers.image.ref.name holds for it.
func ociRefName(name string) (string, error) {
	ref, err := reference.ParseNamed(name)
	if err != nil {
		return "", fmt.Errorf("%w: Name %q: want a full reference like %q: %w", ErrInvalidOptions, name, DefaultName, err)
	}
	if tagged, ok := ref.(reference.Tagged); ok {
		return tagged.Tag(), nil
	}
	if _, ok := ref.(reference.Digested); ok {
		return name, nil
	}
	return "", fmt.Errorf("%w: Name %q: has no tag or digest", ErrInvalidOptions, name)
}

// checkStatic returns ErrNotStatic when the ELF binary asks for a program interpreter.
func checkStatic(path string, binary []byte) error {
	f, err := elf.NewFile(bytes.NewReader(binary))
	if err != nil {
		return fmt.Errorf("build image: %s: not an ELF executable: %w", path, err)
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return fmt.Errorf("build image: %s: %w", path, ErrNotStatic)
		}
	}
	return nil
}

// cleanApplets sorts and deduplicates the applet names and drops busybox itself.
func cleanApplets(applets []string) ([]string, error) {
	clean := make([]string, 0, len(applets))
	for _, name := range applets {
		if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
			return nil, fmt.Errorf("%w: Applets: %q is not a file name", ErrInvalidOptions, name)
		}
		if name != "busybox" {
			clean = append(clean, name)
		}
	}
	slices.Sort(clean)
	return slices.Compact(clean), nil
}

func imageEnv(env []string) []string {
	for _, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			return slices.Clone(env)
		}
	}
	return append([]string{DefaultPathEnv}, env...)
}

const (
	passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
	group  = "root:x:0:\nnobody:x:65534:\n"
	hosts  = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
)

// buildLayer returns the image's root filesystem as an uncompressed tar.
func buildLayer(busybox []byte, applets []string, files []File) ([]byte, error) {
	entries := []tarEntry{
		dir("bin/", 0o755),
		file("bin/busybox", 0o755, busybox),
		dir("dev/", 0o755),
		dir("etc/", 0o755),
		file("etc/group", 0o644, []byte(group)),
		file("etc/hosts", 0o644, []byte(hosts)),
		file("etc/passwd", 0o644, []byte(passwd)),
		dir("proc/", 0o555),
		dir("root/", 0o700),
		dir("sys/", 0o555),
		dir("tmp/", 0o1777),
		dir("usr/", 0o755),
		dir("usr/bin/", 0o755),
		// Scripts starting with #!/usr/bin/env find it where they expect.
		symlink("usr/bin/env", "/bin/busybox"),
		dir("var/", 0o755),
	}
	for _, applet := range applets {
		entries = append(entries, symlink("bin/"+applet, "busybox"))
	}
	extra, err := fileEntries(entries, files)
	if err != nil {
		return nil, err
	}
	entries = append(entries, extra...)
	// Name order puts every directory before what it contains.
	slices.SortFunc(entries, func(a, b tarEntry) int { return strings.Compare(a.header.Name, b.header.Name) })
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	if err := writeEntries(tw, entries); err != nil {
		return nil, fmt.Errorf("build layer: %w", err)
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("build layer: %w", err)
	}
	return layer.Bytes(), nil
}

// fileEntries returns the entries for files and for their parent folders not among existing.
func fileEntries(existing []tarEntry, files []File) ([]tarEntry, error) {
	have := make(map[string]bool, len(existing))
	for _, e := range existing {
		have[strings.TrimSuffix(e.header.Name, "/")] = true
	}
	var entries []tarEntry
	for _, f := range files {
		name := path.Clean(f.Path)
		if path.IsAbs(name) || name == "." || strings.HasPrefix(name, "../") || name == ".." {
			return nil, fmt.Errorf("%w: Files: %q is not a relative path inside the image", ErrInvalidOptions, f.Path)
		}
		if have[name] {
			return nil, fmt.Errorf("%w: Files: %q is already in the image", ErrInvalidOptions, f.Path)
		}
		for parent := path.Dir(name); parent != "."; parent = path.Dir(parent) {
			if !have[parent] {
				have[parent] = true
				entries = append(entries, dir(parent+"/", 0o755))
			}
		}
		have[name] = true
		entries = append(entries, file(name, f.Mode, f.Data))
	}
	return entries, nil
}

type tarEntry struct {
	header tar.Header
	data   []byte
}

func dir(name string, mode int64) tarEntry {
	return tarEntry{header: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode}}
}

func file(name string, mode int64, data []byte) tarEntry {
	return tarEntry{header: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}, data: data}
}

func symlink(name, target string) tarEntry {
	return tarEntry{header: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}

func writeEntries(tw *tar.Writer, entries []tarEntry) error {
	for _, entry := range entries {
		header := entry.header
		header.ModTime = epoch
		header.Format = tar.FormatUSTAR
		if err := tw.WriteHeader(&header); err != nil {
			return fmt.Errorf("%s: %w", header.Name, err)
		}
		if _, err := tw.Write(entry.data); err != nil {
			return fmt.Errorf("%s: %w", header.Name, err)
		}
	}
	return nil
}

func descriptorOf(mediaType string, blob []byte) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: mediaType, Digest: digest.FromBytes(blob), Size: int64(len(blob))}
}
