package sim

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Graph user objects are written straight into a byte buffer from a property table: pages of
// up to 999 users are the simulator's hot path, and per-user maps through encoding/json cost
// several times more than the clients decoding them.

// userProp is one selectable property of microsoft.graph.user. value appends its JSON value
// and reports false for null, which delta responses leave out (Graph omits properties that
// were never set).
type userProp struct {
	name  string
	value func(b []byte, u *dirUser) ([]byte, bool)
	// listOnly properties cannot be tracked by users/delta.
	listOnly bool
}

func strProp(name string, get func(u *dirUser) string) userProp {
	return userProp{name: name, value: func(b []byte, u *dirUser) ([]byte, bool) {
		v := get(u)
		if v == "" {
			return b, false
		}
		return appendJSONString(b, v), true
	}}
}

func strListProp(name string, get func(u *dirUser) []string) userProp {
	return userProp{name: name, value: func(b []byte, u *dirUser) ([]byte, bool) {
		return appendStringList(b, get(u)), true
	}}
}

// userProps lists what the simulator serves; the first eleven are Graph's default set, in the
// order Graph returns them.
var userProps = []userProp{
	{name: "businessPhones", value: func(b []byte, u *dirUser) ([]byte, bool) {
		if u.BusinessPhone == "" {
			return append(b, "[]"...), true
		}
		return append(appendJSONString(append(b, '['), u.BusinessPhone), ']'), true
	}},
	strProp("displayName", func(u *dirUser) string { return u.DisplayName }),
	strProp("givenName", func(u *dirUser) string { return u.GivenName }),
	strProp("jobTitle", func(u *dirUser) string { return u.JobTitle }),
	strProp("mail", func(u *dirUser) string { return u.Mail }),
	strProp("mobilePhone", func(u *dirUser) string { return u.MobilePhone }),
	strProp("officeLocation", func(u *dirUser) string { return u.OfficeLocation }),
	strProp("preferredLanguage", func(u *dirUser) string { return u.PreferredLanguage }),
	strProp("surname", func(u *dirUser) string { return u.Surname }),
	strProp("userPrincipalName", func(u *dirUser) string { return u.UserPrincipalName }),
	strProp("id", func(u *dirUser) string { return u.ID }),

	{name: "accountEnabled", value: func(b []byte, u *dirUser) ([]byte, bool) {
		return strconv.AppendBool(b, u.AccountEnabled), true
	}},
	{name: "assignedLicenses", value: func(b []byte, u *dirUser) ([]byte, bool) {
		b = append(b, '[')
		for i, id := range u.AssignedSkuIDs {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"disabledPlans":[],"skuId":`...)
			b = appendJSONString(b, id)
			b = append(b, '}')
		}
		return append(b, ']'), true
	}},
	strProp("city", func(u *dirUser) string { return u.City }),
	strProp("companyName", func(u *dirUser) string { return u.CompanyName }),
	strProp("country", func(u *dirUser) string { return u.Country }),
	{name: "createdDateTime", value: func(b []byte, u *dirUser) ([]byte, bool) {
		return appendJSONTime(b, u.CreatedDateTime), true
	}},
	{name: "creationType", value: func(b []byte, u *dirUser) ([]byte, bool) {
		if u.UserType != "Guest" {
			return b, false
		}
		return append(b, `"Invitation"`...), true
	}},
	strProp("department", func(u *dirUser) string { return u.Department }),
	strProp("employeeId", func(u *dirUser) string { return u.EmployeeID }),
	strProp("employeeType", func(u *dirUser) string { return u.EmployeeType }),
	strProp("mailNickname", func(u *dirUser) string {
		nick, _, _ := strings.Cut(u.UserPrincipalName, "@")
		return nick
	}),
	strProp("onPremisesImmutableId", func(u *dirUser) string { return u.OnPremisesImmutableID }),
	strProp("onPremisesSamAccountName", func(u *dirUser) string { return u.OnPremisesSamAccountName }),
	{name: "onPremisesSyncEnabled", value: func(b []byte, u *dirUser) ([]byte, bool) {
		if u.OnPremisesSyncEnabled == nil {
			return b, false
		}
		return strconv.AppendBool(b, *u.OnPremisesSyncEnabled), true
	}},
	strListProp("otherMails", func(u *dirUser) []string { return u.OtherMails }),
	strProp("postalCode", func(u *dirUser) string { return u.PostalCode }),
	strListProp("proxyAddresses", func(u *dirUser) []string { return u.ProxyAddresses }),
	{name: "signInActivity", listOnly: true, value: appendSignInActivity},
	strProp("state", func(u *dirUser) string { return u.State }),
	strProp("streetAddress", func(u *dirUser) string { return u.StreetAddress }),
	strProp("usageLocation", func(u *dirUser) string { return u.UsageLocation }),
	{name: "userType", value: func(b []byte, u *dirUser) ([]byte, bool) {
		if u.UserType == "" {
			return append(b, `"Member"`...), true
		}
		return appendJSONString(b, u.UserType), true
	}},
}

const defaultUserPropCount = 11

// userPropIndex maps lower-case property names to userProps indexes ($select is
// case-insensitive in Graph).
var userPropIndex = func() map[string]int {
	m := make(map[string]int, len(userProps))
	for i, p := range userProps {
		m[strings.ToLower(p.name)] = i
	}
	return m
}()

var (
	// signInDataSince: Entra ID keeps sign-in activity since April 2020; an older sign-in is
	// reported as none.
	signInDataSince = time.Date(2020, time.April, 1, 0, 0, 0, 0, time.UTC)
	// successfulSignInSince: lastSuccessfulSignInDateTime exists since December 2023 and was
	// not backfilled.
	successfulSignInSince = time.Date(2023, time.December, 1, 0, 0, 0, 0, time.UTC)
)

// noSignIn is how Graph writes a sign-in date it does not have (a user who never signed in):
// the year-1 date, with an empty request id. Never "" for a date, which the Graph SDK cannot
// parse.
const noSignIn = "0001-01-01T00:00:00Z"

// appendSignInActivity writes a user's signInActivity, every date and request id present.
func appendSignInActivity(b []byte, u *dirUser) ([]byte, bool) {
	known := func(t *time.Time) *time.Time {
		if t == nil || t.Before(signInDataSince) {
			return nil
		}
		return t
	}
	interactive, nonInteractive := known(u.LastSignIn), known(u.LastNonInteractiveSignIn)
	successful := latest(interactive, nonInteractive)
	if successful != nil && successful.Before(successfulSignInSince) {
		successful = nil
	}
	b = append(b, '{')
	for i, f := range []struct {
		name string
		at   *time.Time
	}{{"lastSignIn", interactive}, {"lastNonInteractiveSignIn", nonInteractive}, {"lastSuccessfulSignIn", successful}} {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, f.name...)
		b = append(b, `DateTime":`...)
		if f.at == nil {
			b = append(b, `"`+noSignIn+`","`...)
			b = append(b, f.name...)
			b = append(b, `RequestId":""`...)
			continue
		}
		b = appendJSONTime(b, *f.at)
		b = append(b, `,"`...)
		b = append(b, f.name...)
		b = append(b, `RequestId":`...)
		b = appendJSONString(b, derivedUUID("sign-in", u.ID, f.at.UTC().Format(time.RFC3339)))
	}
	return append(b, '}'), true
}

func latest(a, b *time.Time) *time.Time {
	if a == nil || b != nil && b.After(*a) {
		return b
	}
	return a
}

// userForm is how appendUser writes a user.
type userForm uint8

const (
	entityForm userForm = iota // list and get: null properties written as null, id always
	deltaForm                  // users/delta: id always, null properties left out
	// updateForm is users/delta's updated user under Prefer: return=minimal, props being
	// those changed since the round's token: id always, and a property cleared is written
	// null, or clients could not tell.
	updateForm
	// selectedForm is users/delta's updated user by default: every selected property, a
	// property without a value written null when it had one before (it changed at runtime)
	// and left out when it was never set.
	selectedForm
)

// appendUser writes u projected onto props (indexes into userProps) in form f.
func appendUser(b []byte, u *dirUser, props []int, f userForm) []byte {
	b = append(b, '{')
	first, hasID := true, false
	for _, i := range props {
		p := &userProps[i]
		hasID = hasID || p.name == "id"
		mark := len(b)
		if !first {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, p.name...)
		b = append(b, `":`...)
		var ok bool
		if b, ok = p.value(b, u); !ok {
			if f == deltaForm || f == selectedForm && !u.everChanged(i) {
				b = b[:mark]
				continue
			}
			b = append(b, "null"...)
		}
		first = false
	}
	if !hasID { // Graph returns a directory object's id whether or not it is selected
		if !first {
			b = append(b, ',')
		}
		b = append(b, `"id":`...)
		b = appendJSONString(b, u.ID)
	}
	return append(b, '}')
}

// appendRemoved writes a delta tombstone: reason "changed" for a soft-deleted user (restorable
// from deleted items), "deleted" for a permanently deleted one.
func appendRemoved(b []byte, u *dirUser) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, u.ID)
	if u.purged {
		return append(b, `,"@removed":{"reason":"deleted"}}`...)
	}
	return append(b, `,"@removed":{"reason":"changed"}}`...)
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, "2006-01-02T15:04:05Z")
	return append(b, '"')
}

func appendStringList(b []byte, vs []string) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, v)
	}
	return append(b, ']')
}

// appendJSONString quotes s as JSON, escaping only what JSON requires (quote, backslash,
// control characters); text that is not valid UTF-8 goes through encoding/json.
func appendJSONString(b []byte, s string) []byte {
	if !utf8.ValidString(s) {
		raw, _ := json.Marshal(s)
		return append(b, raw...)
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, `\u00`...)
			b = append(b, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
