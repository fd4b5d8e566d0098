package usersync

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func alice() GraphUser {
	return GraphUser{
		ID: "6e1a0c52-8f3e-4a8e-9d3c-2b1e0f4a5c01", DisplayName: "Alice Smith", GivenName: "Alice", Surname: "Smith",
		UserPrincipalName: "alice@contoso.onmicrosoft.com", Mail: "Alice.Smith@contoso.com",
		ProxyAddresses: []string{"SMTP:Alice.Smith@contoso.com", "smtp:alice@contoso.onmicrosoft.com"},
		JobTitle:       "Engineer", Department: "IT", CompanyName: "Contoso", OfficeLocation: "Building 1",
		BusinessPhones: []string{"+1 425 555 0100"}, MobilePhone: "+1 425 555 0199",
		OnPremisesSamAccountName: "asmith", OnPremisesSyncEnabled: true, AccountEnabled: true, UserType: "Member",
		UsageLocation: "US", Country: "United States", CreatedDateTime: time.Date(2021, 3, 4, 10, 0, 0, 0, time.UTC),
		AssignedLicenses: []AssignedLicense{{"c7df2760-2c81-4ef7-b578-5b5392b571df"}},
		SignInActivity:   SignInActivity{LastSignInDateTime: time.Date(2024, 5, 1, 9, 30, 0, 0, time.UTC)},
	}
}

func TestFilterMatch(t *testing.T) {
	a := alice()
	noPhones := alice()
	noPhones.BusinessPhones = nil
	guest := alice()
	guest.UserType, guest.Department, guest.OnPremisesSyncEnabled = "Guest", "", false
	for _, tc := range []struct {
		filter string
		user   GraphUser
		want   bool
	}{
		{"", a, true},
		{"  ", a, true},
		{"user.department == 'IT'", a, true},
		{"user.department == 'Sales'", a, false},
		{"user.department in ['IT', 'Operations'] && user.accountEnabled", a, true},
		{"user.userType != 'Guest'", guest, false},
		{"user.mail.lowerAscii().endsWith('@contoso.com')", a, true},
		{"user.onPremisesSyncEnabled", a, true},
		{"user.onPremisesSyncEnabled", guest, false},
		{"size(user.businessPhones) == 0", noPhones, true},
		{"user.proxyAddresses.exists(p, p.startsWith('SMTP:') && p.endsWith('@contoso.com'))", a, true},
		{"user.assignedLicenses.exists(l, l.skuId == 'c7df2760-2c81-4ef7-b578-5b5392b571df')", a, true},
		{"user.createdDateTime < timestamp('2022-01-01T00:00:00Z')", a, true},
		{"user.department == ''", guest, true},
		{"user.companyName == 'Contoso' &&\n  user.officeLocation.startsWith('Building')", a, true},
	} {
		f, err := CompileFilter(tc.filter)
		require.NoError(t, err, tc.filter)
		got, err := f.Match(&tc.user)
		require.NoError(t, err, tc.filter)
		assert.Equal(t, tc.want, got, tc.filter)
	}
}

func TestFilterRuntimeErrorIsNoMatch(t *testing.T) {
	f, err := CompileFilter("user.businessPhones[0].startsWith('+44')")
	require.NoError(t, err)
	u := alice()
	u.BusinessPhones = nil
	ok, err := f.Match(&u)
	assert.False(t, ok)
	assert.ErrorContains(t, err, "index out of bounds")
}

func TestFilterRefusals(t *testing.T) {
	for _, tc := range []struct {
		name, filter string
		line, column int
		message, fix string
	}{
		{"unknown property", "user.departmen == 'IT'", 1, 6, "undefined field 'departmen'", "did you mean user.department? properties are user.accountEnabled (bool)"},
		{"unknown nested property", "user.signInActivity.lastSignIn != null", 1, 21, "undefined field 'lastSignIn'", "did you mean user.signInActivity.lastSignInDateTime?"},
		{"property without user", "department == 'IT'", 1, 1, "undeclared reference to 'department'", "read properties through user, e.g. user.department"},
		{"type error", "user.department == 'IT' &&\n  user.accountEnabled == 'yes'", 2, 23, "found no matching overload for '_==_' applied to '(bool, string)'", "user.accountEnabled (bool)"},
		{"not a bool", "user.department", 1, 1, "the expression yields string, not bool", "a filter must yield true or false"},
		{"syntax", "user.department == 'IT' && (", 1, 29, "Syntax error", "check quotes and parentheses"},
		{"list-only property", "user.accountEnabled &&\n  user.signInActivity.lastSignInDateTime > timestamp('2024-01-01T00:00:00Z')", 2, 8, "user.signInActivity is read by list users only", "filters run on delta pages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := CompileFilter(tc.filter)
			var ee *ExprError
			require.True(t, errors.As(err, &ee), "%v", err)
			assert.Equal(t, tc.line, ee.Line)
			assert.Equal(t, tc.column, ee.Column)
			assert.Contains(t, ee.Message, tc.message)
			assert.Contains(t, ee.Fix, tc.fix)
			// The message shows the line and a caret under the position.
			lines := strings.Split(err.Error(), "\n")
			require.GreaterOrEqual(t, len(lines), 3, err.Error())
			assert.Equal(t, " | "+strings.Split(tc.filter, "\n")[tc.line-1], lines[1])
			assert.Equal(t, " | "+strings.Repeat(".", tc.column-1)+"^", lines[2])
		})
	}
}

// CEL's limits on the whole expression name no position: none is shown
// (not -1:0), and the fix is about nesting, not the list of properties.
func TestFilterBeyondCELsNestingLimitHasAFixAndNoFalsePosition(t *testing.T) {
	for _, filter := range []string{
		strings.Repeat("(", 300) + "user.department == 'Sales'" + strings.Repeat(")", 300),
		strings.Repeat("[", 300) + strings.Repeat("]", 300) + " == []",
	} {
		_, err := CompileFilter(filter)
		var ee *ExprError
		require.True(t, errors.As(err, &ee), "%v", err)
		assert.Zero(t, ee.Line)
		assert.Zero(t, ee.Column)
		assert.Equal(t, "expression recursion limit exceeded: 250\nfix: "+ee.Fix, err.Error())
		assert.Contains(t, ee.Fix, "nest less deeply")
		assert.NotContains(t, ee.Fix, "properties are")
	}
	_, err := CompileFilter("user.department in ['Sales', 'Support']")
	assert.NoError(t, err, "the fix's example works")
}

func TestCompileIsCached(t *testing.T) {
	a, err := CompileFilter("user.city == 'Leeds'")
	require.NoError(t, err)
	b, err := CompileFilter("user.city == 'Leeds'")
	require.NoError(t, err)
	assert.Same(t, a.expr, b.expr)
	// The same text compiled for another result type is another entry.
	_, err = compile("user.city == 'Leeds'", cel.StringType, "yield a string")
	assert.ErrorContains(t, err, "yields bool, not string")
}

func TestSelectFor(t *testing.T) {
	f, err := CompileFilter("user.department == 'IT' || user.assignedLicenses.size() > 0")
	require.NoError(t, err)
	email, err := compileMapping(FieldMapping{FieldEmail, "user.mail != '' ? user.mail : user.userPrincipalName"})
	require.NoError(t, err)
	signIn, err := compileMapping(FieldMapping{FieldLastSignIn, "user.signInActivity.lastSignInDateTime"})
	require.NoError(t, err)

	assert.Equal(t, []string{"accountEnabled", "assignedLicenses", "department", "id", "mail", "userPrincipalName"},
		SelectFor(Delta, f.expr, email.expr, signIn.expr))
	assert.Equal(t, []string{"id", "signInActivity"}, SelectFor(SignIns, f.expr, email.expr, signIn.expr))
	assert.Nil(t, SelectFor(SignIns, f.expr, email.expr), "no sign-in pass without a mapping reading signInActivity")

	// An expression using user whole reads every property.
	whole, err := CompileFilter("[user].size() == 1")
	require.NoError(t, err)
	assert.Contains(t, SelectFor(Delta, whole.expr), "streetAddress")
}
