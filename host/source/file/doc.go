// Package file is the staticPodPath source: it lists a folder (or a single
// file) of manifests and watches it with fsnotify plus a periodic relist,
// delivering whole source.Listing snapshots.
//
// IO: it reads the folder and its files (following symlinks, never recursing
// into subfolders) and holds inotify watches on the folder and its parent.
// Unchanged files (same device, inode, size, mtime and ctime) are not read
// again, so relisting an idle folder costs one stat per entry.
package file
