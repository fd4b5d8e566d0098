package usersync

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
)

func TestParseField(t *testing.T) {
	for _, ok := range []string{"name", "email", "network_login", "phone", "mobile", "job_title", "department", "last_sign_in", "custom.cost_centre", " job_title "} {
		_, err := ParseField(ok)
		assert.NoError(t, err, ok)
	}
	for _, tc := range []struct{ in, want string }{
		{"title", `"title" is not a PSA user field: fields are name, email`},
		{"emial", `did you mean email? fields are`},
		{"custom.Cost Centre", `name it custom.<name> with lower-case letters`},
		{"custom.", `name it custom.<name>`},
	} {
		_, err := ParseField(tc.in)
		assert.ErrorContains(t, err, tc.want, tc.in)
	}
}

func TestResolve(t *testing.T) {
	defaults := Resolve(nil, nil)
	assert.Equal(t, DefaultMappings(), defaults)

	partner := []FieldMapping{
		{FieldName, "user.givenName + ' ' + user.surname"},
		{FieldPhone, ""}, // the partner does not sync phones
		{"custom.employee_id", "user.employeeId"},
	}
	customer := []FieldMapping{
		{FieldName, "user.displayName"},               // this customer wants Graph's display name back
		{FieldNetworkLogin, "user.userPrincipalName"}, // cloud-only tenant
		{"custom.cost_centre", "user.department"},
	}
	got := Resolve(partner, customer)
	want := []FieldMapping{
		{FieldName, "user.displayName"},
		{FieldEmail, "user.mail != '' ? user.mail : user.userPrincipalName"},
		{FieldNetworkLogin, "user.userPrincipalName"},
		{FieldMobile, "user.mobilePhone"},
		{FieldJobTitle, "user.jobTitle"},
		{FieldDepartment, "user.department"},
		{FieldLastSignIn, "user.signInActivity.lastSignInDateTime"},
		{"custom.cost_centre", "user.department"},
		{"custom.employee_id", "user.employeeId"},
	}
	assert.Equal(t, want, got)
	assert.Equal(t, "user.givenName + ' ' + user.surname", Resolve(partner, nil)[0].Expr)
	assert.NoError(t, ValidateMappings(got))
}

func TestValidateMappings(t *testing.T) {
	assert.NoError(t, ValidateMappings(DefaultMappings()))
	assert.NoError(t, ValidateMappings([]FieldMapping{{FieldPhone, ""}, {"custom.site_code", "user.officeLocation.substring(0, 3)"}}))
	for _, tc := range []struct {
		name string
		ms   []FieldMapping
		want string
	}{
		{"unknown field", []FieldMapping{{"title", "user.jobTitle"}}, `"title" is not a PSA user field`},
		{"unknown field unmapped", []FieldMapping{{"title", ""}}, `"title" is not a PSA user field`},
		{"unknown property", []FieldMapping{{FieldJobTitle, "user.title"}}, "field mapping job_title: 1:6: undefined field 'title'"},
		{"not a string", []FieldMapping{{FieldName, "user.accountEnabled"}}, "yields bool, not string\n | user.accountEnabled\n | ^\nfix: a field mapping must yield a string, e.g. user.jobTitle or string(user.accountEnabled)"},
		{"last sign-in not a timestamp", []FieldMapping{{FieldLastSignIn, "user.displayName"}}, "fix: last_sign_in must yield a timestamp"},
		{"twice", []FieldMapping{{FieldName, "user.displayName"}, {FieldName, "user.givenName"}}, "field mapping name appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.ErrorContains(t, ValidateMappings(tc.ms), tc.want)
		})
	}
}

// mapped evaluates the resolved mappings of a plan for u, as a delta page would.
func mapped(t *testing.T, u GraphUser, ms []FieldMapping, src Source) domain.UserValues {
	t.Helper()
	p, err := NewPlan(Config{Sites: []SiteMapping{{SiteID: 1}}, Mappings: ms})
	require.NoError(t, err)
	b := p.Prepare(src, []GraphUser{u})
	return b.items[0].values
}

func TestDefaultMappings(t *testing.T) {
	v := mapped(t, alice(), DefaultMappings(), Delta)
	assert.Equal(t, domain.UserValues{Name: "Alice Smith", Email: "Alice.Smith@contoso.com", NetworkLogin: "asmith",
		Phone: "+1 425 555 0100", Mobile: "+1 425 555 0199", JobTitle: "Engineer", Department: "IT"}, v,
		"delta pages leave last_sign_in to the sign-in pass")

	signIns := mapped(t, alice(), DefaultMappings(), SignIns)
	assert.Equal(t, domain.UserValues{LastSignIn: time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)}, signIns)

	// A user without mail, phones or sign-ins: email falls back to the UPN, phone's
	// businessPhones[0] fails and yields "", a null sign-in date yields no date.
	bare := GraphUser{ID: "x", DisplayName: "Scanner", UserPrincipalName: "scanner@contoso.onmicrosoft.com"}
	v = mapped(t, bare, DefaultMappings(), Delta)
	assert.Equal(t, domain.UserValues{Name: "Scanner", Email: "scanner@contoso.onmicrosoft.com"}, v)
	assert.True(t, mapped(t, bare, DefaultMappings(), SignIns).LastSignIn.IsZero())

	custom := mapped(t, alice(), Resolve(nil, []FieldMapping{{"custom.cost_centre", "user.department + '-' + user.country.substring(0, 3)"}}), Delta)
	assert.Equal(t, map[string]string{"cost_centre": "IT-Uni"}, custom.Custom)
}

func TestPSARules(t *testing.T) {
	long := alice()
	long.JobTitle = strings.Repeat("é", 129)
	fits := alice()
	fits.JobTitle = strings.Repeat("é", 128) // characters, not bytes
	badMail := alice()
	badMail.Mail = "Alice Smith <alice@contoso.com>"
	noAt := alice()
	noAt.Mail = "alice.contoso.com"
	longCustom := alice()
	longCustom.Department = strings.Repeat("x", 1025)
	ms := Resolve(nil, []FieldMapping{{"custom.dept", "user.department"}, {FieldDepartment, ""}})
	for _, tc := range []struct {
		name string
		u    GraphUser
		want string
	}{
		{"valid", alice(), ""},
		{"128 characters fit", fits, ""},
		{"over-long job title", long, "job_title is 129 characters long, the PSA allows 128: shorten it in Microsoft or map job_title to a shorter value, e.g. size(user.jobTitle) > 128 ? (user.jobTitle).substring(0, 128) : (user.jobTitle)"},
		{"email with a display name", badMail, `email "Alice Smith <alice@contoso.com>" is not a valid address: correct the user's mail in Microsoft`},
		{"email without @", noAt, `email "alice.contoso.com" is not a valid address`},
		{"over-long custom field", longCustom, "custom.dept is 1025 characters long, the PSA allows 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := NewPlan(Config{Sites: []SiteMapping{{SiteID: 1}}, Mappings: ms})
			require.NoError(t, err)
			got := p.Prepare(Delta, []GraphUser{tc.u}).items[0].invalid
			if tc.want == "" {
				assert.Empty(t, got)
			} else {
				assert.True(t, strings.HasPrefix(got, tc.want), got)
			}
		})
	}
}

// TestNeverSignedInIsNoDate: Graph reports a user who never signed in (and dates it does not
// know) as "0001-01-01T00:00:00Z" with an empty request id, and some documented answers carry
// "" or null: each maps last_sign_in to no date, never to the year 1.
func TestNeverSignedInIsNoDate(t *testing.T) {
	for _, date := range []string{`"0001-01-01T00:00:00Z"`, `""`, `null`} {
		page := `{"value":[{"id":"u1","displayName":"Never","signInActivity":{"lastSignInDateTime":` + date +
			`,"lastSignInRequestId":"","lastNonInteractiveSignInDateTime":"0001-01-01T00:00:00Z","lastNonInteractiveSignInRequestId":"",` +
			`"lastSuccessfulSignInDateTime":"","lastSuccessfulSignInRequestId":""}},` +
			`{"id":"u2","signInActivity":{"lastSignInDateTime":"2021-06-17T16:41:33Z","lastSignInRequestId":"d4d31c40-4c36-4775-ad59-7d1e6a171f00"}}]}`
		p, err := DecodeListPage([]byte(page))
		require.NoError(t, err, date)
		never := mapped(t, p.Users[0], DefaultMappings(), SignIns)
		assert.True(t, never.LastSignIn.IsZero(), "%s: %v", date, never.LastSignIn)
		assert.Equal(t, "", get(&never, FieldLastSignIn), date)
		assert.Equal(t, time.Date(2021, 6, 17, 16, 41, 33, 0, time.UTC), mapped(t, p.Users[1], DefaultMappings(), SignIns).LastSignIn)
	}
	p, err := DecodeListPage([]byte(`{"value":[{"id":"u1","signInActivity":{"lastSignInDateTime":"yesterday"}}]}`))
	require.NoError(t, err)
	assert.Contains(t, p.Users[0].Unreadable, "lastSignInDateTime", "a date that is none makes its user unreadable, not the page")
}
