package plugin

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Caps on what a plugin can make the host print or keep. Plugin text is
// untrusted: a guest chooses every byte of its log messages, denials,
// warnings and error strings, and without these caps one call could forge
// log lines or fill the agent's memory and logs.
const (
	// MaxTextBytes caps one plugin-provided string (a denial's message,
	// code or field, a warning, an error, a settings message) as stored and
	// printed; the rest is replaced by "…(N more bytes)".
	MaxTextBytes = 1024
	// MaxErrorBytes caps a plugin error's message: the host's description
	// plus what the plugin said (its "error" field, the first 2 KiB of its
	// output when it crashed).
	MaxErrorBytes = 4096
	// MaxDenialsPerCall and MaxWarningsPerCall cap how many denials and
	// warnings one call keeps; a last entry says "(N more)".
	MaxDenialsPerCall  = 100
	MaxWarningsPerCall = 100
)

// SanitizeText makes plugin-provided text safe to print on one line; the
// host applies it to everything a plugin says, and the CLI to what a module
// declares (metadata, export names) when it shows them. C0
// and C1 control characters (newline, carriage return, ESC and so the
// start of every ANSI sequence), DEL and the Unicode line and paragraph
// separators are escaped Go-style (\n, \x1b, \u2028), and so is a
// backslash, so an escape cannot be forged; bytes that are not valid UTF-8
// are escaped as \xNN; other text is kept. At most maxBytes bytes of s are
// read (0 means no cap); the rest is counted in a "…(N more bytes)" note.
func SanitizeText(s string, maxBytes int) string {
	rest := 0
	if maxBytes > 0 && len(s) > maxBytes {
		cut := maxBytes
		// Do not split a valid rune: back up to its first byte.
		for i := 0; i < utf8.UTFMax-1 && cut > 0 && !utf8.RuneStart(s[cut]); i++ {
			cut--
		}
		if cut == 0 {
			cut = maxBytes
		}
		s, rest = s[:cut], len(s)-cut
	}
	if rest == 0 && isPlainText(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	if rest > 0 {
		fmt.Fprintf(&b, "…(%d more bytes)", rest)
	}
	return b.String()
}

// isPlainText reports whether s needs no escaping.
func isPlainText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c == '\\' || c >= 0x80 {
			if c >= 0x80 {
				return isPlainUnicode(s[i:])
			}
			return false
		}
	}
	return true
}

func isPlainUnicode(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\\' || (r >= 0x80 && r < 0xa0) || r == '\u2028' || r == '\u2029' || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// sanitizedError keeps an error's kind (errors.Is and errors.As see the
// cause) while its message is the cause's, sanitised and capped: a plugin's
// error string is printed and logged through it.
type sanitizedError struct {
	msg   string
	cause error
}

func (e *sanitizedError) Error() string { return e.msg }
func (e *sanitizedError) Unwrap() error { return e.cause }

// sanitizeError wraps err so that its message is safe to print; nil stays
// nil. maxBytes caps the message as in SanitizeText.
func sanitizeError(err error, maxBytes int) error {
	if err == nil {
		return nil
	}
	if s, ok := err.(*sanitizedError); ok {
		return s
	}
	return &sanitizedError{msg: SanitizeText(err.Error(), maxBytes), cause: err}
}
