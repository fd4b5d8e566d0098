package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/internal/text"
)

// A code is part of the open-errors index: an 8,000-character code from a
// browser's callback once failed with "index row size exceeds btree
// maximum". Random hex does not compress, as an attacker's text would not.
func TestRecordErrorBoundsAndCleansUntrustedText(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner("acme")))

	random := make([]byte, 4000)
	_, _ = rand.Read(random)
	long := hex.EncodeToString(random)
	cases := map[domain.Operation]domain.ErrorInfo{
		domain.OpAuthorise: {Code: long, Cause: long + long, Remediation: long},
		domain.OpConsent:   {Code: "\x1b]0;pwned\x07\x1b[2J", Cause: "evil\u202etxt.exe\r\nsecond line", Remediation: "fix \x9b31m"},
	}
	for op, e := range cases {
		require.NoError(t, st.RecordError(ctx, "acme", "", op, e))
		require.NoError(t, st.RecordError(ctx, "acme", "", op, e), "the same failure again")
	}
	errs, err := st.ListErrors(ctx, "acme", false)
	require.NoError(t, err)
	require.Len(t, errs, 2, "one open row per failure, though its text was cut or cleaned")
	for _, e := range errs {
		assert.Equal(t, 2, e.Occurrences)
		assert.LessOrEqual(t, len(e.Code), text.MaxCode)
		assert.LessOrEqual(t, len(e.Message), text.MaxMessage)
		assert.LessOrEqual(t, len(e.Remediation), text.MaxMessage)
		for _, s := range []string{e.Code, e.Message, e.Remediation} {
			assert.Equal(t, text.Clean(s, len(s)), s, "stored text is clean")
		}
	}
	byOp := map[string]store.IntegrationError{}
	for _, e := range errs {
		byOp[string(e.Operation)] = e
	}
	assert.True(t, strings.HasPrefix(long, strings.TrimSuffix(byOp["authorise"].Code, "…")), "the code is cut, not replaced")
	assert.Equal(t, "]0;pwned[2J", byOp["consent"].Code)
	assert.Equal(t, "eviltxt.exe second line", byOp["consent"].Message)
}
