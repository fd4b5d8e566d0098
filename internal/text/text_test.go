package text_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/cspsync/cspsync/internal/text"
)

func TestClean(t *testing.T) {
	cases := []struct{ name, in, want string }{
		{"clean text is kept", "AADSTS65004: User declined to consent.", "AADSTS65004: User declined to consent."},
		{"window title and clear screen", "\x1b]0;pwned\x07\x1b[2J", "]0;pwned[2J"},
		{"C1 CSI and DEL", "a\u009b31mb\x7fc", "a31mbc"},
		{"bidi override", "evil\u202ecod.exe", "evilcod.exe"},
		{"bidi isolates and marks", "\u2066a\u2069\u200e\u061cb", "ab"},
		{"invalid UTF-8", "ok\xff\xfe\xc3", "ok"},
		{"real replacement rune kept", "a\uFFFDb", "a\uFFFDb"},
		{"lines become one", "first\r\nsecond\u2028third\u0085fourth", "first second third fourth"},
		{"tabs and runs of space", "\t a \t\n  b  ", "a b"},
		{"NUL", "a\x00b", "ab"},
		{"non-Latin names kept", "株式会社 東京 — Zoë's Café", "株式会社 東京 — Zoë's Café"},
		{"only controls", "\x1b\x07\u202e", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, text.Clean(c.in, 100))
		})
	}
}

func TestCleanBoundsLengthOnRuneBoundaries(t *testing.T) {
	long := strings.Repeat("é", 5000) // 2 bytes each
	got := text.Clean(long, text.MaxCode)
	assert.LessOrEqual(t, len(got), text.MaxCode)
	assert.True(t, utf8.ValidString(got))
	assert.True(t, strings.HasSuffix(got, "…"), "cut text says so")

	assert.Equal(t, "abc", text.Clean("abc", 3), "text that fits is not cut")
	assert.Equal(t, "ab…", text.Clean("abcdef", 5))
	assert.Equal(t, "a…", text.Clean("a bcdef", 5), "no space before the ellipsis")
	assert.Equal(t, "ab", text.Clean("abcdef", 2), "too short for an ellipsis")
	assert.Equal(t, "", text.Clean("abc", 0))
	assert.Equal(t, "abc", text.Clean("abc \x1b\x1b\x1b", 4), "dropped runes and trailing space do not count")
}

// FuzzClean: whatever comes in, what goes out fits, is valid UTF-8, holds no
// unsafe rune and no stray space, is stable under a second Clean, and holds
// only runes of the input, in order (plus the ellipsis of a cut).
func FuzzClean(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b]0;pwned\x07\x1b[2J", "a\u202eb", "\xff\xfe", "a\r\n\tb", "  x  ", strings.Repeat("ab ", 100), "…", "é\u0301"} {
		f.Add(s, 16)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		max = max % 2048
		if max < 0 {
			max = -max
		}
		out := text.Clean(s, max)
		if len(out) > max {
			t.Fatalf("Clean(%q, %d) = %q: %d bytes", s, max, out, len(out))
		}
		if !utf8.ValidString(out) {
			t.Fatalf("Clean(%q, %d) = %q: invalid UTF-8", s, max, out)
		}
		for _, r := range out {
			if text.Unsafe(r) {
				t.Fatalf("Clean(%q, %d) = %q: holds %U", s, max, out, r)
			}
		}
		if strings.HasPrefix(out, " ") || strings.HasSuffix(out, " ") || strings.Contains(out, "  ") {
			t.Fatalf("Clean(%q, %d) = %q: stray space", s, max, out)
		}
		if again := text.Clean(out, max); again != out {
			t.Fatalf("Clean is not stable: %q then %q", out, again)
		}
		rest := s
		for _, r := range strings.TrimSuffix(out, "…") {
			if r == ' ' {
				continue
			}
			i := strings.Index(rest, string(r)) // not IndexRune: it matches invalid bytes for U+FFFD
			if i < 0 {
				t.Fatalf("Clean(%q, %d) = %q: %q is not from the input", s, max, out, r)
			}
			rest = rest[i+utf8.RuneLen(r):]
		}
	})
}
