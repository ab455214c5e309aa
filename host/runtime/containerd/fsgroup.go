package containerd

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	corev1 "k8s.io/api/core/v1"
)

// The kubelet's volume ownership masks: group read-write (read-only for
// read-only volumes), plus group execute and setgid on folders so files
// created later inherit the group.
const (
	fsGroupRWMask   = os.FileMode(0o660)
	fsGroupROMask   = os.FileMode(0o440)
	fsGroupExecMask = os.FileMode(0o110)
)

// applyFSGroup gives a volume the pod owns (emptyDir, downwardAPI,
// projected) to the pod's fsGroup, as the kubelet's SetVolumeOwnership
// does each time it sets a volume up; hostPath volumes are never changed.
func applyFSGroup(pod *corev1.Pod, v corev1.Volume, src volumeSource) error {
	psc := pod.Spec.SecurityContext
	if psc == nil || psc.FSGroup == nil || src.hostPath {
		return nil
	}
	if err := setVolumeOwnership(src.path, *psc.FSGroup, src.readOnly, psc.FSGroupChangePolicy); err != nil {
		return fmt.Errorf("volume %s: fsGroup %d: %w", v.Name, *psc.FSGroup, err)
	}
	return nil
}

// setVolumeOwnership walks dir giving every file group gid and the group
// permission masks. With fsGroupChangePolicy OnRootMismatch the walk is
// skipped when the root already has the group and the permissions, as the
// kubelet's skipPermissionChange decides. Symlinks get the group but keep
// their mode.
func setVolumeOwnership(dir string, gid int64, readOnly bool, policy *corev1.PodFSGroupChangePolicy) error {
	if policy != nil && *policy == corev1.FSGroupChangeOnRootMismatch && ownershipMatches(dir, gid, readOnly) {
		return nil
	}
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, int(gid)); err != nil {
			return fmt.Errorf("chown: %w", err)
		}
		info, err := d.Info()
		if err != nil {
			return fmt.Errorf("stat: %w", err)
		}
		if info.Mode()&fs.ModeSymlink != 0 {
			return nil
		}
		mask := fsGroupRWMask
		if readOnly {
			mask = fsGroupROMask
		}
		if info.IsDir() {
			mask |= os.ModeSetgid | fsGroupExecMask
		}
		if err := os.Chmod(path, info.Mode()|mask); err != nil {
			return fmt.Errorf("chmod: %w", err)
		}
		return nil
	})
}

// ownershipMatches tells a volume root that already has the group, the
// group permissions and (read-write volumes) the setgid bit.
func ownershipMatches(dir string, gid int64, readOnly bool) bool {
	info, err := os.Stat(dir)
	if err != nil {
		return false
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok || int64(st.Gid) != gid {
		return false
	}
	mask := fsGroupRWMask | fsGroupExecMask
	if readOnly {
		mask = fsGroupROMask | fsGroupExecMask
	}
	if info.Mode()&mask != mask {
		return false
	}
	return readOnly || info.Mode()&os.ModeSetgid != 0
}
