package containerd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// nsKinds maps the namespaces a pod may hold to their unshare flag and their
// name under /proc/PID/task/TID/ns.
var nsKinds = map[specs.LinuxNamespaceType]struct {
	flag int
	proc string
}{
	specs.NetworkNamespace: {unix.CLONE_NEWNET, "net"},
	specs.IPCNamespace:     {unix.CLONE_NEWIPC, "ipc"},
	specs.UTSNamespace:     {unix.CLONE_NEWUTS, "uts"},
}

// isNamespaceMount reports whether path is a bind-mounted namespace.
func isNamespaceMount(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// createNamespaces creates the namespaces of kinds, sets the UTS one's
// hostname and brings the network one's loopback up, and bind-mounts each
// onto dir/<name> so containers can join it by path and it outlives every
// container (as a pause container would, without a process). Namespaces
// already mounted there are kept, so a restarted agent reuses them.
func createNamespaces(dir string, kinds []specs.LinuxNamespaceType, hostname string) (map[specs.LinuxNamespaceType]string, error) {
	paths := map[specs.LinuxNamespaceType]string{}
	flags := 0
	var missing []specs.LinuxNamespaceType
	for _, k := range kinds {
		p := filepath.Join(dir, nsKinds[k].proc)
		paths[k] = p
		if isNamespaceMount(p) {
			continue
		}
		missing = append(missing, k)
		flags |= nsKinds[k].flag
	}
	if len(missing) == 0 {
		return paths, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create namespaces: %w", err)
	}
	errc := make(chan error, 1)
	go func() {
		// The thread enters new namespaces and is never unlocked, so the Go
		// runtime ends it when this goroutine returns instead of reusing it.
		runtime.LockOSThread()
		errc <- func() error {
			if err := unix.Unshare(flags); err != nil {
				return fmt.Errorf("unshare: %w", err)
			}
			if flags&unix.CLONE_NEWUTS != 0 {
				if err := unix.Sethostname([]byte(hostname)); err != nil {
					return fmt.Errorf("set hostname %q: %w", hostname, err)
				}
			}
			if flags&unix.CLONE_NEWNET != 0 {
				if err := loopbackUp(); err != nil {
					return err
				}
			}
			self := fmt.Sprintf("/proc/%d/task/%d/ns", os.Getpid(), unix.Gettid())
			for _, k := range missing {
				target := paths[k]
				f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o444)
				if err != nil {
					return fmt.Errorf("create mount point: %w", err)
				}
				f.Close()
				if err := unix.Mount(filepath.Join(self, nsKinds[k].proc), target, "", unix.MS_BIND, ""); err != nil {
					return fmt.Errorf("bind-mount %s namespace on %s: %w", nsKinds[k].proc, target, err)
				}
			}
			return nil
		}()
	}()
	if err := <-errc; err != nil {
		releaseNamespaces(paths)
		return nil, fmt.Errorf("create namespaces: %w", err)
	}
	return paths, nil
}

// loopbackUp sets IFF_UP on lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback up: socket: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: set flags: %w", err)
	}
	return nil
}

// releaseNamespaces unmounts the namespaces' bind mounts; a namespace dies
// with its last mount and process.
func releaseNamespaces(paths map[specs.LinuxNamespaceType]string) error {
	var errs []error
	for _, p := range paths {
		if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// dialInNetns dials address from inside the network namespace bound at
// nsPath: the socket is created by a goroutine locked to an OS thread that
// entered the namespace, and a socket stays in the namespace it was made
// in. The thread goes back to the agent's namespace afterwards; if it
// cannot, it is never unlocked, so the Go runtime ends it.
func dialInNetns(ctx context.Context, nsPath, network, address string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		conn, err, restored := func() (net.Conn, error, bool) {
			self, err := os.Open("/proc/thread-self/ns/net")
			if err != nil {
				return nil, fmt.Errorf("dial in %s: own namespace: %w", nsPath, err), true
			}
			defer self.Close()
			target, err := os.Open(nsPath)
			if err != nil {
				return nil, fmt.Errorf("dial in %s: %w", nsPath, err), true
			}
			defer target.Close()
			if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
				return nil, fmt.Errorf("dial in %s: setns: %w", nsPath, err), true
			}
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, address)
			return conn, err, unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil
		}()
		if restored {
			runtime.UnlockOSThread()
		}
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}
