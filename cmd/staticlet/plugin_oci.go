package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/staticlet/staticlet/host/plugin/oci"
)

// The publishing side of OCI plugins: keygen, push, sign and resolve. The
// pulling side is --public-key/--store on plugin run|test|bench (and the
// agent's plugin store).

func newPluginKeygenCommand() *cobra.Command {
	var out string
	cmd := &cobra.Command{
		Use:   "keygen --out PREFIX",
		Short: "Make an ECDSA P-256 key pair to sign plugins with: PREFIX.key (PKCS #8 PEM, keep it secret) and PREFIX.pub",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return err
			}
			private, public, err := oci.EncodeKeyPair(key)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out+".key", private, 0o600); err != nil {
				return err
			}
			if err := os.WriteFile(out+".pub", public, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s.key\n%s.pub\n", out, out)
			return nil
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "path prefix of the key files (required)")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func newPluginPushCommand() *cobra.Command {
	var path, keyPath string
	cmd := &cobra.Command{
		Use:   "push --plugin F.wasm [--key F.key] oci://REGISTRY/REPOSITORY:TAG",
		Short: "Publish a plugin as an OCI artifact (signed with --key), and print its pinned oci://...@sha256 reference",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			module, err := os.ReadFile(path)
			if err != nil {
				return usageError(fmt.Errorf("--plugin: %w", err))
			}
			var key *ecdsa.PrivateKey
			if keyPath != "" {
				if key, err = readPrivateKey(keyPath); err != nil {
					return err
				}
			}
			ref, err := oci.Push(cmd.Context(), args[0], module)
			if err != nil {
				return err
			}
			if key != nil {
				if err := oci.Sign(cmd.Context(), ref, key); err != nil {
					return err
				}
			}
			fmt.Fprintln(cmd.OutOrStdout(), ref)
			return nil
		},
	}
	cmd.Flags().StringVar(&path, "plugin", "", "the plugin's .wasm file (required)")
	cmd.Flags().StringVar(&keyPath, "key", "", "sign it with this private key (PKCS #8 PEM, `plugin keygen`)")
	_ = cmd.MarkFlagRequired("plugin")
	return cmd
}

func newPluginSignCommand() *cobra.Command {
	var keyPath string
	cmd := &cobra.Command{
		Use:   "sign --key F.key oci://REGISTRY/REPOSITORY@sha256:DIGEST",
		Short: "Attach a cosign-compatible signature to a published plugin",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := oci.ParseReference(args[0])
			if err != nil {
				return usageError(err)
			}
			key, err := readPrivateKey(keyPath)
			if err != nil {
				return err
			}
			return oci.Sign(cmd.Context(), ref, key)
		},
	}
	cmd.Flags().StringVar(&keyPath, "key", "", "the private key (PKCS #8 PEM, `plugin keygen`) (required)")
	_ = cmd.MarkFlagRequired("key")
	return cmd
}

func newPluginResolveCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "resolve oci://REGISTRY/REPOSITORY:TAG",
		Short: "Print the pinned oci://...@sha256 reference a tag points at now (the agent never follows a tag)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ref, err := oci.Resolve(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), ref)
			return nil
		},
	}
}

func readPrivateKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, usageError(fmt.Errorf("--key: %w", err))
	}
	key, err := oci.ParsePrivateKey(data)
	if err != nil {
		return nil, usageError(fmt.Errorf("--key %s: %w", path, err))
	}
	return key, nil
}

// ociFetcher returns what plugin.Options.FetchModule needs for oci://
// plugins: a store in dir verifying with the keys in the PEM files.
func ociFetcher(dir string, keyFiles []string) (func(context.Context, string) (string, error), error) {
	store := &oci.Store{Dir: dir}
	for _, f := range keyFiles {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		key, err := oci.ParsePublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		store.Keys = append(store.Keys, crypto.PublicKey(key))
	}
	return func(ctx context.Context, ref string) (string, error) {
		r, err := oci.ParseReference(ref)
		if err != nil {
			return "", err
		}
		return store.Fetch(ctx, r)
	}, nil
}

// defaultPluginStoreDir keeps pulled plugins between runs of the CLI.
func defaultPluginStoreDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "staticlet", "plugins")
}
