package usersync

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
)

func planWith(t *testing.T, ms ...FieldMapping) *Plan {
	t.Helper()
	p, err := NewPlan(Config{Sites: testSites, Mappings: Resolve(nil, ms)})
	require.NoError(t, err)
	return p
}

// A mapping that fails for a user (substring past the end, an index out of range) leaves his
// field as it was, never "", and says so in his log entry and the round's counts; users it
// works for are mapped.
func TestMappingErrorLeavesTheFieldAsItWas(t *testing.T) {
	p := planWith(t, FieldMapping{FieldJobTitle, "user.jobTitle.substring(0, 20)"},
		FieldMapping{Field("custom.second_phone"), "user.businessPhones[1]"})
	psa := []domain.PSAUser{imported(1, "a", 10, true), imported(2, "b", 10, true)}
	psa[0].Custom["second_phone"] = "+1 425 555 0199"
	long := "A title longer than twenty characters"
	outs, after := round(p, Delta, psa, []GraphUser{
		user("a", "IT", func(u *GraphUser) { u.JobTitle = "Principal Engineer" }),
		user("b", "IT", func(u *GraphUser) { u.JobTitle = long; u.BusinessPhones = []string{"1", "2"} }),
		user("c", "IT", nil),
	})
	require.Len(t, outs, 3)

	a := outs[0]
	assert.Equal(t, Unchanged, a.Kind, "nothing to write: both failing fields keep their values")
	assert.Equal(t, "Engineer", a.User.JobTitle)
	assert.Equal(t, "+1 425 555 0199", a.User.Custom["second_phone"])
	assert.Contains(t, a.MappingErrors, "field mapping job_title (user.jobTitle.substring(0, 20)) failed")
	assert.Contains(t, a.MappingErrors, "field mapping custom.second_phone (user.businessPhones[1]) failed")
	assert.Contains(t, a.MappingErrors, "left as it was")
	assert.True(t, a.Logged(false), "a full round logs the failure though nothing changed")
	assert.Equal(t, a.MappingErrors, a.LogReason())

	b := outs[1]
	assert.Equal(t, Updated, b.Kind)
	assert.Empty(t, b.MappingErrors)
	assert.Equal(t, long[:20], b.User.JobTitle)
	assert.Equal(t, "2", b.User.Custom["second_phone"])

	c := outs[2]
	assert.Equal(t, Created, c.Kind, "a new user is created with the fields that failed empty")
	assert.Empty(t, c.User.JobTitle)
	assert.NotEmpty(t, c.MappingErrors)

	counts := Count(outs)
	assert.Equal(t, 2, counts.MappingErrors)
	assert.Equal(t, 3, counts.Users)
	for _, u := range after {
		if u.AzureObjectID == "a" {
			assert.Equal(t, "Engineer", u.JobTitle, "what is written keeps the value")
		}
	}
}

// The default mappings fail for no user: a user without phones gets no phone and no error.
func TestDefaultMappingsFailForNoUser(t *testing.T) {
	p := planWith(t)
	outs, _ := round(p, Delta, nil, []GraphUser{user("a", "IT", func(u *GraphUser) {
		u.BusinessPhones, u.Mail, u.OnPremisesSamAccountName = nil, "", ""
	})})
	require.Len(t, outs, 1)
	assert.Equal(t, Created, outs[0].Kind)
	assert.Empty(t, outs[0].MappingErrors)
	assert.Empty(t, outs[0].User.Phone)
	assert.Equal(t, "a@contoso.onmicrosoft.com", outs[0].User.Email)
}

// Every fix an invalid user's reason suggests works when applied: the over-long value's
// mapping cuts long values and keeps short ones (substring alone would fail for them), the
// email's takes the user principal name.
func TestSuggestedFixesWork(t *testing.T) {
	// department is left out: it places the test's users in sites.
	for _, f := range []Field{FieldName, FieldJobTitle, FieldNetworkLogin, FieldMobile} {
		t.Run(string(f), func(t *testing.T) {
			limit := MaxLen(f)
			tooLong := strings.Repeat("é", limit+5)
			set := func(u *GraphUser, s string) {
				switch f {
				case FieldName:
					u.DisplayName = s
				case FieldJobTitle:
					u.JobTitle = s
				case FieldNetworkLogin:
					u.OnPremisesSamAccountName = s
				case FieldMobile:
					u.MobilePhone = s
				}
			}
			outs, _ := round(planWith(t), Delta, nil, []GraphUser{user("long", "IT", func(u *GraphUser) { set(u, tooLong) })})
			require.Equal(t, Invalid, outs[0].Kind)
			_, fix, ok := strings.Cut(outs[0].Reason, "e.g. ")
			require.True(t, ok, outs[0].Reason)

			fixed := planWith(t, FieldMapping{f, fix})
			outs, _ = round(fixed, Delta, nil, []GraphUser{
				user("long", "IT", func(u *GraphUser) { set(u, tooLong) }),
				user("short", "IT", func(u *GraphUser) { set(u, "Short") }),
			})
			require.Len(t, outs, 2)
			for _, o := range outs {
				assert.Equal(t, Created, o.Kind, o.Reason)
				assert.Empty(t, o.MappingErrors)
			}
			assert.Equal(t, limit, utf8.RuneCountInString(get(&outs[0].User.UserValues, f)))
			assert.Equal(t, "Short", get(&outs[1].User.UserValues, f))
		})
	}
	t.Run("email", func(t *testing.T) {
		bad := func(u *GraphUser) { u.Mail = "not an address" }
		outs, _ := round(planWith(t), Delta, nil, []GraphUser{user("a", "IT", bad)})
		require.Equal(t, Invalid, outs[0].Kind)
		_, fix, ok := strings.Cut(outs[0].Reason, "e.g. ")
		require.True(t, ok, outs[0].Reason)
		outs, _ = round(planWith(t, FieldMapping{FieldEmail, fix}), Delta, nil, []GraphUser{user("a", "IT", bad)})
		assert.Equal(t, Created, outs[0].Kind, outs[0].Reason)
		assert.Equal(t, "a@contoso.onmicrosoft.com", outs[0].User.Email)
	})
}
