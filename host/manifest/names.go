package manifest

import (
	"path/filepath"
	"strings"
)

// ConsiderFile reports whether a directory entry named name is read as a
// manifest and, when it is not, why. The rule, documented in
// docs/operations.md, is:
//
//  1. names starting with "." are hidden files (the kubelet's rule too);
//  2. editor and package-manager debris is skipped: "*~", "*.swp", "*.swx",
//     "*.swo", "*.bak", "*.orig", "*.tmp", "*.dpkg-*", "*.rpm*" (rpmnew,
//     rpmsave, rpmorig), vim's write probe "4913", and emacs autosaves "#*#";
//  3. what remains is read when its extension is ".yaml", ".yml" or ".json"
//     (any case) or when it has no extension at all.
//
// The kubelet reads every non-dot file, so `kube-apiserver.yaml.bak` silently
// overrides the real manifest there (kubernetes#136962); here it is ignored.
func ConsiderFile(name string) (ok bool, reason string) {
	lower := strings.ToLower(name)
	switch {
	case name == "":
		return false, "empty file name"
	case strings.HasPrefix(name, "."):
		return false, "hidden file (name starts with '.')"
	case strings.HasSuffix(name, "~"):
		return false, "editor backup file (name ends with '~')"
	case name == "4913":
		return false, "vim write-probe file (4913)"
	case strings.HasPrefix(name, "#") && strings.HasSuffix(name, "#"):
		return false, "emacs autosave file (#name#)"
	}
	ext := filepath.Ext(lower)
	switch {
	case ext == ".swp" || ext == ".swx" || ext == ".swo":
		return false, "editor swap file (" + ext + ")"
	case ext == ".bak" || ext == ".orig" || ext == ".tmp":
		return false, "backup or temporary file (" + ext + ")"
	case strings.HasPrefix(ext, ".dpkg-"):
		return false, "package manager leftover (" + ext + ")"
	case strings.HasPrefix(ext, ".rpm"):
		return false, "package manager leftover (" + ext + ")"
	case ext == ".yaml" || ext == ".yml" || ext == ".json" || ext == "":
		return true, ""
	}
	return false, "extension " + ext + " is not one of .yaml, .yml, .json or none"
}
