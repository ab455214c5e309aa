package sdk

import "fmt"

// Level is a log level of the host's log function.
type Level uint32

// Log levels, as numbered by the ABI.
const (
	LevelTrace Level = iota
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
)

// Logf logs a message into the agent's log, attributed to this plugin. The
// host caps the size and rate of messages; excess is dropped and counted.
func Logf(level Level, format string, args ...any) {
	logMessage(level, fmt.Sprintf(format, args...))
}

// HostNode asks the host for the node's facts. Requests already carry them;
// this is for code that runs outside a request's reach.
func HostNode() Node { return hostNode() }
