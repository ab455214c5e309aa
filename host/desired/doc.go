// Package desired turns per-file admission results into the desired set of
// static pods, fixing the kubelet's folder-handling flaws:
//
//   - last good wins: a file that turns invalid keeps its last accepted
//     version desired, with the error reported on the file;
//   - duplicate names: the file that held a pod name first keeps it (ties on
//     first sight broken by file name), later files are rejected naming both;
//   - rename: a pod moving to another file keeps its UID, so nothing restarts;
//   - removal delay: a vanished file keeps its pod for a short delay, riding
//     out editors' rename dances.
//
// It is pure: no IO, the clock is a parameter, and a Builder is owned by one
// goroutine.
package desired
