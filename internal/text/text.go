// Package text makes untrusted text safe to store, log and print. What
// browsers and Microsoft send (error codes and descriptions, display names
// of tenants and companies) passes through Clean before cspsync keeps it,
// and the CLI cleans every data field again when it renders, so no such
// text can move a terminal's cursor, retitle its window, reorder what a
// reader sees or overflow a database index.
package text

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits, in bytes, of the kinds of untrusted text cspsync keeps.
const (
	// MaxCode bounds error codes: AADSTS codes, Graph and Partner Center
	// codes, OAuth error values. Codes are part of a unique index.
	MaxCode = 128
	// MaxMessage bounds error messages and descriptions.
	MaxMessage = 1024
	// MaxName bounds display names and domains of tenants and companies.
	MaxName = 256
)

const ellipsis = "…"

// Unsafe reports whether r may not reach storage or a terminal: C0 and C1
// controls (ESC, BEL, CSI and the rest), DEL, bidirectional formatting
// (U+202E and its kin) and the line and paragraph separators.
func Unsafe(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029'
}

// spacing is white space that Clean turns into one plain space: the space
// itself and the unsafe line-breaking and tab characters.
func spacing(r rune) bool { return r == ' ' || (Unsafe(r) && unicode.IsSpace(r)) }

// Clean returns s as one line of at most max bytes: invalid UTF-8 and
// unsafe runes are dropped, runs of spacing become one space, leading and
// trailing spaces go, and text cut short ends with "…". Clean text comes
// back unchanged.
func Clean(s string, max int) string {
	if max <= 0 {
		return ""
	}
	if len(s) <= max && isClean(s) {
		return s
	}
	var b strings.Builder
	space, truncated := false, false
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1: // an invalid byte
			continue
		case spacing(r):
			space = b.Len() > 0
			continue
		case Unsafe(r):
			continue
		}
		need := size
		if space {
			need++
		}
		if b.Len()+need > max {
			truncated = true
			break
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	out := b.String()
	if !truncated || max < len(ellipsis) {
		return out
	}
	cut := min(max-len(ellipsis), len(out))
	for cut > 0 && cut < len(out) && !utf8.RuneStart(out[cut]) {
		cut--
	}
	return strings.TrimRight(out[:cut], " ") + ellipsis
}

// isClean reports whether Clean would keep s as it is (length aside).
func isClean(s string) bool {
	prevSpace := true // a leading space is not clean
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if (r == utf8.RuneError && size == 1) || (Unsafe(r)) || (r == ' ' && prevSpace) {
			return false
		}
		prevSpace = r == ' '
	}
	return !prevSpace || s == ""
}
