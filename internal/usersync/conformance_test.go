package usersync

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// documented reads the response of one of Microsoft's documented examples kept for the
// simulator's conformance suite (internal/sim/testdata/conformance; each names its page).
func documented(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "sim", "testdata", "conformance", name+".json"))
	require.NoError(t, err)
	var fx struct {
		Response json.RawMessage `json:"response"`
	}
	require.NoError(t, json.Unmarshal(raw, &fx))
	return fx.Response
}

// The decoders read Microsoft's own users/delta examples: the user delta page's three
// examples and every page of the "delta query for users" sequence.
func TestDecodeDocumentedDeltaPages(t *testing.T) {
	for name, want := range map[string]struct {
		users, removed int
		next, delta    bool
	}{
		"graph-users-delta-default-properties":    {1, 0, true, false},
		"graph-users-delta-sequence-1-initial":    {4, 1, true, false},
		"graph-users-delta-sequence-2-nextlink":   {2, 0, true, false},
		"graph-users-delta-sequence-3-final":      {2, 0, false, true},
		"graph-users-delta-sequence-4-no-changes": {0, 0, false, true},
		"graph-users-delta-sequence-5-changes":    {2, 1, false, true},
	} {
		p, err := DecodeDeltaPage(documented(t, name))
		require.NoError(t, err, name)
		removed := 0
		for _, u := range p.Users {
			if u.Removed != nil {
				removed++
			}
		}
		assert.Len(t, p.Users, want.users, name)
		assert.Equal(t, want.removed, removed, name)
		assert.Equal(t, want.next, p.NextLink != "", name)
		assert.Equal(t, want.delta, p.DeltaLink != "", name)
	}
	// Examples 2 and 3 of the user delta page are shortened past the id the same page says is
	// always returned: a user without an id cannot be placed, so he is unreadable, with that
	// reason, rather than guessed at.
	for _, name := range []string{"graph-users-delta-selected-default-mode", "graph-users-delta-minimal"} {
		p, err := DecodeDeltaPage(documented(t, name))
		require.NoError(t, err, name)
		require.NotEmpty(t, p.Users, name)
		assert.Contains(t, p.Users[0].Unreadable, "without an id", name)
	}
	// The documented rename carries every selected property; the conference room only its
	// displayName, which Partial reports for a re-read.
	p, err := DecodeDeltaPage(documented(t, "graph-users-delta-sequence-5-changes"))
	require.NoError(t, err)
	assert.Equal(t, GraphUser{ID: "25dcffff-959e-4ece-9973-e5d9b800e8cc", DisplayName: "MOD Administrator", GivenName: "MOD", Surname: "Administrator"},
		withoutPresence(p.Users[0]))
	assert.Equal(t, "changed", p.Users[1].Removed.Reason)
	p, err = DecodeDeltaPage(documented(t, "graph-users-delta-sequence-1-initial"))
	require.NoError(t, err)
	assert.Equal(t, "deleted", p.Users[2].Removed.Reason)
	assert.Equal(t, []string{"6ea91a8d-e32e-41a1-b7bd-d2d185eed0e0"}, p.Partial([]string{"displayName", "givenName", "surname"}))
}

func withoutPresence(u GraphUser) GraphUser {
	u.present, u.nulls, u.marked = 0, 0, false
	return u
}

// List users as documented, nulls included, and the sign-in example whose dates Graph does
// not have are "0001-01-01T00:00:00Z" and "": no date, never a failed page.
func TestDecodeDocumentedListPages(t *testing.T) {
	p, err := DecodeListPage(documented(t, "graph-users-list"))
	require.NoError(t, err)
	require.Len(t, p.Users, 2)
	assert.Equal(t, "Conf Room Adams", p.Users[0].DisplayName)
	assert.Equal(t, []string{"425-555-0100"}, p.Users[1].BusinessPhones)

	p, err = DecodeListPage(documented(t, "graph-users-list-signinactivity"))
	require.NoError(t, err)
	require.Len(t, p.Users, 2)
	adele := p.Users[0].SignInActivity
	assert.Equal(t, time.Date(2021, 6, 17, 16, 41, 33, 0, time.UTC), adele.LastSignInDateTime)
	assert.True(t, adele.LastNonInteractiveSignInDateTime.IsZero())
	assert.True(t, adele.LastSuccessfulSignInDateTime.IsZero())
	assert.Equal(t, time.Date(2021, 6, 17, 16, 41, 33, 0, time.UTC), mapped(t, p.Users[0], DefaultMappings(), SignIns).LastSignIn)

	_, err = DecodeListPage(documented(t, "graph-users-list-search-error"))
	assert.ErrorContains(t, err, "Request_UnsupportedQuery")
}
