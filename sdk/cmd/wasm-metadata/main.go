// Command wasm-metadata embeds a plugin's metadata JSON into its .wasm file
// as the `staticlet.metadata` custom section (replacing an existing one), so
// `staticlet plugin inspect` can show it. It reads and rewrites the one file
// it is given.
//
//	go run ./plugins/my-plugin metadata > meta.json
//	wasm-metadata -metadata meta.json my-plugin.wasm
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/staticlet/staticlet/sdk/wasmmeta"
)

func main() {
	metaPath := flag.String("metadata", "", "metadata JSON file (- for stdin)")
	flag.Parse()
	if *metaPath == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: wasm-metadata -metadata FILE PLUGIN.wasm")
		os.Exit(2)
	}
	if err := run(*metaPath, flag.Arg(0)); err != nil {
		fmt.Fprintln(os.Stderr, "wasm-metadata:", err)
		os.Exit(1)
	}
}

func run(metaPath, wasmPath string) error {
	var meta []byte
	var err error
	if metaPath == "-" {
		meta, err = readAll(os.Stdin)
	} else {
		meta, err = os.ReadFile(metaPath)
	}
	if err != nil {
		return fmt.Errorf("read metadata: %w", err)
	}
	if !json.Valid(meta) {
		return fmt.Errorf("metadata %s: not valid JSON", metaPath)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, meta); err != nil {
		return fmt.Errorf("metadata %s: %w", metaPath, err)
	}
	module, err := os.ReadFile(wasmPath)
	if err != nil {
		return fmt.Errorf("read module: %w", err)
	}
	out, err := wasmmeta.Embed(module, compact.Bytes())
	if err != nil {
		return fmt.Errorf("%s: %w", wasmPath, err)
	}
	info, err := os.Stat(wasmPath)
	if err != nil {
		return fmt.Errorf("stat module: %w", err)
	}
	tmp := wasmPath + ".tmp"
	if err := os.WriteFile(tmp, out, info.Mode().Perm()); err != nil {
		return fmt.Errorf("write module: %w", err)
	}
	if err := os.Rename(tmp, wasmPath); err != nil {
		return fmt.Errorf("replace module: %w", err)
	}
	return nil
}

func readAll(f *os.File) ([]byte, error) {
	var buf bytes.Buffer
	_, err := buf.ReadFrom(f)
	return buf.Bytes(), err
}
