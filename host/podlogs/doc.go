// Package podlogs owns the on-disk container log files in the CRI log format
// that the kubelet's containerd writes and log collectors read:
//
//	<podLogDir>/<namespace>_<name>_<uid>/<container>/<restartCount>.log
//
// with one record per line, `<RFC3339Nano> stdout|stderr F|P <content>`,
// where P marks a chunk of a line longer than MaxLineBytes and F the end of a
// line.
//
// It has three parts. Writer turns a container's two output streams into
// records. RunShimLogger is the logging process containerd's shim starts for
// each container (the shim's binary:// log URI): it reads the container's
// stdout and stderr from file descriptors 3 and 4 and appends to the log
// file, so logs keep flowing while the agent is down or restarting. It
// writes through a RotatingFile, which rotates the file as the kubelet does
// (Rotation: containerLogMaxSize and containerLogMaxFiles) to
// <file>.<YYYYMMDD-hhmmss>, gzipped to .gz but for the newest, never
// splitting a record. The reader side (ListPods, LatestLog, Copy, Follow)
// serves `staticlet logs`; ReadLog reads one log file with the kubelet's
// semantics (tail, since, byte limit, timestamps, follow until the
// container exits, across rotations) and serves the kubelet API's
// /containerLogs and attach. Both read the current file only, as the
// kubelet does.
//
// IO: creates, appends to, renames, compresses, deletes and reads files
// under the pod log directory, and watches a followed log's folder with
// fsnotify.
package podlogs
