package usersync

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
)

// decoded decodes users as a users/delta page carries them.
func decoded(t *testing.T, users string) []GraphUser {
	t.Helper()
	p, err := DecodeDeltaPage([]byte(`{"@odata.deltaLink":"https://graph/delta","value":[` + users + `]}`))
	require.NoError(t, err)
	return p.Users
}

// A property Graph left out is unknown, not empty or false: a new user is
// created active with the fields he has, and a user already in the PSA keeps
// his state, his site and the fields that read it. Only a property Graph sent
// (false, null) decides.
func TestAbsentPropertiesAreUnknown(t *testing.T) {
	p := testPlan(t, Settings{})
	sales := imported(1, "a", 20, true)
	sales.Department = "Sales"
	disabled := imported(2, "b", 10, false)
	disabled.InactiveReason = "account disabled in Microsoft (accountEnabled false)"
	for _, tc := range []struct {
		name    string
		psa     []domain.PSAUser
		user    string
		kind    Kind
		active  bool
		site    int64
		reason  string
		check   func(t *testing.T, o Outcome)
		changes []domain.Change
	}{
		{name: "a new user without accountEnabled is created active", user: `{"id":"n","displayName":"New","department":"IT"}`,
			kind: Created, active: true, site: 10, check: func(t *testing.T, o Outcome) {
				assert.Equal(t, "New", o.User.Name)
				assert.Empty(t, o.User.Email, "absent mail and userPrincipalName: empty for a new user")
				assert.Empty(t, o.User.InactiveReason)
			}},
		{name: "a new user with accountEnabled null is created active", user: `{"id":"n","displayName":"New","department":"IT","accountEnabled":null}`,
			kind: Created, active: true, site: 10},
		{name: "a new user with accountEnabled false is created inactive, with the true reason",
			user: `{"id":"n","displayName":"New","department":"IT","accountEnabled":false}`,
			kind: Created, active: false, site: 10, reason: "account disabled in Microsoft (accountEnabled false): created inactive"},
		{name: "a new user whose filters read an absent property is placed as if it were empty", user: `{"id":"n","displayName":"New"}`,
			kind: Excluded, reason: "no site mapping matches"},
		{name: "an inactive user without accountEnabled stays inactive", psa: []domain.PSAUser{disabled},
			user: `{"id":"b","displayName":"User b","department":"IT"}`, kind: Unchanged, active: false, site: 10,
			check: func(t *testing.T, o Outcome) {
				assert.Equal(t, disabled.InactiveReason, o.User.InactiveReason)
			}},
		{name: "an active user without accountEnabled stays active; absent fields are kept, sent ones change",
			psa: []domain.PSAUser{sales}, user: `{"id":"a","displayName":"Renamed","department":"Sales","jobTitle":null}`,
			kind: Updated, active: true, site: 20,
			changes: []domain.Change{{Field: "name", Old: "User a", New: "Renamed"}, {Field: "job_title", Old: "Engineer", New: ""}}},
		{name: "a user whose site filters read an absent property keeps his site", psa: []domain.PSAUser{sales},
			user: `{"id":"a","displayName":"User a","accountEnabled":true}`, kind: Unchanged, active: true, site: 20},
		{name: "a mapping that does not depend on the absent property still decides", psa: []domain.PSAUser{sales},
			user: `{"id":"a","displayName":"User a","department":"Sales","mail":"new@contoso.com"}`, kind: Updated, active: true, site: 20,
			changes: []domain.Change{{Field: "email", Old: "a@contoso.com", New: "new@contoso.com"}}},
		{name: "accountEnabled false still makes a user inactive", psa: []domain.PSAUser{sales},
			user: `{"id":"a","department":"Sales","accountEnabled":false}`, kind: Inactivated, active: false, site: 20,
			reason: "account disabled in Microsoft (accountEnabled false)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outs, _ := round(p, Delta, tc.psa, decoded(t, tc.user))
			require.Len(t, outs, 1)
			o := outs[0]
			assert.Equal(t, tc.kind, o.Kind, "kind (reason %q)", o.Reason)
			if o.Kind == Excluded {
				assert.Contains(t, o.Reason, tc.reason)
				return
			}
			assert.Equal(t, tc.active, o.User.Active, "active")
			assert.Equal(t, tc.site, o.User.SiteID, "site")
			assert.Equal(t, tc.reason, o.Reason, "a reason states only what Microsoft sent")
			if tc.changes != nil {
				assert.Equal(t, tc.changes, o.Changes)
			}
			if tc.check != nil {
				tc.check(t, o)
			}
		})
	}
}

// Users read again by id note their properties too: a re-read that leaves one
// out does not blank it.
func TestReReadUsersNoteWhatTheyCarry(t *testing.T) {
	page, err := DecodeListPage([]byte(`{"value":[{"id":"a","displayName":"User a","department":"Sales","accountEnabled":false}]}`))
	require.NoError(t, err)
	sales := imported(1, "a", 20, true)
	sales.Department = "Sales"
	outs, _ := round(testPlan(t, Settings{}), Delta, []domain.PSAUser{sales}, page.Users)
	assert.Equal(t, Inactivated, outs[0].Kind)
	assert.Equal(t, "a@contoso.com", outs[0].User.Email, "mail and userPrincipalName left out: kept")
	assert.Equal(t, "Engineer", outs[0].User.JobTitle)
}

// A sign-in page that leaves signInActivity out (a user who never signed in)
// keeps the last sign-in the PSA has.
func TestSignInPassKeepsWhatThePageLeavesOut(t *testing.T) {
	p, err := NewPlan(Config{Sites: testSites, Mappings: DefaultMappings()})
	require.NoError(t, err)
	page, err := DecodeListPage([]byte(`{"value":[{"id":"a"}]}`))
	require.NoError(t, err)
	u := imported(1, "a", 10, true)
	u.LastSignIn = u.LastSignIn.AddDate(2025, 0, 0)
	outs, _ := round(p, SignIns, []domain.PSAUser{u}, page.Users)
	assert.Equal(t, Unchanged, outs[0].Kind)
	assert.Equal(t, u.LastSignIn, outs[0].User.LastSignIn)
}
