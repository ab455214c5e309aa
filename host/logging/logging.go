// Package logging builds the agent's go-hclog logger from the configured
// format and level. Its only IO is the writer it is given.
package logging

import (
	"fmt"
	"io"

	"github.com/hashicorp/go-hclog"
)

// New returns a logger named "staticlet" writing text or JSON lines.
func New(w io.Writer, format, level string) (hclog.Logger, error) {
	lvl := hclog.LevelFromString(level)
	if lvl == hclog.NoLevel {
		return nil, fmt.Errorf("logging: level %q is not one of trace, debug, info, warn, error", level)
	}
	var json bool
	switch format {
	case "", "text":
	case "json":
		json = true
	default:
		return nil, fmt.Errorf("logging: format %q is not one of text, json", format)
	}
	return hclog.New(&hclog.LoggerOptions{
		Name:            "staticlet",
		Level:           lvl,
		Output:          w,
		JSONFormat:      json,
		IncludeLocation: false,
		TimeFormat:      "2006-01-02T15:04:05.000Z0700",
	}), nil
}
