//go:build !wasip1

package sdk

import "sync"

// Natively (unit tests, sdktest) log messages and node facts go through
// swappable hooks instead of host functions.
var (
	nativeMu   sync.Mutex
	nativeLog  func(Level, string)
	nativeNode Node
)

func logMessage(level Level, msg string) {
	nativeMu.Lock()
	hook := nativeLog
	nativeMu.Unlock()
	if hook != nil {
		hook(level, msg)
	}
}

func hostNode() Node {
	nativeMu.Lock()
	defer nativeMu.Unlock()
	return nativeNode
}

// SetNativeHost replaces the log sink and node facts of a native build; the
// sdktest package uses it. It returns a function restoring the old ones.
func SetNativeHost(log func(Level, string), node Node) (restore func()) {
	nativeMu.Lock()
	defer nativeMu.Unlock()
	oldLog, oldNode := nativeLog, nativeNode
	nativeLog, nativeNode = log, node
	return func() {
		nativeMu.Lock()
		defer nativeMu.Unlock()
		nativeLog, nativeNode = oldLog, oldNode
	}
}
