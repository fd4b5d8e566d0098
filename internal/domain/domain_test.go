package domain_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
)

func TestConsentFor(t *testing.T) {
	cases := []struct {
		rel     domain.Relationship
		current domain.Consent
		want    domain.Consent
	}{
		// A new tenant.
		{domain.DAP, domain.ConsentUnknown, domain.ConsentNotRequired},
		{domain.GDAP, domain.ConsentUnknown, domain.ConsentPending},
		{domain.GDAP, "", domain.ConsentPending},
		// DAP needs no consent, but a grant it has is kept.
		{domain.DAP, domain.ConsentPending, domain.ConsentNotRequired},
		{domain.DAP, domain.ConsentRevoked, domain.ConsentNotRequired},
		{domain.DAP, domain.ConsentGranted, domain.ConsentGranted},
		// GDAP keeps a consent it already has, needs one otherwise.
		{domain.GDAP, domain.ConsentGranted, domain.ConsentGranted},
		{domain.GDAP, domain.ConsentRevoked, domain.ConsentRevoked},
		{domain.GDAP, domain.ConsentPending, domain.ConsentPending},
		{domain.GDAP, domain.ConsentNotRequired, domain.ConsentPending},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, domain.ConsentFor(c.rel, c.current), "%s with %q", c.rel, c.current)
	}
}

func TestParseRelationship(t *testing.T) {
	r, err := domain.ParseRelationship(" gdap ")
	require.NoError(t, err)
	assert.Equal(t, domain.GDAP, r)
	_, err = domain.ParseRelationship("CSP")
	assert.ErrorContains(t, err, "use DAP or GDAP")
}

// Partner workflows started before the vocabulary was unified carry the old
// names in their continue-as-new input; they must read as today's states.
func TestAuthStateReadsLegacyNames(t *testing.T) {
	for legacy, want := range map[string]domain.AuthState{
		"AwaitingAuthorisation": domain.AuthPending, "Authorised": domain.AuthAuthorised,
		"NeedsReauthorisation": domain.AuthNeedsReauthorisation, "authorised": domain.AuthAuthorised,
	} {
		var got struct{ Auth domain.AuthState }
		require.NoError(t, json.Unmarshal([]byte(`{"Auth":"`+legacy+`"}`), &got))
		assert.Equal(t, want, got.Auth, legacy)
	}
}

func TestMissingConsent(t *testing.T) {
	var missing []domain.Consent
	for _, c := range domain.Consents() {
		if c.Missing() {
			missing = append(missing, c)
		}
	}
	assert.Equal(t, []domain.Consent{domain.ConsentPending, domain.ConsentRevoked}, missing)
}
