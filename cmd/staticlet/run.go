package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/logging"
	"github.com/staticlet/staticlet/host/runtime/dryrun"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
	staticurl "github.com/staticlet/staticlet/host/source/http"
)

func newRunCommand() *cobra.Command {
	var flags settingsFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent: watch staticPodPath and keep its pods running",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := flags.resolve()
			if err != nil {
				return err
			}
			log, err := logging.New(os.Stderr, settings.LogFormat, settings.LogLevel)
			if err != nil {
				return usageError(err)
			}
			if !dryRun {
				return usageError(errors.New("the containerd runtime is not built yet; use --dry-run to see what the agent would do"))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()

			policy, policyChanged, err := startPolicyManager(ctx, settings, log)
			if err != nil {
				return usageError(err)
			}
			files := source.NewMailbox()
			watcher := &file.Watcher{Root: settings.PodManifestPath, Resync: settings.FileCheckFrequency, Debounce: settings.Debounce, Logger: log.Named("source")}
			sources := map[string]*source.Mailbox{source.NameFile: files}
			if settings.StaticPodURL != "" {
				urls := source.NewMailbox()
				sources[source.NameHTTP] = urls
				fetcher := &staticurl.Source{URL: settings.StaticPodURL, Header: settings.StaticPodURLHeader, Interval: settings.HTTPCheckFrequency, Logger: log.Named("source.http")}
				go func() { _ = fetcher.Run(ctx, urls) }()
			}
			a := agent.New(agent.Config{
				Runtime:  dryrun.New(log),
				Pipeline: admission.New(admission.Options{NodeName: settings.NodeName, Policy: policy}),
				Builder:  desired.NewBuilder(settings.RemovalDelay),
				Sources:  sources,
				Logger:   log.Named("agent"),

				PolicyChanged: policyChanged,
			})
			log.Info("staticlet starting", "node", settings.NodeName, "pod_manifest_path", settings.PodManifestPath, "file_check_frequency", settings.FileCheckFrequency, "dry_run", dryRun)
			watchErr := make(chan error, 1)
			go func() { watchErr <- watcher.Run(ctx, files) }()
			go notifyWhenSynced(ctx, a, log)
			agentErr := a.Run(ctx)
			_ = sdNotify("STOPPING=1")
			if err := <-watchErr; err != nil {
				return fmt.Errorf("watch %s: %w", settings.PodManifestPath, err)
			}
			log.Info("staticlet stopped; pods keep running")
			return agentErr
		},
	}
	flags.register(cmd.Flags())
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "start and stop nothing; log what would be done")
	return cmd
}
