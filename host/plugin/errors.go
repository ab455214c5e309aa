package plugin

import "errors"

// Sentinel kinds of failure, checked with errors.Is. Errors name the plugin
// and the operation; these say what went wrong.
var (
	// Load-time failures: LoadChain refuses the whole chain.
	ErrInvalidSpec      = errors.New("invalid plugin spec")
	ErrReadModule       = errors.New("cannot read plugin module")
	ErrChecksum         = errors.New("sha256 mismatch")
	ErrInvalidModule    = errors.New("invalid plugin module")
	ErrABIVersion       = errors.New("unsupported plugin ABI version")
	ErrMissingExport    = errors.New("missing required export")
	ErrNoOperation      = errors.New("plugin offers no operation")
	ErrSettingsRejected = errors.New("settings rejected by the plugin")
	ErrModuleTooLarge   = errors.New("plugin module too large")
	ErrCompileBudget    = errors.New("plugin compilation over budget")

	// Call-time failures: failurePolicy decides what they mean for the
	// manifest.
	ErrTimeout          = errors.New("plugin call timed out")
	ErrOutOfMemory      = errors.New("plugin ran out of memory")
	ErrTrap             = errors.New("plugin trapped")
	ErrBadResponse      = errors.New("malformed plugin response")
	ErrResponseTooLarge = errors.New("plugin response too large")
	ErrPluginReported   = errors.New("plugin reported an error")
	// ErrForbiddenMutation: a mutate changed apiVersion, kind,
	// metadata.name or metadata.namespace (the error names the field).
	ErrForbiddenMutation = errors.New("forbidden mutation")
	// ErrQuarantined: the plugin timed out repeatedly and is not called
	// until its back-off ends (Options.QuarantineAfter).
	ErrQuarantined = errors.New("plugin quarantined after repeated timeouts")

	// ErrChainClosed is returned by calls on a closed Chain.
	ErrChainClosed = errors.New("plugin chain closed")
)
