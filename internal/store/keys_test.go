package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

func newBox(t *testing.T) (*secrets.Box, string) {
	t.Helper()
	key := secrets.NewKeyText()
	box, err := secrets.Load(key, "")
	require.NoError(t, err)
	return box, key
}

// openWith opens the test's database with another key.
func openWith(t *testing.T, url string, box *secrets.Box) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), url, box)
	require.NoError(t, err)
	t.Cleanup(st.Close)
	return st
}

// seed stores one of each sealed value: two partner secrets, a token cache
// and a pending sign-in's PKCE verifier.
func seed(t *testing.T, st *store.Store, partnerID string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, partner(partnerID)))
	require.NoError(t, st.SaveTokenCache(ctx, partnerID, "pc/k", []byte(`{"RefreshToken":"rt-`+partnerID+`"}`)))
	if _, err := st.CreateAuthRequest(ctx, store.AuthRequest{State: "state-" + partnerID, PartnerID: partnerID,
		Kind: "authorise", CodeVerifier: "verifier-" + partnerID, RedirectURI: "https://x/cb", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
}

// opensEverything proves that st's key opens every sealed value of a partner
// (consuming its pending sign-in).
func opensEverything(t *testing.T, st *store.Store, partnerID string) {
	t.Helper()
	ctx := context.Background()
	creds, err := st.Credentials(ctx, partnerID)
	require.NoError(t, err)
	assert.Equal(t, "pc-secret-value", creds.PCClientSecret)
	assert.Equal(t, "graph-secret-value", creds.GraphSecret)
	blob, err := st.LoadTokenCache(ctx, partnerID, "pc/k")
	require.NoError(t, err)
	assert.Contains(t, string(blob), "rt-"+partnerID)
	r, err := st.ConsumeAuthRequest(ctx, "state-"+partnerID)
	require.NoError(t, err)
	assert.Equal(t, "verifier-"+partnerID, r.CodeVerifier)
	var kept int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM auth_requests
		WHERE partner_id = $1 AND code_verifier IS NOT NULL`, partnerID).Scan(&kept))
	assert.Zero(t, kept, "a used sign-in keeps no verifier")
}

func TestKeyCheckIsWrittenOnceAndRefusesAnotherKey(t *testing.T) {
	st, url, _ := testenv.Store(t)
	ctx := context.Background()
	seed(t, st, "acme") // data from before the key check existed

	other, _ := newBox(t)
	err := openWith(t, url, other).CheckKey(ctx)
	require.ErrorIs(t, err, secrets.ErrWrongKey, "another key does not open what is stored, so it writes no key check")
	assert.Contains(t, err.Error(), "differs from the one the stored data was sealed with")
	assert.Contains(t, err.Error(), "cspsync connect --forget-unreadable")

	require.NoError(t, st.CheckKey(ctx), "the right key writes the key check")
	require.NoError(t, st.CheckKey(ctx))
	var n int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT count(*) FROM key_check`).Scan(&n))
	assert.Equal(t, 1, n)

	// On an empty database, the first key wins and the next is refused.
	empty, emptyURL, _ := testenv.Store(t)
	require.NoError(t, empty.CheckKey(ctx))
	assert.ErrorIs(t, openWith(t, emptyURL, other).CheckKey(ctx), secrets.ErrWrongKey)
}

func TestRotateKeyReSealsEverythingInOneGo(t *testing.T) {
	st, url, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.CheckKey(ctx))
	seed(t, st, "acme")
	seed(t, st, "globex")

	next, _ := newBox(t)
	r, err := st.RotateKey(ctx, next)
	require.NoError(t, err)
	assert.Equal(t, store.Rotated{PartnerSecrets: 4, TokenCaches: 2, Verifiers: 2}, r)

	// The new key alone opens everything; the old key opens nothing.
	rotated := openWith(t, url, next)
	require.NoError(t, rotated.CheckKey(ctx))
	opensEverything(t, rotated, "acme")
	assert.ErrorIs(t, st.CheckKey(ctx), secrets.ErrWrongKey)
	_, err = st.Credentials(ctx, "globex")
	assert.ErrorIs(t, err, secrets.ErrDecrypt)
	_, err = st.LoadTokenCache(ctx, "globex", "pc/k")
	assert.ErrorIs(t, err, secrets.ErrDecrypt)

	// A process still on the old key cannot store tokens the new key would not open.
	err = st.SaveTokenCache(ctx, "globex", "pc/new", []byte("{}"))
	assert.ErrorIs(t, err, secrets.ErrDecrypt)
	blob, err := rotated.LoadTokenCache(ctx, "globex", "pc/new")
	require.NoError(t, err)
	assert.Nil(t, blob, "nothing was written")

	// Rotating again from the old key is refused with nothing changed.
	_, err = st.RotateKey(ctx, st2Box(t))
	assert.ErrorIs(t, err, secrets.ErrWrongKey)
	opensEverything(t, rotated, "globex")
}

func st2Box(t *testing.T) *secrets.Box { b, _ := newBox(t); return b }

func TestRotateKeyStopsAtAValueNeitherKeyOpens(t *testing.T) {
	st, _, _ := testenv.Store(t)
	ctx := context.Background()
	seed(t, st, "acme")
	// A token cache moved to another row no longer opens (it is bound to its row).
	_, err := st.Pool().Exec(ctx, `INSERT INTO token_caches (partner_id, cache_key, ciphertext)
		SELECT partner_id, 'pc/moved', ciphertext FROM token_caches WHERE cache_key = 'pc/k'`)
	require.NoError(t, err)
	_, err = st.RotateKey(ctx, st2Box(t))
	require.ErrorIs(t, err, secrets.ErrWrongKey)
	assert.Contains(t, err.Error(), "token cache of partner acme")
	opensEverything(t, st, "acme") // still sealed under the current key
}

func TestForgetUnreadableDropsWhatALostKeyHadSealed(t *testing.T) {
	st, url, _ := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.CheckKey(ctx))
	seed(t, st, "acme")
	seed(t, st, "globex")
	require.NoError(t, st.SetPartnerAuthorised(ctx, "acme", "home-account"))
	// A consent link seals nothing and survives.
	if _, err := st.CreateAuthRequest(ctx, store.AuthRequest{State: "consent", PartnerID: "acme", Kind: "consent",
		TenantID: "11111111-0000-0000-0000-000000000001", RedirectURI: "https://x/consent", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}

	lostKeyReplacement, _ := newBox(t)
	fresh := openWith(t, url, lostKeyReplacement)
	require.ErrorIs(t, fresh.CheckKey(ctx), secrets.ErrWrongKey)
	partners, err := fresh.ForgetUnreadable(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{"acme", "globex"}, partners)
	require.NoError(t, fresh.CheckKey(ctx), "a new key check under the new key")

	var caches, verifiers, consents int
	require.NoError(t, st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM token_caches),
		(SELECT count(*) FROM auth_requests WHERE code_verifier IS NOT NULL),
		(SELECT count(*) FROM auth_requests WHERE kind = 'consent')`).Scan(&caches, &verifiers, &consents))
	assert.Zero(t, caches)
	assert.Zero(t, verifiers)
	assert.Equal(t, 1, consents)
	p, err := fresh.GetPartner(ctx, "acme")
	require.NoError(t, err)
	assert.Equal(t, domain.AuthNeedsReauthorisation, p.AuthState)
	assert.Empty(t, p.HomeAccountID)
	_, err = fresh.Credentials(ctx, "globex")
	assert.ErrorIs(t, err, store.ErrSecretsForgotten)

	// Connecting again seals the partner's secrets under the new key.
	require.NoError(t, fresh.UpsertPartner(ctx, partner("acme")))
	_, err = fresh.Credentials(ctx, "acme")
	require.NoError(t, err)
	again, err := fresh.ForgetUnreadable(ctx)
	require.NoError(t, err)
	assert.Empty(t, again, "nothing left to forget")
}
