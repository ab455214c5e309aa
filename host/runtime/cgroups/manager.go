package cgroups

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Sentinel kinds, checked with errors.Is.
var (
	// ErrNoCgroups is wrapped when no cgroup hierarchy is mounted where
	// expected.
	ErrNoCgroups = errors.New("no cgroup hierarchy mounted")
	// ErrControllerMissing is wrapped when a limit needs a controller that
	// is not mounted (v1) or not available (v2).
	ErrControllerMissing = errors.New("cgroup controller not available")
	// ErrBusy is wrapped when a cgroup cannot be removed because tasks are
	// still in it.
	ErrBusy = errors.New("cgroup still has tasks")
)

// DefaultMountPoint is where the cgroup file systems are.
const DefaultMountPoint = "/sys/fs/cgroup"

// Manager makes and removes cgroups on one host's cgroup file systems. It
// holds no mutable state: every call goes to the file system, so any
// goroutine may use it.
type Manager struct {
	// unified is the cgroup2 mount on a v2 host, "" on v1.
	unified string
	// hierarchies maps each v1 controller (and name=... hierarchy) to the
	// folder its hierarchy is mounted on; co-mounted controllers share one.
	hierarchies map[string]string
}

// Detect reads /proc/self/mountinfo: a cgroup2 file system on
// DefaultMountPoint is a v2 host; otherwise the v1 hierarchies below it are
// used (a hybrid host's extra cgroup2 mount is ignored, as runc does).
func Detect() (*Manager, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("detect cgroups: %w", err)
	}
	return fromMountinfo(data, DefaultMountPoint)
}

// fromMountinfo picks the cgroup mounts at or below mountPoint.
func fromMountinfo(data []byte, mountPoint string) (*Manager, error) {
	hierarchies := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		// ID parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, tail := strings.Fields(pre), strings.Fields(post)
		if !ok || len(fields) < 5 || len(tail) < 3 {
			continue
		}
		dir := unescapeMountinfo(fields[4])
		if dir != mountPoint && filepath.Dir(dir) != mountPoint {
			continue
		}
		switch tail[0] {
		case "cgroup2":
			if dir == mountPoint {
				return NewV2(dir), nil
			}
		case "cgroup":
			for _, opt := range strings.Split(tail[2], ",") {
				if isController(opt) {
					hierarchies[opt] = dir
				}
			}
		}
	}
	if len(hierarchies) == 0 {
		return nil, fmt.Errorf("detect cgroups: %s: %w", mountPoint, ErrNoCgroups)
	}
	return NewV1(hierarchies), nil
}

// isController tells a v1 super option naming a hierarchy's controller from
// mount flags.
func isController(opt string) bool {
	if strings.HasPrefix(opt, "name=") {
		return true
	}
	switch opt {
	case "cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer", "blkio", "hugetlb",
		"net_cls", "net_prio", "perf_event", "rdma", "misc":
		return true
	}
	return false
}

// unescapeMountinfo undoes mountinfo's octal escapes (\040 for a space).
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// NewV1 is a Manager for v1 hierarchies: controller → mounted folder.
func NewV1(hierarchies map[string]string) *Manager {
	return &Manager{hierarchies: hierarchies}
}

// NewV2 is a Manager for the unified hierarchy mounted on dir.
func NewV2(dir string) *Manager { return &Manager{unified: dir} }

// Unified tells a cgroup v2 host.
func (m *Manager) Unified() bool { return m.unified != "" }

// mounts are the folders of the hierarchies: one per v1 hierarchy, or the
// unified one.
func (m *Manager) mounts() []string {
	if m.Unified() {
		return []string{m.unified}
	}
	var out []string
	for _, mount := range m.hierarchies {
		if !slices.Contains(out, mount) {
			out = append(out, mount)
		}
	}
	sort.Strings(out)
	return out
}

// Ensure creates the cgroup at path (and its missing parents) and writes
// limits into it. It is idempotent, so an adopted pod's cgroup is simply
// ensured again.
func (m *Manager) Ensure(cgroup string, limits Limits) error {
	if m.Unified() {
		return m.ensureV2(cgroup, limits)
	}
	return m.ensureV1(cgroup, limits)
}

func (m *Manager) ensureV1(cgroup string, limits Limits) error {
	cpuset := m.hierarchies["cpuset"]
	for _, mount := range m.mounts() {
		if err := mkdirLevels(mount, cgroup, func(level string) error {
			if mount == cpuset {
				return inheritCpuset(level)
			}
			return nil
		}); err != nil {
			return fmt.Errorf("cgroup %s: %w", cgroup, err)
		}
	}
	for _, s := range limits.Settings(false) {
		mount, ok := m.hierarchies[s.Controller]
		if !ok {
			return fmt.Errorf("cgroup %s: %s: %w: %s is not mounted", cgroup, s.File, ErrControllerMissing, s.Controller)
		}
		if err := writeControl(filepath.Join(mount, cgroup, s.File), s.Value); err != nil {
			return fmt.Errorf("cgroup %s: %w", cgroup, err)
		}
	}
	return nil
}

// mkdirLevels makes each missing level of cgroup below mount, top first,
// calling made on each new one.
func mkdirLevels(mount, cgroup string, made func(level string) error) error {
	level := mount
	for _, part := range strings.Split(strings.Trim(cgroup, "/"), "/") {
		if part == "" {
			continue
		}
		level = filepath.Join(level, part)
		if err := os.Mkdir(level, 0o755); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return fmt.Errorf("mkdir: %w", err)
		}
		if err := made(level); err != nil {
			return err
		}
	}
	return nil
}

// inheritCpuset fills a new v1 cpuset cgroup's cpus and mems from its
// parent: the kernel leaves them empty, and an empty cpuset takes no tasks.
func inheritCpuset(dir string) error {
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			return fmt.Errorf("cpuset: %w", err)
		}
		if len(bytes.TrimSpace(cur)) > 0 {
			continue
		}
		parent, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f))
		if err != nil {
			return fmt.Errorf("cpuset: %w", err)
		}
		if err := writeControl(filepath.Join(dir, f), string(bytes.TrimSpace(parent))); err != nil {
			return fmt.Errorf("cpuset: %w", err)
		}
	}
	return nil
}

// ensureV2 enables, on every level from the root down to the cgroup's
// parent, the controllers the root offers (as runc and the kubelet do, so
// the containers below get them too), then makes the cgroup and writes its
// limits.
func (m *Manager) ensureV2(cgroup string, limits Limits) error {
	offered, err := readList(filepath.Join(m.unified, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", cgroup, err)
	}
	settings := limits.Settings(true)
	for _, s := range settings {
		if !slices.Contains(offered, s.Controller) {
			return fmt.Errorf("cgroup %s: %s: %w: %s is not in %s/cgroup.controllers", cgroup, s.File, ErrControllerMissing, s.Controller, m.unified)
		}
	}
	level := m.unified
	for _, part := range strings.Split(strings.Trim(cgroup, "/"), "/") {
		if part == "" {
			continue
		}
		if err := enableControllers(level, offered); err != nil {
			return fmt.Errorf("cgroup %s: %w", cgroup, err)
		}
		level = filepath.Join(level, part)
		if err := os.Mkdir(level, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("cgroup %s: mkdir: %w", cgroup, err)
		}
	}
	for _, s := range settings {
		if err := writeControl(filepath.Join(level, s.File), s.Value); err != nil {
			return fmt.Errorf("cgroup %s: %w", cgroup, err)
		}
	}
	return nil
}

// enableControllers writes the controllers of want that dir's
// cgroup.subtree_control lacks, in one write.
func enableControllers(dir string, want []string) error {
	file := filepath.Join(dir, "cgroup.subtree_control")
	have, err := readList(file)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var add []string
	for _, c := range want {
		if !slices.Contains(have, c) {
			add = append(add, "+"+c)
		}
	}
	if len(add) == 0 {
		return nil
	}
	return writeControl(file, strings.Join(add, " "))
}

// readList reads a space-separated control file, dropping +/- prefixes.
func readList(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	var out []string
	for _, f := range strings.Fields(string(data)) {
		out = append(out, strings.TrimLeft(f, "+-"))
	}
	return out, nil
}

// writeControl writes one value to a control file. O_CREATE only matters
// on a test tree: on cgroupfs the file exists or the write fails.
func writeControl(file, value string) error {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", filepath.Base(file), err)
	}
	_, werr := f.WriteString(value)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("write %s=%q: %w", filepath.Base(file), value, err)
	}
	return nil
}

// Remove deletes the cgroup at path and any cgroups left below it (a
// container cgroup runc did not remove), in every hierarchy. A cgroup that
// still has tasks is retried for up to wait, then reported with ErrBusy. A
// cgroup that is not there is not an error.
func (m *Manager) Remove(cgroup string, wait time.Duration) error {
	if strings.Trim(cgroup, "/") == "" {
		return fmt.Errorf("remove cgroup: refusing to remove the root cgroup")
	}
	var errs []error
	deadline := time.Now().Add(wait)
	for _, mount := range m.mounts() {
		if err := removeTree(filepath.Join(mount, cgroup), deadline); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove cgroup %s: %w", cgroup, err)
	}
	return nil
}

// removeTree removes dir's sub-cgroups, deepest first, then dir. Only
// folders are removed: a cgroup's control files go with its rmdir.
func removeTree(dir string, deadline time.Time) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", dir, err)
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := removeTree(filepath.Join(dir, e.Name()), deadline); err != nil {
				return err
			}
		}
	}
	for {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case errors.Is(err, unix.EBUSY) && time.Now().Before(deadline):
			time.Sleep(50 * time.Millisecond)
		case errors.Is(err, unix.EBUSY):
			return fmt.Errorf("rmdir %s: %w: %w", dir, ErrBusy, err)
		default:
			return fmt.Errorf("rmdir %s: %w", dir, err)
		}
	}
}

// OOMKills is how many tasks the kernel's OOM killer killed in the cgroup
// (memory.oom_control on v1, memory.events on v2; kernel 4.13 or newer).
// A cgroup that is gone reads as an error wrapping fs.ErrNotExist.
func (m *Manager) OOMKills(cgroup string) (uint64, error) {
	file := filepath.Join(m.unified, cgroup, "memory.events")
	if !m.Unified() {
		mount, ok := m.hierarchies["memory"]
		if !ok {
			return 0, fmt.Errorf("oom kills of %s: %w: memory is not mounted", cgroup, ErrControllerMissing)
		}
		file = filepath.Join(mount, cgroup, "memory.oom_control")
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return 0, fmt.Errorf("oom kills of %s: %w", cgroup, err)
	}
	for line := range strings.Lines(string(data)) {
		if n, ok := strings.CutPrefix(strings.TrimSpace(line), "oom_kill "); ok {
			v, err := strconv.ParseUint(strings.TrimSpace(n), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("oom kills of %s: %s: %w", cgroup, filepath.Base(file), err)
			}
			return v, nil
		}
	}
	return 0, nil
}

// Read returns one control file of the cgroup in controller's hierarchy
// (any hierarchy on v2), trimmed: for status and tests.
func (m *Manager) Read(cgroup, controller, file string) (string, error) {
	dir := filepath.Join(m.unified, cgroup)
	if !m.Unified() {
		mount, ok := m.hierarchies[controller]
		if !ok {
			return "", fmt.Errorf("read %s of %s: %w: %s is not mounted", file, cgroup, ErrControllerMissing, controller)
		}
		dir = filepath.Join(mount, cgroup)
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return "", fmt.Errorf("read %s of %s: %w", file, cgroup, err)
	}
	return strings.TrimSpace(string(data)), nil
}

// EnsurePod makes the cgroups above a pod of class qos (kubepods, then its
// class's, with QOSLimits) and the pod's own with limits, and returns the
// cgroup its containers go under. With a Flat layout nothing is made: the
// containers go under the layout's root, which runc creates. Idempotent.
func (m *Manager) EnsurePod(l Layout, uid types.UID, qos corev1.PodQOSClass, limits Limits) (string, error) {
	parents := l.QOSPaths(qos)
	for i, p := range parents {
		own := Limits{}
		if i == len(parents)-1 {
			own = QOSLimits(qos)
		}
		if err := m.Ensure(p, own); err != nil {
			return "", fmt.Errorf("pod cgroup: %w", err)
		}
	}
	if pod := l.PodPath(uid, qos); pod != "" {
		if err := m.Ensure(pod, limits); err != nil {
			return "", fmt.Errorf("pod cgroup: %w", err)
		}
	}
	return l.ContainerParent(uid, qos), nil
}

// RemovePod removes the pod's cgroup under whichever class it is in (the
// pod's spec may be unknown by then), waiting up to wait for tasks to leave.
func (m *Manager) RemovePod(l Layout, uid types.UID, wait time.Duration) error {
	var errs []error
	for _, p := range l.AllPodPaths(uid) {
		if err := m.Remove(p, wait); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
