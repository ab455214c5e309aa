package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/config"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/logging"
	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/host/runtime/dryrun"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
	staticurl "github.com/staticlet/staticlet/host/source/http"
	"github.com/staticlet/staticlet/host/statusapi"
)

func newRunCommand() *cobra.Command {
	var flags settingsFlags
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent: watch staticPodPath and keep its pods running on containerd",
		Long: `Run the agent: watch staticPodPath and keep its pods running on containerd.

Pods keep running when the agent stops (Ctrl-C, SIGTERM), as with the
kubelet; the next agent adopts them. Only a manifest's removal stops a pod.
The agent serves its status on --status-socket for 'staticlet status'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			settings, err := flags.resolve()
			if err != nil {
				return err
			}
			log, err := logging.New(os.Stderr, settings.LogFormat, settings.LogLevel)
			if err != nil {
				return usageError(err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runAgent(ctx, settings, dryRun, log)
		},
	}
	flags.register(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&flags.overrides.ContainerdAddress, "containerd-address", "", "containerd's socket (default "+config.DefaultContainerdAddress+")")
	fs.StringVar(&flags.overrides.ContainerdNamespace, "containerd-namespace", "", "containerd namespace for staticlet's containers (default "+config.DefaultContainerdNamespace+")")
	fs.StringVar(&flags.overrides.StatusSocket, "status-socket", "", "unix socket to serve the status on (default "+config.DefaultStatusSocket+")")
	fs.StringVar(&flags.overrides.PodLogDir, "pod-log-dir", "", "root of the containers' CRI log files (default "+config.DefaultPodLogDir+")")
	fs.StringVar(&flags.overrides.StateDir, "state-dir", "", "staticlet's state: pod folders and namespaces (default "+config.DefaultStateDir+")")
	fs.BoolVar(&dryRun, "dry-run", false, "start and stop nothing; log what would be done")
	return cmd
}

// loggerBinary is the program the shim runs to write each container's logs:
// staticlet-logger next to this binary (small: one runs per container), or
// else this binary itself (`staticlet shim-logger FILE`).
func loggerBinary() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("find the staticlet binary for the shim's log writer: %w", err)
	}
	small := filepath.Join(filepath.Dir(self), "staticlet-logger")
	if info, err := os.Stat(small); err == nil && info.Mode().IsRegular() && info.Mode()&0o111 != 0 {
		return small, nil
	}
	return self, nil
}

// runAgent runs the sources, the agent and the status server until ctx
// ends.
func runAgent(ctx context.Context, settings config.Settings, dryRun bool, log hclog.Logger) error {
	var rt agent.Runtime
	if dryRun {
		rt = dryrun.New(log)
	} else {
		logger, err := loggerBinary()
		if err != nil {
			return err
		}
		crt, err := containerd.New(containerd.Options{
			Address: settings.ContainerdAddress, Namespace: settings.ContainerdNamespace,
			StateDir: settings.StateDir, PodLogDir: settings.PodLogDir, NodeName: settings.NodeName,
			LoggerBinary: logger, Logger: log.Named("runtime"),
		})
		if err != nil {
			return usageError(err)
		}
		defer crt.Close()
		rt = crt
	}
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
		Runtime:  rt,
		Pipeline: admission.New(admission.Options{NodeName: settings.NodeName, Policy: policy}),
		Builder:  desired.NewBuilder(settings.RemovalDelay),
		Sources:  sources,
		Logger:   log.Named("agent"),

		PolicyChanged: policyChanged,
	})
	log.Info("staticlet starting", "node", settings.NodeName, "pod_manifest_path", settings.PodManifestPath,
		"file_check_frequency", settings.FileCheckFrequency, "dry_run", dryRun, "containerd", settings.ContainerdAddress,
		"namespace", settings.ContainerdNamespace, "status_socket", settings.StatusSocket, "pod_log_dir", settings.PodLogDir)
	watchErr := make(chan error, 1)
	go func() { watchErr <- watcher.Run(ctx, files) }()
	statusErr := make(chan error, 1)
	go func() {
		statusErr <- statusapi.Serve(ctx, settings.StatusSocket, func(ctx context.Context) (statusapi.Status, error) {
			st, err := a.Status(ctx)
			return statusapi.FromAgent(st), err
		})
	}()
	go notifyWhenSynced(ctx, a, log)
	agentErr := a.Run(ctx)
	_ = sdNotify("STOPPING=1")
	if err := <-statusErr; err != nil {
		log.Error("status socket failed", "error", err)
	}
	if err := <-watchErr; err != nil {
		return fmt.Errorf("watch %s: %w", settings.PodManifestPath, err)
	}
	log.Info("staticlet stopped; pods keep running")
	return agentErr
}
