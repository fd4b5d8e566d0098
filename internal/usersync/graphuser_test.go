package usersync

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/text"
)

const graphBase = "https://graph.microsoft.com/v1.0"

// deltaPageJSON builds a users/delta page as Graph writes it for a $select of the properties
// the default mappings and typical filters read: employees with full profiles, some with
// nulls (never-set properties are left out in delta pages), and every 50th user removed.
func deltaPageJSON(n int, last bool) []byte {
	var b strings.Builder
	b.WriteString(`{"@odata.context":"` + graphBase + `/$metadata#users(id,accountEnabled,businessPhones,department,displayName,jobTitle,mail,mobilePhone,onPremisesSamAccountName,userPrincipalName,companyName,officeLocation,employeeId,usageLocation,assignedLicenses,createdDateTime,userType,proxyAddresses)",`)
	if last {
		b.WriteString(`"@odata.deltaLink":"` + graphBase + `/users/delta?$deltatoken=oEcOySpF_hWYmTIUZBOIfPzcwisr_rPe8o9M54L45qEXQGmvQC6T2dbL-9O7nSU-njKhFiGlAZqewNAThmCVnNxqPu5gOBegrm1CaVZ-ZtFZ2tPOAO98OD9y0ao460",`)
	}
	b.WriteString(`"value":[`)
	departments := []string{"Sales", "IT", "Finance", "Operations", "Human Resources"}
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		id := fmt.Sprintf("%08x-5de7-4406-bb2a-7e5c83c9%04x", i*7919, i)
		if i%50 == 49 {
			reason := "changed"
			if i%100 == 99 {
				reason = "deleted"
			}
			fmt.Fprintf(&b, `{"id":%q,"@removed":{"reason":%q}}`, id, reason)
			continue
		}
		first, last := fmt.Sprintf("Given%d", i), fmt.Sprintf("Surname%d", i)
		upn := strings.ToLower(first+"."+last) + "@contoso.onmicrosoft.com"
		fmt.Fprintf(&b, `{"businessPhones":["+1 425 555 %04d"],"displayName":"%s %s","givenName":%q,"jobTitle":"Account Manager","mail":"%s","mobilePhone":null,"officeLocation":"Building %d/%d","preferredLanguage":"en-US","surname":%q,"userPrincipalName":%q,"id":%q,"accountEnabled":%t,`,
			i%10000, first, last, first, strings.Replace(upn, ".onmicrosoft.com", ".com", 1), i%40, 1000+i%300, last, upn, id, i%17 != 0)
		fmt.Fprintf(&b, `"assignedLicenses":[{"disabledPlans":[],"skuId":"c7df2760-2c81-4ef7-b578-5b5392b571df"},{"disabledPlans":["efb87545-963c-4e0d-99df-69c6916d9eb0"],"skuId":"f30db892-07e9-47e9-837c-80727f46fd3d"}],"companyName":"Contoso Ltd","createdDateTime":"2021-0%d-1%dT08:%02d:13Z","department":%q,"employeeId":"E%06d","onPremisesSamAccountName":"%s","proxyAddresses":["SMTP:%s","smtp:%s"],"usageLocation":"US","userType":"Member"}`,
			1+i%9, i%10, i%60, departments[i%len(departments)], i, strings.ToLower(first), upn, strings.Replace(upn, "contoso", "contoso-old", 1))
	}
	b.WriteString(`]`)
	if !last {
		b.WriteString(`,"@odata.nextLink":"` + graphBase + `/users/delta?$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1LecfkkfLPtnIjsXoYQp_dpA3cNJWc"`)
	}
	b.WriteString(`}`)
	return []byte(b.String())
}

func TestDecodeDeltaPage(t *testing.T) {
	page, err := DecodeDeltaPage(deltaPageJSON(100, false))
	require.NoError(t, err)
	assert.Len(t, page.Users, 100)
	assert.Equal(t, graphBase+"/users/delta?$skiptoken=pqwSUjGYvb3jQpbwVAwEL7yuI3dU1LecfkkfLPtnIjsXoYQp_dpA3cNJWc", page.NextLink)
	assert.Empty(t, page.DeltaLink)

	u := page.Users[1]
	assert.Equal(t, "00001eef-5de7-4406-bb2a-7e5c83c90001", u.ID)
	assert.Equal(t, "Given1 Surname1", u.DisplayName)
	assert.Equal(t, "given1.surname1@contoso.com", u.Mail)
	assert.Equal(t, []string{"+1 425 555 0001"}, u.BusinessPhones)
	assert.Empty(t, u.MobilePhone, "null decodes to empty")
	assert.True(t, u.AccountEnabled)
	assert.Equal(t, "IT", u.Department)
	assert.Equal(t, "given1", u.OnPremisesSamAccountName)
	assert.Equal(t, []AssignedLicense{{"c7df2760-2c81-4ef7-b578-5b5392b571df"}, {"f30db892-07e9-47e9-837c-80727f46fd3d"}}, u.AssignedLicenses)
	assert.Equal(t, time.Date(2021, 2, 11, 8, 1, 13, 0, time.UTC), u.CreatedDateTime)
	assert.Nil(t, u.Removed)
	assert.False(t, page.Users[0].AccountEnabled)

	assert.Equal(t, &Removed{Reason: "changed"}, page.Users[49].Removed)
	assert.Equal(t, &Removed{Reason: "deleted"}, page.Users[99].Removed)
	assert.Equal(t, "0005ebbf-5de7-4406-bb2a-7e5c83c90031", page.Users[49].ID)

	last, err := DecodeDeltaPage(deltaPageJSON(3, true))
	require.NoError(t, err)
	assert.Len(t, last.Users, 3)
	assert.Empty(t, last.NextLink)
	assert.Contains(t, last.DeltaLink, "/users/delta?$deltatoken=")

	empty, err := DecodeDeltaPage([]byte(`{"@odata.context":"x","value":[],"@odata.deltaLink":"https://graph.microsoft.com/v1.0/users/delta?$deltatoken=abc"}`))
	require.NoError(t, err)
	assert.Empty(t, empty.Users)

	// A null signInActivity date (never signed in) stays zero.
	withSignIn, err := DecodeDeltaPage([]byte(`{"value":[{"id":"a","signInActivity":{"lastSignInDateTime":"2024-05-01T10:00:00Z","lastNonInteractiveSignInDateTime":null,"lastSuccessfulSignInDateTime":null}}],"@odata.nextLink":"n"}`))
	require.NoError(t, err)
	assert.Equal(t, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), withSignIn.Users[0].SignInActivity.LastSignInDateTime)
	assert.True(t, withSignIn.Users[0].SignInActivity.LastSuccessfulSignInDateTime.IsZero())
}

func TestDecodeDeltaPageRefusals(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"not JSON", `<html>`, "users delta page: invalid character"},
		{"Graph error", `{"error":{"code":"syncStateNotFound","message":"The sync state is not found."}}`, "Graph error: syncStateNotFound: The sync state is not found."},
		{"no link", `{"value":[{"id":"a"}]}`, "neither @odata.nextLink nor @odata.deltaLink"},
		{"no value", `{"@odata.deltaLink":"d"}`, "has no value array"},
		{"value not an array", `{"value":{"id":"a"},"@odata.nextLink":"n"}`, "users delta page: json: cannot unmarshal object"},
		{"link not a string", `{"value":[],"@odata.nextLink":5}`, "users delta page: json: cannot unmarshal number"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeDeltaPage([]byte(tc.body))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// One user Graph sends unreadable (a property of the wrong type, no id, an id that is no GUID,
// no object at all) fails only himself: he is Unreadable with the reason, the others are read
// as usual, with what they carried noted.
func TestOneUnreadableUserFailsOnlyHimself(t *testing.T) {
	const a, b = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
	good := func(id string) string {
		return `{"id":"` + id + `","displayName":"Good ` + id[len(id)-1:] + `","accountEnabled":true}`
	}
	for _, tc := range []struct{ name, user, id, want string }{
		{"accountEnabled a string", `{"id":"00000000-0000-0000-0000-00000000000c","accountEnabled":"yes","displayName":"Odd"}`,
			"00000000-0000-0000-0000-00000000000c", "accountEnabled of type bool"},
		{"a number for a name", `{"id":"00000000-0000-0000-0000-00000000000c","displayName":42}`, "00000000-0000-0000-0000-00000000000c", "displayName of type string"},
		{"a list that is a string", `{"id":"00000000-0000-0000-0000-00000000000c","businessPhones":"+1 555"}`, "00000000-0000-0000-0000-00000000000c", "businessPhones of type []string"},
		{"an id that is a number", `{"id":12,"displayName":"Odd"}`, "", "id of type string"},
		{"no id", `{"displayName":"Odd"}`, "", "without an id"},
		{"null", `null`, "", "no JSON object"},
		{"not an object", `"someone"`, "", "cannot unmarshal string"},
		{"an id that is no GUID", `{"id":"../../etc","displayName":"Odd"}`, "", `id as "../../etc", which is no GUID`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, decode := range []func([]byte) (Page, error){DecodeDeltaPage, DecodeListPage} {
				p, err := decode([]byte(`{"value":[` + good(a) + `,` + tc.user + `,` + good(b) + `],"@odata.nextLink":"n"}`))
				require.NoError(t, err)
				RefuseOddIDs(p.Users)
				require.Len(t, p.Users, 3)
				for i, id := range []string{a, b} {
					u := p.Users[i*2]
					assert.Empty(t, u.Unreadable)
					assert.Equal(t, GraphUser{ID: id, DisplayName: "Good " + id[len(id)-1:], AccountEnabled: true}, withoutPresence(u))
					enabled, known := u.accountState()
					assert.True(t, enabled && known, "what he carried is noted")
					assert.Empty(t, p.Partial([]string{"displayName", "accountEnabled"}), "no one to read again")
				}
				odd := p.Users[1]
				assert.Equal(t, tc.id, odd.ID)
				assert.Contains(t, odd.Unreadable, "user 2 of the page could not be read: ")
				assert.Contains(t, odd.Unreadable, tc.want)

				// Decided, he is invalid with that reason, and nothing of him is written.
				plan, err := NewPlan(Config{Sites: []SiteMapping{{SiteID: 1}}, Mappings: DefaultMappings()})
				require.NoError(t, err)
				batch := plan.Prepare(Delta, p.Users)
				assert.NotContains(t, batch.Lookups().AzureIDs, "", "no empty id is looked up")
				outs := batch.Decide(nil)
				require.Len(t, outs, 3)
				assert.Equal(t, []Kind{Created, Invalid, Created}, []Kind{outs[0].Kind, outs[1].Kind, outs[2].Kind})
				assert.Equal(t, odd.Unreadable, outs[1].Reason)
				assert.False(t, outs[1].Writes())
			}
		})
	}
}

func TestDecodeListPage(t *testing.T) {
	last, err := DecodeListPage([]byte(`{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#users(id,signInActivity)","value":[{"id":"a","signInActivity":{"lastSignInDateTime":"2024-05-01T10:00:00Z","lastSignInRequestId":"r","lastNonInteractiveSignInDateTime":null,"lastNonInteractiveSignInRequestId":null,"lastSuccessfulSignInDateTime":null,"lastSuccessfulSignInRequestId":null}},{"id":"b"}]}`))
	require.NoError(t, err)
	assert.Len(t, last.Users, 2)
	assert.Empty(t, last.NextLink+last.DeltaLink)
	assert.Equal(t, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), last.Users[0].SignInActivity.LastSignInDateTime)
	_, err = DecodeListPage([]byte(`{"error":{"code":"Authentication_RequestFromNonPremiumTenantOrB2CTenant","message":"Neither tenant is B2C or tenant doesn't have premium license"}}`))
	assert.ErrorContains(t, err, "users page is a Graph error: Authentication_RequestFromNonPremiumTenantOrB2CTenant")
}

// BenchmarkDecodeDeltaPage decodes Graph's default (200) and largest (999) delta pages.
func BenchmarkDecodeDeltaPage(b *testing.B) {
	for _, n := range []int{200, 999} {
		body := deltaPageJSON(n, false)
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeDeltaPage(body); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "users/s")
		})
	}
}

func TestPartialUsers(t *testing.T) {
	body := []byte(`{"@odata.context":"x","value":[
		{"id":"whole","displayName":"A \"quoted\" \\ name","department":"Sales","jobTitle":"department","mobilePhone":null,"accountEnabled":true,
			"assignedLicenses":[{"disabledPlans":[],"skuId":"s"}]},
		{"id":"partial","department":"IT"},
		{"department" : "IT", "id":"spaced", "displayName":"B", "jobTitle":null, "accountEnabled":false, "mobilePhone":"1"},
		{"id":"gone","@removed":{"reason":"changed"}},
		{"id":"partial","jobTitle":"Boss"},
		{"id":"nested","assignedLicenses":[{"skuId":"s","displayName":"x","department":"y","jobTitle":"z","mobilePhone":"m","accountEnabled":true}]}
	],"@odata.deltaLink":"d"}`)
	page, err := DecodeDeltaPage(body)
	require.NoError(t, err)
	assert.Equal(t, `A "quoted" \ name`, page.Users[0].DisplayName)
	props := []string{"accountEnabled", "department", "displayName", "id", "jobTitle", "mobilePhone"}
	assert.Equal(t, []string{"partial", "nested"}, page.Partial(props), "null counts as sent; removed users and nested keys do not count")
	assert.Empty(t, page.Partial([]string{"id"}))
	assert.Equal(t, []string{"whole", "partial", "spaced", "nested"}, page.Partial([]string{"id", "city"}))

	// The users read again replace the partial ones; one Graph no longer returns is removed.
	page.Complete([]string{"partial", "nested"}, []GraphUser{{ID: "partial", DisplayName: "P", Department: "IT", JobTitle: "Boss", AccountEnabled: true}})
	assert.Equal(t, GraphUser{ID: "partial", DisplayName: "P", Department: "IT", JobTitle: "Boss", AccountEnabled: true}, page.Users[1])
	assert.Equal(t, page.Users[1], page.Users[4])
	assert.Equal(t, GraphUser{ID: "nested", Removed: &Removed{Reason: GoneWhenReadAgain}}, page.Users[5])
	assert.Equal(t, "whole", page.Users[0].ID)
	assert.Equal(t, &Removed{Reason: "changed"}, page.Users[3].Removed)
}

// BenchmarkMarkPresent is the presence pass alone, the part of DecodeDeltaPage that tells a
// partial user.
func BenchmarkMarkPresent(b *testing.B) {
	body := deltaPageJSON(999, false)
	page, err := DecodeDeltaPage(body)
	require.NoError(b, err)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		markPresent(body, page.Users)
	}
}

// Every text value of a decoded Graph user is clean and bounded, whichever property carries it:
// the test walks GraphUser's fields, so a property added later cannot skip the cleaning.
func TestDecodeCleansEveryText(t *testing.T) {
	dirty := "Jos\u00e9\u0301 \u0000\u001b]0;title\u0007\u202eevil\u009b\u007f\r\n\u6f22\u5b57"
	big := strings.Repeat("x", 1<<20)
	var props []string
	walk := reflect.TypeFor[GraphUser]()
	for i := range walk.NumField() {
		f := walk.Field(i)
		name := f.Tag.Get("json")
		switch {
		case name == "id" || name == "" || name == "-":
		case f.Type.Kind() == reflect.String:
			props = append(props, fmt.Sprintf("%q:%s", name, js(dirty)))
		case f.Type == reflect.TypeFor[[]string]():
			props = append(props, fmt.Sprintf("%q:[%s,%s]", name, js(dirty), js(big)))
		}
	}
	body := `{"@odata.deltaLink":"x","value":[{"id":"u1","displayName":` + js(big) + `,"assignedLicenses":[{"skuId":` + js(dirty) + `}],` +
		strings.Join(props[1:], ",") + `},{"id":"u2\u0000","@removed":{"reason":` + js(dirty) + `}}]}`
	p, err := DecodeDeltaPage([]byte(body))
	require.NoError(t, err)
	require.Len(t, p.Users, 2)
	var check func(path string, v reflect.Value)
	check = func(path string, v reflect.Value) {
		t.Helper()
		switch v.Kind() {
		case reflect.String:
			s := v.String()
			assert.Equal(t, text.Clean(s, len(s)), s, path)
			assert.LessOrEqual(t, len(s), MaxValue, path)
			assert.False(t, strings.ContainsAny(s, "\x00\x1b\u202e\u009b\x7f\r\n\a"), path)
		case reflect.Slice:
			for i := range v.Len() {
				check(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.Struct:
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					check(path+"."+v.Type().Field(i).Name, v.Field(i))
				}
			}
		case reflect.Pointer:
			if !v.IsNil() {
				check(path, v.Elem())
			}
		}
	}
	for i := range p.Users {
		check(fmt.Sprintf("user %d", i), reflect.ValueOf(p.Users[i]))
	}
	u := p.Users[0]
	assert.Equal(t, "Jos\u00e9\u0301 ]0;titleevil \u6f22\u5b57", u.JobTitle, "letters and combining marks stay, controls go")
	assert.Equal(t, "u2", p.Users[1].ID)
	assert.Greater(t, len([]rune(u.DisplayName)), 1024, "a value cut short is still too long for every PSA field")
}

func js(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}
