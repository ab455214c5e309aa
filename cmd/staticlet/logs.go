package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/staticlet/staticlet/host/config"
	"github.com/staticlet/staticlet/host/podlogs"
)

func newLogsCommand() *cobra.Command {
	var flags localFlags
	var container, namespace string
	var follow bool
	cmd := &cobra.Command{
		Use:   "logs POD",
		Short: "Print a pod's container logs from the CRI log files",
		Long: `Print a pod's container logs from the CRI log files under the pod log folder.

POD is the pod's name (myapp-pod-worker-1), its manifest name (myapp-pod) or
NAMESPACE/NAME. The latest run's log is printed; -f follows it, across
restarts, until Ctrl-C.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, root, err := flags.settings()
			if err != nil {
				return err
			}
			pod, err := findLogPod(root, namespace, args[0])
			if err != nil {
				return &exitError{code: exitRejected, err: err}
			}
			dir, err := containerLogDir(pod, container)
			if err != nil {
				return &exitError{code: exitRejected, err: err}
			}
			if follow {
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				return podlogs.Follow(ctx, cmd.OutOrStdout(), dir, 200*time.Millisecond)
			}
			path, _, err := podlogs.LatestLog(dir)
			if err != nil {
				return &exitError{code: exitRejected, err: err}
			}
			f, err := os.Open(path)
			if err != nil {
				return &exitError{code: exitRejected, err: fmt.Errorf("logs: %w", err)}
			}
			defer f.Close()
			_, err = podlogs.Copy(cmd.OutOrStdout(), f)
			return err
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&container, "container", "c", "", "container name (default: the pod's only container)")
	fs.StringVarP(&namespace, "namespace", "n", "", "namespace (default: any)")
	fs.BoolVarP(&follow, "follow", "f", false, "keep printing new lines")
	fs.StringVar(&flags.configFile, "config", "", "StaticletConfiguration file to take podLogDir from")
	fs.StringVar(&flags.podLogDir, "pod-log-dir", "", "root of the CRI log files (default "+config.DefaultPodLogDir+")")
	return cmd
}

// findLogPod picks the newest log folder of the pod the user means: by full
// name first, then by manifest name (the full name less the node suffix).
func findLogPod(root, namespace, arg string) (podlogs.Pod, error) {
	if ns, name, ok := strings.Cut(arg, "/"); ok {
		namespace, arg = ns, name
	}
	pods, err := podlogs.ListPods(root)
	if err != nil {
		return podlogs.Pod{}, err
	}
	var exact, prefix []podlogs.Pod
	for _, p := range pods {
		if namespace != "" && p.Namespace != namespace {
			continue
		}
		switch {
		case p.Name == arg:
			exact = append(exact, p)
		case strings.HasPrefix(p.Name, arg+"-"):
			prefix = append(prefix, p)
		}
	}
	for _, found := range [][]podlogs.Pod{exact, prefix} {
		if len(found) == 0 {
			continue
		}
		names := map[string]bool{}
		for _, p := range found {
			names[p.Namespace+"/"+p.Name] = true
		}
		if len(names) > 1 {
			list := make([]string, 0, len(names))
			for n := range names {
				list = append(list, n)
			}
			sort.Strings(list)
			return podlogs.Pod{}, fmt.Errorf("logs %s: several pods match: %s", arg, strings.Join(list, ", "))
		}
		return found[0], nil // newest first
	}
	return podlogs.Pod{}, fmt.Errorf("logs %s: no pod of that name under %s: %w", arg, root, podlogs.ErrNoLogs)
}

func containerLogDir(pod podlogs.Pod, container string) (string, error) {
	names, err := podlogs.Containers(pod.Dir)
	if err != nil {
		return "", err
	}
	if container == "" {
		if len(names) != 1 {
			return "", fmt.Errorf("logs %s/%s: the pod has containers %s: choose one with -c", pod.Namespace, pod.Name, strings.Join(names, ", "))
		}
		container = names[0]
	}
	for _, n := range names {
		if n == container {
			return filepath.Join(pod.Dir, n), nil
		}
	}
	return "", fmt.Errorf("logs %s/%s: no container %q (have %s): %w", pod.Namespace, pod.Name, container, strings.Join(names, ", "), podlogs.ErrNoLogs)
}
