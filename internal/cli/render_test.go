package cli

import (
	"bytes"
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/text"
)

func TestPrintfAndErrorsAreInert(t *testing.T) {
	var out bytes.Buffer
	printf(&out, "Consent for %s (%s) recorded as %s; %d tenants.\n", "Evil\x1b]0;pwned\x07 Corp", "t\u202e1", domain.Consent("granted\x1b[2J"), 3)
	assert.Equal(t, "Consent for Evil]0;pwned Corp (t1) recorded as granted[2J; 3 tenants.\n", out.String())

	assert.Equal(t, "discovery failed:\n  code ]0;pwned[2J\n  fix it", inertLines("discovery failed:\n  code \x1b]0;pwned\x07\x1b[2J\r\n  fix it\u202e"),
		"an error keeps its lines, each cleaned")
}

// FuzzRender: whatever a field holds, a table shows one inert line per row
// and JSON stays exact and inert.
func FuzzRender(f *testing.F) {
	f.Add("\x1b]0;pwned\x07\x1b[2J", "a\tb\nc")
	f.Add("\u009b31m\x7f", "\u202eevil\u2028\u2029")
	f.Add("\xff\xfe", "")
	f.Fuzz(func(t *testing.T, a, b string) {
		var out bytes.Buffer
		if err := table(&out, "A\tB", [][]string{{a, b}, {b, a}}); err != nil {
			t.Fatal(err)
		}
		if lines := bytes.Count(out.Bytes(), []byte("\n")); lines != 3 {
			t.Fatalf("%d lines for 2 rows: %q", lines, out.String())
		}
		assertInertBytes(t, out.Bytes())

		out.Reset()
		in := map[string]string{"a": a, "b": b}
		if err := printJSON(&out, in); err != nil {
			t.Fatal(err)
		}
		assertInertBytes(t, out.Bytes())
		var back map[string]string
		if err := json.Unmarshal(out.Bytes(), &back); err != nil {
			t.Fatalf("%v: %q", err, out.String())
		}
		for k, v := range in {
			if want := []rune(v); back[k] != string(want) { // each invalid byte becomes U+FFFD
				t.Fatalf("JSON changed %q into %q", want, back[k])
			}
		}
	})
}

func assertInertBytes(t *testing.T, b []byte) {
	t.Helper()
	if !utf8.Valid(b) {
		t.Fatalf("invalid UTF-8: %q", b)
	}
	for _, r := range string(b) {
		if r != '\n' && text.Unsafe(r) {
			t.Fatalf("output holds %U: %q", r, b)
		}
	}
}
