package usersync

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
)

// Sites of the test customer: IT staff in site 10, Sales in site 20, nobody else.
var testSites = []SiteMapping{
	{Filter: "user.department == 'IT'", SiteID: 10},
	{Filter: "user.department == 'Sales'", SiteID: 20},
}

func testPlan(t *testing.T, s Settings) *Plan {
	t.Helper()
	p, err := NewPlan(Config{Sites: testSites, Mappings: DefaultMappings(), Settings: s})
	require.NoError(t, err)
	return p
}

// fetch answers Lookups as the store's query does: the customer's users with one of the Azure
// ids, and the unlinked ones whose field equals one of the values.
func fetch(psa []domain.PSAUser, l Lookups) []domain.PSAUser {
	var out []domain.PSAUser
	for _, u := range psa {
		if u.AzureObjectID != "" {
			if slices.Contains(l.AzureIDs, u.AzureObjectID) {
				out = append(out, u)
			}
			continue
		}
		for f, vs := range l.ByField {
			if slices.Contains(vs, Normalize(get(&u.UserValues, f))) {
				out = append(out, u)
				break
			}
		}
	}
	return out
}

// round decides a page against the PSA and applies the writes, as the store would.
func round(p *Plan, src Source, psa []domain.PSAUser, page []GraphUser) ([]Outcome, []domain.PSAUser) {
	b := p.Prepare(src, page)
	outs := b.Decide(fetch(psa, b.Lookups()))
	return outs, apply(psa, outs)
}

func apply(psa []domain.PSAUser, outs []Outcome) []domain.PSAUser {
	psa = slices.Clone(psa)
	for _, o := range outs {
		if !o.Writes() {
			continue
		}
		row := o.User
		if i := slices.IndexFunc(psa, func(u domain.PSAUser) bool { return u.ID == o.User.ID }); o.User.ID != 0 && i >= 0 {
			psa[i] = row
			continue
		}
		row.ID = int64(1000 + len(psa))
		psa = append(psa, row)
	}
	return psa
}

func user(id, dept string, change func(*GraphUser)) GraphUser {
	u := GraphUser{ID: id, DisplayName: "User " + id, UserPrincipalName: id + "@contoso.onmicrosoft.com",
		Mail: id + "@contoso.com", Department: dept, JobTitle: "Engineer", AccountEnabled: true,
		BusinessPhones: []string{"+1 425 555 0100"}, OnPremisesSamAccountName: "sam-" + id}
	if change != nil {
		change(&u)
	}
	return u
}

// imported is the PSA row of user(id, dept, nil) after an earlier round placed it in site.
func imported(rowID int64, id string, site int64, active bool) domain.PSAUser {
	return domain.PSAUser{ID: rowID, AzureObjectID: id, SiteID: site, Active: active, UserValues: domain.UserValues{
		Name: "User " + id, Email: id + "@contoso.com", NetworkLogin: "sam-" + id, Phone: "+1 425 555 0100",
		JobTitle: "Engineer", Department: "IT", Custom: map[string]string{"hand_kept": "yes"},
	}}
}

// handMade is a PSA user created by hand before any sync.
func handMade(rowID int64, name, email, login string) domain.PSAUser {
	return domain.PSAUser{ID: rowID, SiteID: 10, Active: true, UserValues: domain.UserValues{Name: name, Email: email, NetworkLogin: login}}
}

type want struct {
	kind      Kind
	matchedBy string
	userID    int64
	site      int64
	active    bool
	mapping   int
	reason    string          // a part of it
	changes   []domain.Change // exactly these, in order (nil: not checked)
}

func TestDecide(t *testing.T) {
	rules := Settings{MatchRules: []Field{FieldEmail, FieldName, FieldNetworkLogin}}
	for _, tc := range []struct {
		name     string
		settings Settings
		psa      []domain.PSAUser
		page     []GraphUser
		want     []want
	}{
		{
			name: "new user is created in the site of the first matching mapping",
			page: []GraphUser{user("a", "Sales", nil)},
			want: []want{{kind: Created, matchedBy: "created", site: 20, active: true, mapping: 2, changes: []domain.Change{
				{Field: "azure_object_id", Old: "", New: "a"}, {Field: "site", Old: "", New: "20"}, {Field: "active", Old: "", New: "true"},
				{Field: "name", Old: "", New: "User a"}, {Field: "email", Old: "", New: "a@contoso.com"}, {Field: "network_login", Old: "", New: "sam-a"},
				{Field: "phone", Old: "", New: "+1 425 555 0100"}, {Field: "job_title", Old: "", New: "Engineer"}, {Field: "department", Old: "", New: "Sales"},
			}}},
		},
		{
			name: "new disabled user is created inactive",
			page: []GraphUser{user("a", "IT", func(u *GraphUser) { u.AccountEnabled = false })},
			want: []want{{kind: Created, matchedBy: "created", site: 10, active: false, mapping: 1, reason: "account disabled in Microsoft (accountEnabled false): created inactive"}},
		},
		{
			name: "new user no mapping matches is excluded",
			page: []GraphUser{user("a", "Finance", nil)},
			want: []want{{kind: Excluded, reason: "no site mapping matches", changes: []domain.Change{}}},
		},
		{
			name: "imported user no mapping matches any more is made inactive, not excluded",
			psa:  []domain.PSAUser{imported(1, "a", 10, true)},
			page: []GraphUser{user("a", "Finance", nil)},
			want: []want{{kind: Inactivated, matchedBy: "azure_object_id", userID: 1, site: 10, active: false, reason: "no site mapping matches",
				changes: []domain.Change{{Field: "active", Old: "true", New: "false"}}}},
		},
		{
			name: "imported inactive user no mapping matches stays as he is",
			psa:  []domain.PSAUser{imported(1, "a", 10, false)},
			page: []GraphUser{user("a", "Finance", nil)},
			want: []want{{kind: Unchanged, matchedBy: "azure_object_id", userID: 1, site: 10, active: false, reason: "no site mapping matches; already inactive"}},
		},
		{
			name: "unchanged user",
			psa:  []domain.PSAUser{imported(1, "a", 10, true)},
			page: []GraphUser{user("a", "IT", nil)},
			want: []want{{kind: Unchanged, matchedBy: "azure_object_id", userID: 1, site: 10, active: true, mapping: 1, changes: []domain.Change{}}},
		},
		{
			name: "changed field is updated, old -> new",
			psa:  []domain.PSAUser{imported(1, "a", 10, true)},
			page: []GraphUser{user("a", "IT", func(u *GraphUser) { u.JobTitle = "Lead Engineer"; u.BusinessPhones = nil })},
			want: []want{{kind: Updated, matchedBy: "azure_object_id", userID: 1, site: 10, active: true, mapping: 1,
				changes: []domain.Change{{Field: "phone", Old: "+1 425 555 0100", New: ""}, {Field: "job_title", Old: "Engineer", New: "Lead Engineer"}}}},
		},
		{
			name: "user whose mapping changes moves to the other site",
			psa:  []domain.PSAUser{imported(1, "a", 10, true)},
			page: []GraphUser{user("a", "Sales", nil)},
			want: []want{{kind: Moved, matchedBy: "azure_object_id", userID: 1, site: 20, active: true, mapping: 2,
				reason: "site mapping 2 places the user in site 20", changes: []domain.Change{{Field: "site", Old: "10", New: "20"}, {Field: "department", Old: "IT", New: "Sales"}}}},
		},
		{
			name: "disabled account makes the user inactive",
			psa:  []domain.PSAUser{imported(1, "a", 10, true)},
			page: []GraphUser{user("a", "IT", func(u *GraphUser) { u.AccountEnabled = false })},
			want: []want{{kind: Inactivated, matchedBy: "azure_object_id", userID: 1, site: 10, active: false, mapping: 1,
				reason: "account disabled in Microsoft", changes: []domain.Change{{Field: "active", Old: "true", New: "false"}}}},
		},
		{
			name:     "disabled account with ignore accountEnabled stays active",
			settings: Settings{IgnoreAccountEnabled: true},
			psa:      []domain.PSAUser{imported(1, "a", 10, true)},
			page:     []GraphUser{user("a", "IT", func(u *GraphUser) { u.AccountEnabled = false })},
			want:     []want{{kind: Unchanged, matchedBy: "azure_object_id", userID: 1, site: 10, active: true, mapping: 1}},
		},
		{
			name: "removed (changed: soft-deleted) user is made inactive",
			psa:  []domain.PSAUser{imported(1, "a", 10, true)},
			page: []GraphUser{{ID: "a", Removed: &Removed{"changed"}}},
			want: []want{{kind: Inactivated, matchedBy: "azure_object_id", userID: 1, site: 10, active: false,
				reason: `removed in Microsoft (@removed reason "changed")`, changes: []domain.Change{{Field: "active", Old: "true", New: "false"}}}},
		},
		{
			name: "removed (deleted) user is made inactive, never deleted",
			psa:  []domain.PSAUser{imported(1, "a", 10, true)},
			page: []GraphUser{{ID: "a", Removed: &Removed{"deleted"}}},
			want: []want{{kind: Inactivated, matchedBy: "azure_object_id", userID: 1, site: 10, active: false, reason: `@removed reason "deleted"`}},
		},
		{
			name: "removed user never imported is excluded",
			page: []GraphUser{{ID: "a", Removed: &Removed{"deleted"}}},
			want: []want{{kind: Excluded, reason: "removed in Microsoft"}},
		},
		{
			name: "removed user already inactive is unchanged",
			psa:  []domain.PSAUser{imported(1, "a", 10, false)},
			page: []GraphUser{{ID: "a", Removed: &Removed{"changed"}}},
			want: []want{{kind: Unchanged, matchedBy: "azure_object_id", userID: 1, site: 10, reason: "already inactive"}},
		},
		{
			name: "inactive user back in Microsoft is reactivated",
			psa:  []domain.PSAUser{imported(1, "a", 10, false)},
			page: []GraphUser{user("a", "IT", nil)},
			want: []want{{kind: Reactivated, matchedBy: "azure_object_id", userID: 1, site: 10, active: true, mapping: 1,
				reason: "active in Microsoft again", changes: []domain.Change{{Field: "active", Old: "false", New: "true"}}}},
		},
		{
			name: "invalid email: nothing written, reason logged",
			psa:  []domain.PSAUser{imported(1, "a", 10, true)},
			page: []GraphUser{user("a", "IT", func(u *GraphUser) { u.Mail = "a at contoso" })},
			want: []want{{kind: Invalid, matchedBy: "azure_object_id", userID: 1, site: 10, active: true, mapping: 1, reason: `email "a at contoso" is not a valid address`}},
		},
		{
			name: "over-long field on a new user: nothing created, reason logged",
			page: []GraphUser{user("a", "IT", func(u *GraphUser) { u.DisplayName = strings.Repeat("n", 256) })},
			want: []want{{kind: Invalid, mapping: 1, reason: "name is 256 characters long, the PSA allows 255"}},
		},
		{
			name:     "matched by email (trimmed, any case): linked to the hand-made user",
			settings: rules,
			psa:      []domain.PSAUser{handMade(5, "Someone Else", "  A@Contoso.COM ", "")},
			page:     []GraphUser{user("a", "IT", nil)},
			want: []want{{kind: Updated, matchedBy: "email", userID: 5, site: 10, active: true, mapping: 1, changes: []domain.Change{
				{Field: "azure_object_id", Old: "", New: "a"}, {Field: "name", Old: "Someone Else", New: "User a"}, {Field: "email", Old: "  A@Contoso.COM ", New: "a@contoso.com"},
				{Field: "network_login", Old: "", New: "sam-a"}, {Field: "phone", Old: "", New: "+1 425 555 0100"}, {Field: "job_title", Old: "", New: "Engineer"}, {Field: "department", Old: "", New: "IT"},
			}}},
		},
		{
			name:     "matched by name when no email matches",
			settings: rules,
			psa:      []domain.PSAUser{handMade(5, "user a", "other@contoso.com", "")},
			page:     []GraphUser{user("a", "IT", nil)},
			want:     []want{{kind: Updated, matchedBy: "name", userID: 5, site: 10, active: true, mapping: 1}},
		},
		{
			name:     "matched by network login, moved to the mapped site",
			settings: rules,
			psa:      []domain.PSAUser{handMade(5, "Someone", "", "SAM-A")},
			page:     []GraphUser{user("a", "Sales", nil)},
			want:     []want{{kind: Moved, matchedBy: "network_login", userID: 5, site: 20, active: true, mapping: 2, reason: "site mapping 2 places the user in site 20"}},
		},
		{
			name:     "ambiguous email creates nothing",
			settings: rules,
			psa:      []domain.PSAUser{handMade(5, "A One", "a@contoso.com", ""), handMade(6, "A Two", "A@contoso.com", ""), handMade(7, "User a", "", "")},
			page:     []GraphUser{user("a", "IT", nil)},
			want: []want{{kind: Ambiguous, matchedBy: "email", mapping: 1,
				reason: `2 PSA users without an Azure object id have email "a@contoso.com" (ids 5, 6): nothing was created`}},
		},
		{
			name:     "a linked PSA user is no candidate: matched by Azure id, never by rule",
			settings: rules,
			psa:      []domain.PSAUser{imported(1, "other", 10, true)},
			page:     []GraphUser{user("a", "IT", func(u *GraphUser) { u.DisplayName = "User other"; u.OnPremisesSamAccountName = "sam-other" })},
			want:     []want{{kind: Created, matchedBy: "created", site: 10, active: true, mapping: 1}},
		},
		{
			name:     "no rule matches: created",
			settings: rules,
			psa:      []domain.PSAUser{handMade(5, "Someone", "someone@contoso.com", "sam-someone")},
			page:     []GraphUser{user("a", "IT", nil)},
			want:     []want{{kind: Created, matchedBy: "created", site: 10, active: true, mapping: 1}},
		},
		{
			name:     "empty values never match empty PSA fields",
			settings: rules,
			psa:      []domain.PSAUser{handMade(5, "Someone", "", "")},
			page:     []GraphUser{user("a", "IT", func(u *GraphUser) { u.OnPremisesSamAccountName = "" })},
			want:     []want{{kind: Created, matchedBy: "created", site: 10, active: true, mapping: 1}},
		},
		{
			name:     "two Graph users of one page fitting one PSA user: the first links, the second is created",
			settings: rules,
			psa:      []domain.PSAUser{handMade(5, "x", "shared@contoso.com", "")},
			page: []GraphUser{
				user("a", "IT", func(u *GraphUser) { u.Mail = "shared@contoso.com" }),
				user("b", "IT", func(u *GraphUser) { u.Mail = "shared@contoso.com" }),
			},
			want: []want{
				{kind: Updated, matchedBy: "email", userID: 5, site: 10, active: true, mapping: 1},
				{kind: Created, matchedBy: "created", site: 10, active: true, mapping: 1},
			},
		},
		{
			name: "a user reported twice in a page is decided at his last report",
			psa:  []domain.PSAUser{imported(1, "a", 10, true)},
			page: []GraphUser{user("a", "IT", func(u *GraphUser) { u.JobTitle = "Old" }), user("b", "IT", nil), user("a", "IT", func(u *GraphUser) { u.JobTitle = "New" })},
			want: []want{
				{kind: Created, matchedBy: "created", site: 10, active: true, mapping: 1},
				{kind: Updated, matchedBy: "azure_object_id", userID: 1, site: 10, active: true, mapping: 1, changes: []domain.Change{{Field: "job_title", Old: "Engineer", New: "New"}}},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := testPlan(t, tc.settings)
			outs, _ := round(p, Delta, tc.psa, tc.page)
			require.Len(t, outs, len(tc.want))
			for i, w := range tc.want {
				o := outs[i]
				assert.Equal(t, w.kind, o.Kind, "kind (reason %q)", o.Reason)
				assert.Equal(t, w.matchedBy, o.MatchedBy, "matched by")
				assert.Equal(t, w.userID, o.User.ID, "user id")
				assert.Equal(t, w.site, o.User.SiteID, "site")
				assert.Equal(t, w.active, o.User.Active, "active")
				assert.Equal(t, w.mapping, o.Mapping, "mapping")
				if w.mapping > 0 {
					assert.Equal(t, testSites[w.mapping-1].Filter, o.MappingFilter)
				}
				if w.reason == "" {
					assert.Empty(t, o.Reason)
				} else {
					assert.Contains(t, o.Reason, w.reason)
				}
				if w.changes != nil {
					assert.Equal(t, w.changes, append([]domain.Change{}, o.Changes...), "changes")
				}
			}
		})
	}
}

// An inactive user keeps the reason he is inactive until his state changes: an update of
// another field never clears it, a reactivation does.
func TestInactiveReasonStaysUntilTheStateChanges(t *testing.T) {
	p := testPlan(t, Settings{})
	reason := "account disabled in Microsoft (accountEnabled false)"
	disabled := imported(1, "a", 10, false)
	disabled.InactiveReason = reason
	renamed := user("a", "IT", func(u *GraphUser) { u.AccountEnabled = false; u.DisplayName = "Renamed" })
	outs, _ := round(p, Delta, []domain.PSAUser{disabled}, []GraphUser{renamed})
	require.Equal(t, Updated, outs[0].Kind)
	assert.True(t, outs[0].Writes())
	assert.False(t, outs[0].User.Active)
	assert.Equal(t, "Renamed", outs[0].User.Name)
	assert.Equal(t, reason, outs[0].User.InactiveReason, "a rename keeps the reason")

	moved := user("a", "Sales", func(u *GraphUser) { u.AccountEnabled = false })
	outs, _ = round(p, Delta, []domain.PSAUser{disabled}, []GraphUser{moved})
	require.Equal(t, Moved, outs[0].Kind)
	assert.Equal(t, reason, outs[0].User.InactiveReason, "a move keeps the reason")

	outs, _ = round(p, Delta, []domain.PSAUser{disabled}, []GraphUser{user("a", "IT", nil)})
	require.Equal(t, Reactivated, outs[0].Kind)
	assert.Empty(t, outs[0].User.InactiveReason, "an active user has no inactive reason")

	active := imported(1, "a", 10, true)
	outs, _ = round(p, Delta, []domain.PSAUser{active}, []GraphUser{renamed})
	require.Equal(t, Inactivated, outs[0].Kind)
	assert.Equal(t, reason, outs[0].User.InactiveReason)
}

func TestDecideKeepsUnmappedValues(t *testing.T) {
	p := testPlan(t, Settings{})
	psa := []domain.PSAUser{imported(1, "a", 10, true)}
	psa[0].LastSignIn = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	outs, after := round(p, Delta, psa, []GraphUser{user("a", "IT", func(u *GraphUser) { u.JobTitle = "Lead" })})
	require.Equal(t, Updated, outs[0].Kind)
	assert.Equal(t, "yes", after[0].Custom["hand_kept"], "custom fields no mapping writes are kept")
	assert.Equal(t, psa[0].LastSignIn, after[0].LastSignIn, "delta pages do not carry sign-ins")
	assert.Equal(t, "Engineer", psa[0].JobTitle, "the PSA rows given to Decide are left alone")
}

func TestFilterKeepsExcludingWhenOtherFieldsChange(t *testing.T) {
	p := testPlan(t, Settings{MatchRules: []Field{FieldEmail}})
	bob := user("bob", "Finance", nil)
	outs, psa := round(p, Delta, nil, []GraphUser{bob, user("a", "IT", nil)})
	require.Equal(t, []Kind{Excluded, Created}, []Kind{outs[0].Kind, outs[1].Kind})

	// Delta rounds report Bob with his other fields changed: still excluded, nothing written.
	for i, change := range []func(*GraphUser){
		func(u *GraphUser) { u.JobTitle = "Controller" },
		func(u *GraphUser) { u.DisplayName = "Robert"; u.Mail = "robert@contoso.com" },
		func(u *GraphUser) { u.AccountEnabled = false },
	} {
		change(&bob)
		var after []domain.PSAUser
		outs, after = round(p, Delta, psa, []GraphUser{bob})
		assert.Equal(t, Excluded, outs[0].Kind, "round %d", i)
		assert.Contains(t, outs[0].Reason, "no site mapping matches")
		assert.Equal(t, psa, after, "round %d writes nothing", i)
	}
	// Moving to IT brings him in.
	bob.Department = "IT"
	outs, _ = round(p, Delta, psa, []GraphUser{bob})
	assert.Equal(t, Created, outs[0].Kind)
}

func TestRemovedThenRestored(t *testing.T) {
	p := testPlan(t, Settings{})
	outs, psa := round(p, Delta, nil, []GraphUser{user("a", "IT", nil)})
	require.Equal(t, Created, outs[0].Kind)
	outs, psa = round(p, Delta, psa, []GraphUser{{ID: "a", Removed: &Removed{"changed"}}})
	require.Equal(t, Inactivated, outs[0].Kind)
	require.Len(t, psa, 1)
	assert.False(t, psa[0].Active)
	outs, psa = round(p, Delta, psa, []GraphUser{user("a", "IT", nil)})
	assert.Equal(t, Reactivated, outs[0].Kind)
	assert.Equal(t, int64(1000), outs[0].User.ID, "the same row comes back")
	assert.Len(t, psa, 1)
	assert.True(t, psa[0].Active)
}

func TestFilterErrorFallsToNextMapping(t *testing.T) {
	p, err := NewPlan(Config{Sites: []SiteMapping{
		{Filter: "user.businessPhones[0].startsWith('+44')", SiteID: 10},
		{Filter: "user.department == 'Nope'", SiteID: 20},
		{Filter: "user.department == 'IT'", SiteID: 30},
	}, Mappings: DefaultMappings()})
	require.NoError(t, err)
	outs, _ := round(p, Delta, nil, []GraphUser{user("a", "IT", func(u *GraphUser) { u.BusinessPhones = nil })})
	assert.Equal(t, Created, outs[0].Kind)
	assert.Equal(t, int64(30), outs[0].User.SiteID)
	assert.Equal(t, 3, outs[0].Mapping)

	outs, _ = round(p, Delta, nil, []GraphUser{user("b", "Sales", func(u *GraphUser) { u.BusinessPhones = nil })})
	assert.Equal(t, Excluded, outs[0].Kind)
	assert.Equal(t, "no site mapping matches (mapping 1: index out of bounds: 0)", outs[0].Reason)
}

func TestAbsent(t *testing.T) {
	p := testPlan(t, Settings{})
	o := p.Absent(imported(1, "a", 10, true))
	assert.Equal(t, Inactivated, o.Kind)
	assert.True(t, o.Writes())
	assert.Equal(t, "absent from a full round", o.Reason)
	assert.Equal(t, []domain.Change{{Field: "active", Old: "true", New: "false"}}, o.Changes)
	assert.Equal(t, "User a", o.User.UserValues.Name)

	o = p.Absent(imported(1, "a", 10, false))
	assert.Equal(t, Unchanged, o.Kind)
	assert.False(t, o.Writes())
}

func TestSignInPass(t *testing.T) {
	p := testPlan(t, Settings{})
	assert.Equal(t, []string{"id", "signInActivity"}, p.Select(SignIns))
	assert.Equal(t, []string{"accountEnabled", "businessPhones", "department", "displayName", "id", "jobTitle", "mail", "mobilePhone", "onPremisesSamAccountName", "userPrincipalName"}, p.Select(Delta))

	psa := []domain.PSAUser{imported(1, "a", 10, true)}
	signedIn := GraphUser{ID: "a", SignInActivity: SignInActivity{LastSignInDateTime: time.Date(2024, 6, 1, 8, 0, 0, 0, time.UTC)}}
	b := p.Prepare(SignIns, []GraphUser{signedIn, {ID: "stranger"}})
	assert.Equal(t, Lookups{AzureIDs: []string{"a", "stranger"}}, b.Lookups())
	outs := b.Decide(fetch(psa, b.Lookups()))
	require.Len(t, outs, 2)
	assert.Equal(t, Updated, outs[0].Kind)
	assert.Equal(t, []domain.Change{{Field: "last_sign_in", Old: "", New: "2024-06-01T08:00:00Z"}}, outs[0].Changes)
	assert.Equal(t, "Engineer", outs[0].User.JobTitle, "only the sign-in mappings are written")
	assert.Equal(t, Excluded, outs[1].Kind)

	after := apply(psa, outs)
	outs = p.Prepare(SignIns, []GraphUser{signedIn}).Decide(after)
	assert.Equal(t, Unchanged, outs[0].Kind)
}

func TestLookups(t *testing.T) {
	p := testPlan(t, Settings{MatchRules: []Field{FieldEmail, FieldName}})
	b := p.Prepare(Delta, []GraphUser{
		user("a", "IT", func(u *GraphUser) { u.Mail = "A@Contoso.com" }),
		user("b", "IT", func(u *GraphUser) { u.Mail = "a@contoso.com" }), // same value once
		user("c", "Finance", nil),                                   // not placed: no rule values
		user("d", "IT", func(u *GraphUser) { u.Mail = "bad mail" }), // invalid: no rule values
		{ID: "e", Removed: &Removed{"deleted"}},
	})
	assert.Equal(t, Lookups{
		AzureIDs: []string{"a", "b", "c", "d", "e"},
		ByField:  map[Field][]string{FieldEmail: {"a@contoso.com"}, FieldName: {"user a", "user b"}},
	}, b.Lookups())

	// Without matching rules only Azure ids are looked up.
	assert.Nil(t, testPlan(t, Settings{}).Prepare(Delta, []GraphUser{user("a", "IT", nil)}).Lookups().ByField)
}

func TestNewPlanRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		c    Config
		want string
	}{
		{"rule without mapping", Config{Sites: testSites, Mappings: Resolve([]FieldMapping{{FieldNetworkLogin, ""}}, nil),
			Settings: Settings{MatchRules: []Field{FieldEmail, FieldNetworkLogin}}},
			"matching rule network_login needs a field mapping to network_login: map network_login (e.g. user.onPremisesSamAccountName) or remove network_login from the matching rules"},
		{"rule on another field", Config{Mappings: DefaultMappings(), Settings: Settings{MatchRules: []Field{FieldPhone}}},
			`matching rule "phone": rules are drawn from name, email and network_login`},
		{"rule twice", Config{Mappings: DefaultMappings(), Settings: Settings{MatchRules: []Field{FieldEmail, FieldEmail}}},
			"matching rule email appears twice"},
		{"rule mapped from sign-ins", Config{Mappings: Resolve(nil, []FieldMapping{{FieldName, "string(user.signInActivity.lastSignInDateTime)"}}), Settings: Settings{MatchRules: []Field{FieldName}}},
			"matching rule name: its mapping reads a property users/delta does not carry"},
		{"bad filter", Config{Sites: []SiteMapping{{SiteID: 1}, {Filter: "user.departmnt == 'IT'", SiteID: 2}}, Mappings: DefaultMappings()},
			"site mapping 2 filter: 1:6: undefined field 'departmnt'"},
		{"mapping without site", Config{Sites: []SiteMapping{{Filter: "true"}}}, "site mapping 1 has no site"},
		{"unknown field", Config{Mappings: []FieldMapping{{"title", "user.jobTitle"}}}, `"title" is not a PSA user field`},
		{"unknown property", Config{Mappings: []FieldMapping{{FieldName, "user.fullName"}}}, "field mapping name: 1:6: undefined field 'fullName'"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewPlan(tc.c)
			assert.ErrorContains(t, err, tc.want)
		})
	}
	assert.ErrorContains(t, ValidateSiteMappings([]SiteMapping{{Filter: "user.city", SiteID: 3}}), "site mapping 1 filter: 1:1: the expression yields string, not bool")
	assert.NoError(t, ValidateSiteMappings([]SiteMapping{{SiteID: 3}}))
}

// BenchmarkDecide measures a 999-user page through Prepare, Lookups and Decide with the
// default mappings, two filtered site mappings and three matching rules.
func BenchmarkDecide(b *testing.B) {
	page, err := DecodeDeltaPage(deltaPageJSON(999, false))
	require.NoError(b, err)
	p, err := NewPlan(Config{Sites: []SiteMapping{
		{Filter: "user.department in ['IT', 'Finance'] && user.userType == 'Member'", SiteID: 10},
		{Filter: "user.companyName == 'Contoso Ltd'", SiteID: 20},
	}, Mappings: DefaultMappings(), Settings: Settings{MatchRules: []Field{FieldEmail, FieldName, FieldNetworkLogin}}})
	require.NoError(b, err)
	// Half the page is in the PSA already.
	var psa []domain.PSAUser
	for i, u := range page.Users {
		if i%2 == 0 && u.Removed == nil {
			psa = append(psa, domain.PSAUser{ID: int64(i + 1), AzureObjectID: u.ID, SiteID: 10, Active: true, UserValues: domain.UserValues{Name: u.DisplayName}})
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		batch := p.Prepare(Delta, page.Users)
		batch.Lookups()
		batch.Decide(psa)
	}
	b.ReportMetric(float64(len(page.Users)*b.N)/b.Elapsed().Seconds(), "users/s")
}

func TestChooseRound(t *testing.T) {
	sel := []string{"accountEnabled", "displayName", "id"}
	for _, tc := range []struct {
		name             string
		full             bool
		link, linkSelect string
		want             domain.RoundKind
	}{
		{"first round: no delta link", false, "", "", domain.RoundFull},
		{"a delta link made for the same $select", false, "https://graph/delta?$deltatoken=x", "accountEnabled,displayName,id", domain.RoundDelta},
		{"asked in full", true, "https://graph/delta?$deltatoken=x", "accountEnabled,displayName,id", domain.RoundFull},
		{"the mappings read another property now", false, "https://graph/delta?$deltatoken=x", "accountEnabled,id", domain.RoundFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ChooseRound(tc.full, tc.link, tc.linkSelect, sel))
		})
	}
	assert.Equal(t, "accountEnabled,displayName,id", SelectKey(sel))
}

func TestCountAndLogged(t *testing.T) {
	outs := []Outcome{{Kind: Created}, {Kind: Created}, {Kind: Unchanged}, {Kind: Inactivated}, {Kind: Excluded},
		{Kind: Ambiguous}, {Kind: Invalid}, {Kind: Moved}, {Kind: Reactivated}, {Kind: Updated}}
	assert.Equal(t, domain.RoundCounts{Users: 10, Created: 2, Updated: 1, Moved: 1, Inactivated: 1, Reactivated: 1,
		Excluded: 1, Ambiguous: 1, Invalid: 1}, Count(outs))
	unchanged, created := Outcome{Kind: Unchanged}, Outcome{Kind: Created}
	assert.True(t, unchanged.Logged(true), "a delta round logs every user it processed")
	assert.False(t, unchanged.Logged(false), "a full round logs what changed")
	assert.True(t, created.Logged(false))
}

func TestFirstMatchPlacesAsTheRoundDoes(t *testing.T) {
	sales, err := CompileFilter(`user.department == "Sales"`)
	require.NoError(t, err)
	all, err := CompileFilter("")
	require.NoError(t, err)
	for _, c := range []struct {
		dept string
		want int
	}{{"Sales", 0}, {"IT", 1}} {
		assert.Equal(t, c.want, FirstMatch([]*Filter{sales, all}, &GraphUser{Department: c.dept}), c.dept)
	}
	assert.Equal(t, -1, FirstMatch([]*Filter{sales}, &GraphUser{Department: "IT"}))
	assert.Equal(t, []string{"accountEnabled", "department", "displayName", "id"}, PreviewSelect([]*Filter{sales, all}))
}
