package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/spf13/cobra"

	"github.com/staticlet/staticlet/host/admission"
	"github.com/staticlet/staticlet/host/agent"
	"github.com/staticlet/staticlet/host/config"
	"github.com/staticlet/staticlet/host/desired"
	"github.com/staticlet/staticlet/host/kubeletapi"
	"github.com/staticlet/staticlet/host/logging"
	"github.com/staticlet/staticlet/host/metrics"
	"github.com/staticlet/staticlet/host/mirror"
	"github.com/staticlet/staticlet/host/plugin"
	"github.com/staticlet/staticlet/host/runtime/cgroups"
	"github.com/staticlet/staticlet/host/runtime/containerd"
	"github.com/staticlet/staticlet/host/runtime/dryrun"
	"github.com/staticlet/staticlet/host/source"
	"github.com/staticlet/staticlet/host/source/file"
	staticurl "github.com/staticlet/staticlet/host/source/http"
	"github.com/staticlet/staticlet/host/statelock"
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
			return runAgent(ctx, settings, flags.resolve, dryRun, log)
		},
	}
	flags.registerRun(cmd.Flags())
	fs := cmd.Flags()
	fs.StringVar(&flags.overrides.ContainerdAddress, "containerd-address", "", "containerd's socket (default "+config.DefaultContainerdAddress+")")
	fs.StringVar(&flags.overrides.ContainerdNamespace, "containerd-namespace", "", "containerd namespace for staticlet's containers (default "+config.DefaultContainerdNamespace+")")
	fs.StringVar(&flags.overrides.StatusSocket, "status-socket", "", "unix socket to serve the status on (default "+config.DefaultStatusSocket+")")
	fs.StringVar(&flags.overrides.PodLogDir, "pod-log-dir", "", "root of the containers' CRI log files (default "+config.DefaultPodLogDir+")")
	fs.StringVar(&flags.overrides.StateDir, "state-dir", "", "staticlet's state: pod folders and namespaces (default "+config.DefaultStateDir+")")
	fs.StringVar(&flags.overrides.MetricsAddress, "metrics-address", "", "host:port for /metrics, /healthz and /readyz, or \"off\" (default "+config.DefaultMetricsAddress+")")
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

// runAgent runs the sources, the agent, the status socket and the metrics
// server until ctx is done. SIGHUP re-reads the configuration through
// reload and applies what can change without touching pods (reloadRules);
// a configuration that fails validation is refused and the running one
// kept.
func runAgent(ctx context.Context, settings config.Settings, reload func() (config.Settings, error), dryRun bool, log hclog.Logger) error {
	if !dryRun {
		// First: a second agent must not touch the first one's pods.
		lock, err := statelock.Acquire(settings.StateDir)
		if err != nil {
			return usageError(err)
		}
		defer lock.Release()
	}
	var rt agent.Runtime
	var pingRuntime func(context.Context) error
	var caps containerd.Capabilities
	var frontRT *kubeletFront
	var containerdRT *containerd.Runtime
	if dryRun {
		var err error
		if caps, err = runtimeCapabilities(settings); err != nil {
			return usageError(err)
		}
		rt = dryrun.New(log)
	} else if settings.Mode == config.ModeKubeletFront {
		var err error
		if caps, err = runtimeCapabilities(settings); err != nil {
			return usageError(err)
		}
		f, err := newFront(settings, log)
		if err != nil {
			return usageError(err)
		}
		frontRT, rt = &f, f.rt
	} else {
		logger, err := loggerBinary()
		if err != nil {
			return err
		}
		crt, err := containerd.New(containerd.Options{
			Address: settings.ContainerdAddress, Namespace: settings.ContainerdNamespace,
			StateDir: settings.StateDir, PodLogDir: settings.PodLogDir, NodeName: settings.NodeName,
			LoggerBinary: logger, Logger: log.Named("runtime"),
			DNS:            containerd.DNS{Servers: settings.ClusterDNS, Domain: settings.ClusterDomain},
			SeccompDefault: settings.SeccompDefault,
			Sysctls:        containerd.SysctlPolicy{AllowedUnsafe: settings.AllowedUnsafeSysctls},
			Network:        containerd.NetworkOptions{CNIConfDir: settings.CNIConfDir, CNIBinDirs: settings.CNIBinDirs, CNICacheDir: settings.CNICacheDir},
			NodeIP:         settings.NodeIP,
			Cgroups: cgroups.Layout{Root: settings.CgroupRoot, Flat: !settings.CgroupsPerQOS,
				SystemdNames: settings.CgroupDriver == config.CgroupDriverSystemd},
			PodPidsLimit:        settings.PodPidsLimit,
			ContainerLogMaxSize: settings.ContainerLogMaxSize, ContainerLogMaxFiles: settings.ContainerLogMaxFiles,
		})
		if err != nil {
			return usageError(err)
		}
		defer crt.Close()
		rt, pingRuntime, caps, containerdRT = crt, crt.Ping, crt.Capabilities(), crt
	}

	// The agent is created below; the metrics' scrape-time collector and
	// the readiness checks reach it through this variable.
	var a *agent.Agent
	m := metrics.New(statusFunc(func(ctx context.Context) (agent.Status, error) { return a.Status(ctx) }))
	// A quarantined plugin is reported on the Node once mirrors run (they
	// start after the chain is loaded).
	var warnNode atomic.Pointer[func(reason, message string)]
	policies, err := startPolicyManager(ctx, settings, log, func(plugin string, op plugin.Operation, outcome string, took time.Duration) {
		m.ObservePluginCall(plugin, string(op), outcome, took)
	}, func(name string, until time.Time, cause error) {
		if warn := warnNode.Load(); warn != nil {
			(*warn)("PluginQuarantined", fmt.Sprintf("plugin %s is not called until %s: %v", name, until.UTC().Format(time.RFC3339), cause))
		}
	})
	if err != nil {
		return usageError(err)
	}
	observe := func(source string) func(kind string, took time.Duration) {
		return func(kind string, took time.Duration) {
			m.CountSourceEvent(source, kind)
			if kind == "relist" {
				m.ObserveRelist(source, took)
			}
		}
	}
	files := source.NewMailbox()
	watcher := &file.Watcher{Root: settings.PodManifestPath, Resync: settings.FileCheckFrequency, Debounce: settings.Debounce,
		Logger: log.Named("source"), Observe: observe(source.NameFile)}
	sources := map[string]*source.Mailbox{source.NameFile: files}
	var fetcher *staticurl.Source
	if settings.StaticPodURL != "" {
		urls := source.NewMailbox()
		sources[source.NameHTTP] = urls
		fetcher = &staticurl.Source{URL: settings.StaticPodURL, Header: settings.StaticPodURLHeader, Interval: settings.HTTPCheckFrequency,
			Logger: log.Named("source.http"), Observe: observe(source.NameHTTP)}
		go func() { _ = fetcher.Run(ctx, urls) }()
	}
	client, err := apiClient(settings)
	if err != nil {
		return usageError(err)
	}
	nodeOpts, hostIP, err := nodeOptions(settings, log)
	if err != nil {
		return usageError(err)
	}
	onMirrorState, warn, mirrorsDone := startMirrors(ctx, settings, client, nodeOpts, hostIP, rt, m.CountMirrorCall, log)
	if warn != nil {
		warnNode.Store(&warn)
	}
	// The kubelet API reads the same published state as the mirrors.
	pods := &agentPods{hostIP: hostIP}
	onState := func(s agent.StateSnapshot) {
		pods.observe(s)
		if onMirrorState != nil {
			onMirrorState(s)
		}
	}
	kubeletAPIDone := closedChannel()
	var kubeletAPI *kubeletapi.Server
	if containerdRT != nil {
		addresses := nodeOpts.Addresses
		if len(addresses) == 0 {
			host, err := mirror.HostNodeOptions(settings.NodeName, nodeOpts)
			if err != nil {
				return usageError(err)
			}
			addresses = host.Addresses
		}
		if kubeletAPI, kubeletAPIDone, err = startKubeletAPI(ctx, settings, client, addresses, pods, containerdRT, containerdRT, m.ObserveKubeletRequest, log); err != nil {
			return usageError(err)
		}
	}
	a = agent.New(agent.Config{
		Runtime:  rt,
		Pipeline: admission.New(admission.Options{NodeName: settings.NodeName, Policy: policies.Policy, Runtime: caps}),
		Builder:  desired.NewBuilder(settings.RemovalDelay),
		Sources:  sources,
		Logger:   log.Named("agent"),

		PolicyChanged:    policies.Changed,
		ObserveReconcile: m.ObserveReconcile,
		OnState:          onState,
	})
	log.Info("staticlet starting", "node", settings.NodeName, "pod_manifest_path", settings.PodManifestPath,
		"file_check_frequency", settings.FileCheckFrequency, "dry_run", dryRun, "containerd", settings.ContainerdAddress,
		"namespace", settings.ContainerdNamespace, "status_socket", settings.StatusSocket, "pod_log_dir", settings.PodLogDir,
		"metrics_address", settings.MetricsAddress)
	watchErr := make(chan error, 1)
	go func() { watchErr <- watcher.Run(ctx, files) }()
	statusErr := make(chan error, 1)
	go func() {
		statusErr <- statusapi.Serve(ctx, settings.StatusSocket, func(ctx context.Context) (statusapi.Status, error) {
			st, err := a.Status(ctx)
			out := statusapi.FromAgent(st)
			out.Plugins = statusapi.FromChain(policies.Chain().Plugins(), time.Now())
			if kubeletAPI != nil {
				out.KubeletAPI = kubeletAPIStatus(kubeletAPI)
			}
			return out, err
		})
	}()
	if settings.MetricsAddress != "off" {
		srv := &metrics.Server{Address: settings.MetricsAddress, Metrics: m}
		srv.AddReadyCheck("sources", func(ctx context.Context) error {
			st, err := a.Status(ctx)
			if err != nil {
				return err
			}
			if !st.Synced {
				return errors.New("the first complete listing of every source is not read yet, or running pods are not adopted yet")
			}
			return nil
		})
		if pingRuntime != nil {
			srv.AddReadyCheck("containerd", pingRuntime)
		}
		srv.AddReadyCheck("plugins", func(ctx context.Context) error { return nil }) // loaded at start, or run fails
		go func() {
			if err := srv.Run(ctx); err != nil {
				log.Error("metrics server failed", "error", err)
			}
		}()
	}
	if frontRT != nil {
		go func() {
			if err := serveFront(ctx, settings, *frontRT, a, log); err != nil {
				log.Error("kubelet front failed", "error", err)
			}
		}()
	}
	go notifyWhenSynced(ctx, a, log)
	go handleReloads(ctx, settings, reload, reloadTargets{log: log, policies: policies, http: fetcher})
	agentErr := a.Run(ctx)
	<-mirrorsDone
	<-kubeletAPIDone
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

func closedChannel() <-chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}

// statusFunc adapts a function to metrics.StatusSource.
type statusFunc func(ctx context.Context) (agent.Status, error)

func (f statusFunc) Status(ctx context.Context) (agent.Status, error) { return f(ctx) }

// handleReloads applies SIGHUP: the new configuration is validated as a
// whole first; then each changed setting is applied or reported as needing a
// restart, by reloadRules.
func handleReloads(ctx context.Context, current config.Settings, reload func() (config.Settings, error), targets reloadTargets) {
	log := targets.log
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
		}
		_ = sdNotify("RELOADING=1")
		next, err := reload()
		if err != nil {
			log.Error("SIGHUP: configuration refused; keeping the running one", "error", err)
			_ = sdNotify("READY=1\nSTATUS=reload refused")
			continue
		}
		current = applyReload(current, next, targets)
		log.Info("SIGHUP: configuration reloaded", "log_level", current.LogLevel, "plugins", len(current.Plugins))
		_ = sdNotify("READY=1\nSTATUS=reloaded")
	}
}
