package testenv

import (
	"fmt"
	"os"
	"sync/atomic"
)

var idCounter atomic.Uint64

// ContainerID returns a container ID starting with prefix that no other test, test binary or
// containerd on this machine uses. It matters with containerd 1.6 even across daemons: runc's state
// (/run/containerd/runc/NAMESPACE/ID) and cgroups (/NAMESPACE/ID) are keyed by namespace and ID
// alone, so two test binaries running the same test against their own containerd would collide.
// prefix must be a valid containerd identifier of at most 50 characters.
func ContainerID(prefix string) string {
	return fmt.Sprintf("%s-%d-%d", prefix, os.Getpid(), idCounter.Add(1))
}
