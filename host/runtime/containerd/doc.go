// Package containerd is the real agent.Runtime: it runs static pods on a
// containerd daemon through containerd's Go client, in its own containerd
// namespace.
//
// It owns, per pod, a worker goroutine (worker.go) that holds that pod's
// state: its containers, their restart counts and crash-loop back-off, and
// the status it publishes. Task exits reach the worker through containerd's
// task Wait, never by polling. The worker's jobs are one file each, as
// containerd's CRI server keeps one operation a file: the loop and its
// state (worker.go), images (image.go), a container's start
// (container_start.go), its exit and restart policy (container_exit.go),
// adoption (adopt.go) and the pod's stop (terminate.go). Exec
// (container_exec.go) and port-forward (pod_portforward.go), which the
// kubelet API serves for kubectl through package cri-streaming, never wait
// for a worker: they read what it publishes with each status (streaming.go),
// a container's current run and the pod's network view. A pod is made of:
//
//   - a pod folder under StateDir/pods/<uid> with the pod's record
//     (pod.json, the manifest it runs), its /etc/hosts, /etc/resolv.conf and
//     /etc/hostname, its emptyDir volumes, and bind-mounted network, IPC and
//     UTS namespaces created by staticlet itself (sandbox.go,
//     namespaces_linux.go) that every container of the pod joins; the
//     network one is attached to the pod network through CNI (network.go,
//     package cni), and the pod's IPs are kept in network.json, the probes'
//     verdicts on the current runs in probe-verdicts.json (verdicts.go);
//   - one containerd container per container run (its ID unique per run),
//     labelled with the pod UID, namespace/name, config hash, container
//     name, restart count and grace period (labels.go), so a restarted
//     agent adopts running containers rather than restarting or
//     duplicating them;
//   - log files in the CRI format written by a logging process the shim
//     starts for each container (package podlogs), so logs keep flowing
//     while the agent is down.
//
// Init containers run in order before the app containers (sidecars, init
// containers with restartPolicy Always, keep running); each container run
// with probes gets a probe goroutine (probes.go) that owns its
// probe.Machine and sends verdict changes to the worker, which alone
// changes container state. Lifecycle hooks (hooks.go) run from the worker:
// postStart right after a start, preStop before every stop signal. The
// OCI spec (spec.go) carries resources and the merged security context as
// containerd's CRI plugin would build them for the kubelet.
//
// A pod found from its record with no task left (after a node restart) is
// adopted dormant (dormant.go): reported by ListPods, started only when
// StartPod asks for its UID.
//
// What a pod may ask of this host is decided by Capabilities
// (capability.go): a pure check over host facts probed once (the LSMs,
// mount_setattr, `runc features`) that admission runs for the agent and
// `staticlet check`, and StartPod again as a backstop.
//
// IO: gRPC to containerd (including exec probes, hooks and exec sessions,
// whose streams go through FIFOs the shim opens); CNI plugins run through
// package cni at pod setup and teardown; probe, hook and port-forward
// connections dialled from inside the pod's network namespace (setns on a
// locked OS thread); files, mounts and namespaces under StateDir; log folders under PodLogDir;
// each pod's cgroup made and removed through package cgroups (cgroups.go),
// and reads of cgroup files to tell OOM kills apart; reads of Localhost seccomp
// profiles under SeccompProfileRoot.
// No negative oom_score_adj is ever set: containers inherit the shim's.
package containerd
