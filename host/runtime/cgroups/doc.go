// Package cgroups owns the pod cgroup hierarchy: where each pod's cgroup is
// (the kubelet's layout: <cgroupRoot>/kubepods[/burstable|/besteffort]/pod<uid>,
// or the systemd driver's slice names for the same tree), which limits it
// gets (the kubelet's ResourceConfigForPod rules and podPidsLimit), and
// creating and removing it on cgroup v1 (one hierarchy per controller) and
// v2 (the unified hierarchy, with controllers enabled in
// cgroup.subtree_control on the way down).
//
// Layout and Limits are pure: ForPod, QOSLimits and Limits.Settings compute
// values from the pod and read nothing. Manager does the IO: it reads
// /proc/self/mountinfo once to tell v1 from v2 (Detect), then makes
// directories, writes control files and removes directories under
// /sys/fs/cgroup, or under a root given for tests (NewV1, NewV2).
package cgroups
