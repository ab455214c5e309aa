package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/staticlet/staticlet/internal/testenv/ociimage"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// stringList is a repeatable flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// argv is a flag holding a command line: a JSON array, or words split on spaces.
type argv []string

func (a *argv) String() string { return strings.Join(*a, " ") }

func (a *argv) Set(v string) error {
	if strings.HasPrefix(strings.TrimSpace(v), "[") {
		var words []string
		if err := json.Unmarshal([]byte(v), &words); err != nil {
			return fmt.Errorf("not a JSON array of strings: %w", err)
		}
		*a = words
		return nil
	}
	*a = strings.Fields(v)
	return nil
}

func run(args []string, stdout, stderr io.Writer) error {
	flags := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var (
		opts       ociimage.Options
		cmd, entry argv
		env        stringList
		output     = flags.String("o", "", "write the archive to this `path` (- for standard output)")
	)
	flags.StringVar(&opts.Name, "name", ociimage.DefaultName, "image `reference`, with a domain and a tag")
	flags.StringVar(&opts.BusyboxPath, "busybox", ociimage.DefaultBusyboxPath, "static busybox `binary` to copy")
	applets := flags.String("applets", "", "comma-separated applet `names` to link in /bin (default: all that busybox --list prints)")
	flags.Var(&cmd, "cmd", "image Cmd: JSON array or space-separated words (default [\"sh\"])")
	flags.Var(&entry, "entrypoint", "image Entrypoint: JSON array or space-separated words")
	flags.Var(&env, "env", "`KEY=VALUE` added to the image Env (repeatable; PATH=... replaces the default PATH)")
	flags.StringVar(&opts.WorkingDir, "workdir", "", "image WorkingDir")
	flags.StringVar(&opts.StopSignal, "stop-signal", "", "image StopSignal, such as SIGTERM")
	flags.StringVar(&opts.User, "user", "", "image User, such as 65534 or nobody")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *output == "" || flags.NArg() > 0 {
		flags.Usage()
		return fmt.Errorf("want -o PATH and no arguments: %w", flag.ErrHelp)
	}
	opts.Cmd, opts.Entrypoint, opts.Env = cmd, entry, env
	if *applets != "" {
		opts.Applets = strings.Split(*applets, ",")
	}

	if *output == "-" {
		w := bufio.NewWriter(stdout)
		if _, err := ociimage.Build(w, opts); err != nil {
			return err
		}
		return w.Flush()
	}
	img, err := writeFile(*output, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s %s\n", *output, img.Name, img.Manifest.Digest)
	return nil
}

// writeFile builds the archive into a temporary file beside path and renames it into place, so path
// never holds half an archive.
func writeFile(path string, opts ociimage.Options) (ociimage.Image, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".mkimage-*")
	if err != nil {
		return ociimage.Image{}, fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriter(tmp)
	img, err := ociimage.Build(w, opts)
	if err == nil {
		err = w.Flush()
	}
	if closeErr := tmp.Close(); err == nil {
		err = closeErr
	}
	if err == nil {
		err = os.Chmod(tmp.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return ociimage.Image{}, fmt.Errorf("write %s: %w", path, err)
	}
	return img, nil
}
