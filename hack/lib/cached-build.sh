# cached-build.sh is sourced by the build.sh scripts that build a tool from the Go module proxy in a module
# of its own (test/<tool>), once per machine, into a cache folder outside the checkout.
#
#   cached_build NAME MODULE_DIR PACKAGE CACHE_DIR BINARY OVERRIDE_VAR LDFLAGS [--path]
#
# With --path it prints BINARY without building. Otherwise it prints BINARY once it is an executable file,
# building PACKAGE in MODULE_DIR (CGO_ENABLED=0, -trimpath, -mod=readonly) when it is not; one build at a
# time per cache folder (a second caller waits and then finds the binary). OVERRIDE_VAR names the
# environment variable that, when set, chose BINARY: then nothing is built, it must exist.

cached_build() {
	local name=$1 module_dir=$2 package=$3 cache_dir=$4 binary=$5 override_var=$6 ldflags=$7
	shift 7
	if [ "${1:-}" = --path ]; then
		echo "$binary"
		return 0
	fi
	[ $# -eq 0 ] || { echo "build.sh: usage: build.sh [--path]" >&2; return 1; }
	if [ -x "$binary" ]; then
		echo "$binary"
		return 0
	fi
	if [ -n "${!override_var:-}" ]; then
		echo "build.sh: $override_var=${!override_var} is not an executable file" >&2
		return 1
	fi
	mkdir -p "$cache_dir"
	exec 9>"$cache_dir/.build.lock"
	flock 9
	if [ -x "$binary" ]; then
		echo "$binary"
		return 0
	fi
	echo "build.sh: building $name into $cache_dir" >&2
	local started partial
	started=$(date +%s)
	partial=$cache_dir/$name.partial.$$
	trap 'rm -f "'"$partial"'"' EXIT
	(cd "$module_dir" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "$ldflags" \
		-o "$partial" "$package")
	mv "$partial" "$binary"
	echo "build.sh: built $binary in $(($(date +%s) - started))s" >&2
	echo "$binary"
}

# k8s_version_ldflags are the ldflags that make a Kubernetes binary report VERSION (vMAJOR.MINOR.PATCH) as a
# release build does.
k8s_version_ldflags() {
	local version=$1 minor
	minor=$(echo "$version" | cut -d. -f2)
	echo "-s -w -X k8s.io/component-base/version.gitVersion=$version -X k8s.io/component-base/version.gitMajor=1" \
		"-X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
}
