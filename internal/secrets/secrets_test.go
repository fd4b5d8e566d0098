package secrets_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/secrets"
)

func TestSealOpenRoundTripAndBinding(t *testing.T) {
	box, err := secrets.Load(secrets.NewKeyText(), "")
	require.NoError(t, err)

	ct := box.Seal([]byte("s3cret"), "partner/a/pc")
	assert.NotContains(t, string(ct), "s3cret")
	pt, err := box.Open(ct, "partner/a/pc")
	require.NoError(t, err)
	assert.Equal(t, "s3cret", string(pt))

	_, err = box.Open(ct, "partner/b/pc")
	assert.ErrorIs(t, err, secrets.ErrDecrypt, "ciphertext moved to another row must not open")

	other, err := secrets.Load(secrets.NewKeyText(), "")
	require.NoError(t, err)
	_, err = other.Open(ct, "partner/a/pc")
	assert.ErrorIs(t, err, secrets.ErrDecrypt)
}

func TestLoadErrorsNameTheFix(t *testing.T) {
	_, err := secrets.Load("", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CSPSYNC_ENCRYPTION_KEY")

	_, err = secrets.Load("too-short", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "malformed")

	_, err = secrets.Load("", filepath.Join(t.TempDir(), "missing"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "CSPSYNC_ENCRYPTION_KEY_FILE")

	f := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(f, []byte(secrets.NewKeyText()+"\n"), 0o600))
	_, err = secrets.Load("", f)
	assert.NoError(t, err)
}

// A joined Box seals with its first key and opens with any of them: values
// sealed under the old key stay readable while a rotation re-seals them.
func TestJoinedBoxSealsWithTheFirstKeyAndOpensWithAny(t *testing.T) {
	old, err := secrets.Load(secrets.NewKeyText(), "")
	require.NoError(t, err)
	fresh, err := secrets.Load(secrets.NewKeyText(), "")
	require.NoError(t, err)
	both := secrets.Join(fresh, old)

	byOld := old.Seal([]byte("sealed before"), "a")
	pt, err := both.Open(byOld, "a")
	require.NoError(t, err)
	assert.Equal(t, "sealed before", string(pt))
	_, err = both.Open(byOld, "b")
	assert.ErrorIs(t, err, secrets.ErrDecrypt, "the binding holds under every key")

	byBoth := both.Seal([]byte("re-sealed"), "a")
	pt, err = fresh.Open(byBoth, "a")
	require.NoError(t, err, "sealed with the first key")
	assert.Equal(t, "re-sealed", string(pt))
	_, err = old.Open(byBoth, "a")
	assert.ErrorIs(t, err, secrets.ErrDecrypt, "the old key alone no longer opens it")
	assert.ErrorIs(t, secrets.ErrWrongKey, secrets.ErrDecrypt)
}
