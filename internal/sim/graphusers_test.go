package sim

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"
)

// cspsyncProps are the user properties cspsync may map into the PSA.
var cspsyncProps = []string{
	"id", "displayName", "givenName", "surname", "userPrincipalName", "mail", "otherMails", "proxyAddresses",
	"jobTitle", "department", "companyName", "officeLocation", "employeeId", "businessPhones", "mobilePhone",
	"onPremisesSamAccountName", "onPremisesSyncEnabled", "onPremisesImmutableId", "accountEnabled", "userType",
	"usageLocation", "assignedLicenses", "createdDateTime", "city", "country", "streetAddress", "postalCode",
	"state", "preferredLanguage", "employeeType",
}

// usersScenario has one DAP tenant of n users with Entra ID P1 (signInActivity readable).
func usersScenario(n int) Scenario {
	sc := Generate(GenerateOptions{Seed: 42, Tenants: 1, UsersPerTenant: n})
	sc.Tenants[0].PremiumLicence = true
	return sc
}

func get(t *testing.T, hc *http.Client, u, token string, hdr map[string]string) (usersPage, graphErr, *http.Response) {
	t.Helper()
	var p usersPage
	var e graphErr
	var raw json.RawMessage
	resp := call(t, hc, http.MethodGet, u, token, nil, hdr, &raw)
	if resp.StatusCode == 200 {
		json.Unmarshal(raw, &p)
	} else {
		json.Unmarshal(raw, &e)
	}
	return p, e, resp
}

func TestUserSelectAcceptsCspsyncProperties(t *testing.T) {
	sc := usersScenario(60)
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, sc.Tenants[0].ID)

	p, e, resp := get(t, hc, s.URL()+"/v1.0/users?$top=999&$select="+strings.Join(cspsyncProps, ","), token, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("$select of cspsync's properties: %d %+v", resp.StatusCode, e)
	}
	if len(p.Value) != 60 || p.Context != s.URL()+"/v1.0/$metadata#users("+strings.Join(cspsyncProps, ",")+")" {
		t.Fatalf("%d users, context %s", len(p.Value), p.Context)
	}
	for _, u := range p.Value {
		if len(u) != len(cspsyncProps) {
			t.Fatalf("user has %d properties, want every selected one (null when unset): %v", len(u), u)
		}
		for _, k := range []string{"businessPhones", "otherMails", "proxyAddresses", "assignedLicenses"} {
			if _, ok := u[k].([]any); !ok {
				t.Errorf("%s is %#v, want a collection (never null)", k, u[k])
			}
		}
		if u["userType"] != "Member" && u["userType"] != "Guest" || u["createdDateTime"] == "" {
			t.Errorf("user %v", u)
		}
	}
	// Case-insensitive names; without id in $select, Graph adds it all the same.
	p, _, _ = get(t, hc, s.URL()+"/v1.0/users?$select=DEPARTMENT,onpremisessamaccountname", token, nil)
	if _, hasID := p.Value[0]["id"]; !hasID || len(p.Value[0]) != 3 || !strings.HasSuffix(p.Context, "users(department,onPremisesSamAccountName)") {
		t.Errorf("case-insensitive $select: %v %s", p.Value[0], p.Context)
	}
	// No $select: Graph's eleven default properties.
	p, _, _ = get(t, hc, s.URL()+"/v1.0/users", token, nil)
	if len(p.Value[0]) != 11 || p.Value[0]["department"] != nil {
		t.Errorf("default properties: %v", p.Value[0])
	}
	_, e, resp = get(t, hc, s.URL()+"/v1.0/users?$select=id,shoeSize", token, nil)
	if resp.StatusCode != 400 || e.Error.Code != "BadRequest" || e.Error.Message != "Could not find a property named 'shoeSize' on type 'microsoft.graph.user'." {
		t.Errorf("unknown property: %d %+v", resp.StatusCode, e)
	}
	// A single user by UPN, with $select.
	upn := sc.Tenants[0].Users[0].UserPrincipalName
	var one map[string]any
	call(t, hc, http.MethodGet, s.URL()+"/v1.0/users/"+url.PathEscape(upn)+"?$select=id,department", token, nil, nil, &one)
	if one["id"] != sc.Tenants[0].Users[0].ID || one["department"] != "IT" || one["@odata.context"] != s.URL()+"/v1.0/$metadata#users(id,department)/$entity" {
		t.Errorf("get user: %v", one)
	}
}

func TestGeneratedUsersAreRealistic(t *testing.T) {
	opts := GenerateOptions{Seed: 8, Tenants: 12, UsersPerTenant: 300}
	sc := Generate(opts)
	if !reflect.DeepEqual(sc, Generate(opts)) {
		t.Fatal("generation is not deterministic")
	}
	if err := sc.validate(); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, tn := range sc.Tenants {
		if len(tn.Groups) == 0 || len(tn.DirectoryRoles) != 3 || !strings.Contains(strings.Join(tn.Users[0].MemberOf, ","), tn.DirectoryRoles[0].ID) {
			t.Errorf("tenant %s: groups %d roles %d; admin memberOf %v", tn.Name, len(tn.Groups), len(tn.DirectoryRoles), tn.Users[0].MemberOf)
		}
		for _, u := range tn.Users {
			local, _, _ := strings.Cut(u.UserPrincipalName, "@")
			switch {
			case strings.Contains(u.UserPrincipalName, "#EXT#@"):
				if u.UserType != "Guest" || u.Mail == "" || len(u.AssignedSkuIDs) > 0 {
					t.Errorf("guest %+v", u)
				}
				count["guest"]++
			case strings.HasPrefix(local, "svc-"):
				count["service"]++
			case strings.HasPrefix(local, "scanner") || strings.HasPrefix(local, "copier"):
				count["device"]++
			case strings.HasPrefix(local, "room."):
				count["room"]++
			case !u.AccountEnabled && u.GivenName == "":
				count["shared"]++
			}
			if u.GivenName != "" && u.UserType == "Member" && (u.Department == "" || u.BusinessPhone == "" || u.EmployeeID == "" || u.City == "") {
				t.Errorf("employee without a profile: %+v", u)
			}
			if !u.AccountEnabled {
				count["disabled"]++
			}
			if len(u.AssignedSkuIDs) == 0 {
				count["unlicensed"]++
			}
			if u.OnPremisesSamAccountName != "" {
				count["synced"]++
			}
		}
	}
	for _, k := range []string{"guest", "service", "device", "room", "shared", "disabled", "unlicensed", "synced"} {
		if count[k] == 0 {
			t.Errorf("no %s accounts among %d users: %v", k, 12*300, count)
		}
	}
}

func TestListUsersPaging(t *testing.T) {
	sc := usersScenario(530)
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, sc.Tenants[0].ID)

	var ids []string
	next := s.URL() + "/v1.0/users?$select=id,displayName&$top=150"
	pages := 0
	for ; next != ""; pages++ {
		p, e, resp := get(t, hc, next, token, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %+v", next, resp.StatusCode, e)
		}
		for _, u := range p.Value {
			ids = append(ids, u["id"].(string))
		}
		if next = p.NextLink; next != "" && !strings.HasPrefix(next, s.URL()+"/v1.0/users?") {
			t.Fatalf("nextLink not absolute on the serving host: %s", next)
		}
	}
	if len(ids) != 530 || pages != 4 || ids[0] != sc.Tenants[0].Users[0].ID {
		t.Errorf("listed %d users in %d pages", len(ids), pages)
	}
	p, _, _ := get(t, hc, s.URL()+"/v1.0/users?$select=id", token, nil)
	if len(p.Value) != 100 {
		t.Errorf("default page: %d users", len(p.Value))
	}
	// signInActivity caps pages at 500 users whatever $top says.
	p, _, _ = get(t, hc, s.URL()+"/v1.0/users?$select=id,signInActivity&$top=999", token, nil)
	if len(p.Value) != 500 || p.NextLink == "" {
		t.Errorf("signInActivity page: %d users", len(p.Value))
	}
	for _, top := range []string{"0", "1000", "x"} {
		if _, e, resp := get(t, hc, s.URL()+"/v1.0/users?$top="+top, token, nil); resp.StatusCode != 400 || e.Error.Code != "Request_BadRequest" {
			t.Errorf("$top=%s: %d %+v", top, resp.StatusCode, e)
		}
	}
}

func TestSignInActivity(t *testing.T) {
	sc := usersScenario(20)
	tn := &sc.Tenants[0]
	at := func(s string) *time.Time { v, _ := time.Parse(time.RFC3339, s); return &v }
	tn.Users[1].LastSignIn, tn.Users[1].LastNonInteractiveSignIn = nil, nil                        // never signed in
	tn.Users[2].LastSignIn, tn.Users[2].LastNonInteractiveSignIn = at("2019-11-02T08:00:00Z"), nil // before April 2020
	tn.Users[3].LastSignIn, tn.Users[3].LastNonInteractiveSignIn = at("2023-06-01T08:00:00Z"), nil // before lastSuccessful existed
	tn.Users[4].LastSignIn, tn.Users[4].LastNonInteractiveSignIn = nil, at("2025-05-30T07:00:00Z") // only non-interactive
	tn.Users[5].LastSignIn, tn.Users[5].LastNonInteractiveSignIn = at("2025-05-01T10:00:00Z"), at("2025-05-20T10:00:00Z")
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)

	// id comes whether or not it is selected.
	p, e, resp := get(t, hc, s.URL()+"/v1.0/users?$select=displayName,signInActivity", token, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
	byID := map[string]map[string]any{}
	for _, u := range p.Value {
		byID[u["id"].(string)] = u
	}
	if len(byID) != len(tn.Users) {
		t.Fatalf("%d users with an id, want %d", len(byID), len(tn.Users))
	}
	act := func(i int) map[string]any { return byID[tn.Users[i].ID]["signInActivity"].(map[string]any) }
	// A date Graph does not have is the year-1 date with an empty request id.
	none := func(a map[string]any, kinds ...string) bool {
		for _, k := range kinds {
			if a["last"+k+"DateTime"] != "0001-01-01T00:00:00Z" || a["last"+k+"RequestId"] != "" {
				return false
			}
		}
		return true
	}
	for i := 1; i <= 2; i++ { // never, or before April 2020
		if a := act(i); len(a) != 6 || !none(a, "SignIn", "NonInteractiveSignIn", "SuccessfulSignIn") {
			t.Errorf("user %d: signInActivity %v, want every date the year 1", i, a)
		}
	}
	if a := act(3); a["lastSignInDateTime"] != "2023-06-01T08:00:00Z" || !none(a, "NonInteractiveSignIn", "SuccessfulSignIn") || a["lastSignInRequestId"] == "" {
		t.Errorf("2023 sign-in: %v", a)
	}
	if a := act(4); !none(a, "SignIn") || a["lastNonInteractiveSignInDateTime"] != "2025-05-30T07:00:00Z" || a["lastSuccessfulSignInDateTime"] != "2025-05-30T07:00:00Z" {
		t.Errorf("non-interactive only: %v", a)
	}
	if a := act(5); len(a) != 6 || a["lastSuccessfulSignInDateTime"] != "2025-05-20T10:00:00Z" {
		t.Errorf("both kinds: %v", a)
	}
	for _, u := range p.Value {
		for k, v := range u["signInActivity"].(map[string]any) {
			if v == nil || strings.HasSuffix(k, "DateTime") && v == "" {
				t.Errorf("%s is %v; Graph sends a date, the year-1 one when it has none", k, v)
			}
		}
	}
	tn2 := usersScenario(3)
	tn2.Tenants[0].PremiumLicence = false
	s2, hc2 := startSim(t, tn2, Options{})
	_, e, resp = get(t, hc2, s2.URL()+"/v1.0/users?$select=id,signInActivity", appToken(t, hc2, s2, tn2.Tenants[0].ID), nil)
	if resp.StatusCode != 403 || e.Error.Code != "Authentication_RequestFromNonPremiumTenantOrB2CTenant" {
		t.Errorf("without premium: %d %+v", resp.StatusCode, e)
	}
}

func TestListUsersFilter(t *testing.T) {
	sc := usersScenario(200)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)
	eventual := map[string]string{"ConsistencyLevel": "eventual"}
	want := func(pred func(u TenantUser) bool) int {
		n := 0
		for _, u := range tn.Users {
			if pred(u) {
				n++
			}
		}
		return n
	}
	list := func(filter string, hdr map[string]string, extra string) ([]map[string]any, usersPage, graphErr, int) {
		t.Helper()
		p, e, resp := get(t, hc, s.URL()+"/v1.0/users?$top=999&$select=id&$filter="+url.QueryEscape(filter)+extra, token, hdr)
		return p.Value, p, e, resp.StatusCode
	}
	dept := tn.Users[0].Department
	for filter, pred := range map[string]func(u TenantUser) bool{
		"accountEnabled eq false":                       func(u TenantUser) bool { return !u.AccountEnabled },
		"userType eq 'Guest'":                           func(u TenantUser) bool { return u.UserType == "Guest" },
		"department eq '" + strings.ToUpper(dept) + "'": func(u TenantUser) bool { return u.Department == dept },
		"startswith(displayName,'a') or startsWith(userPrincipalName, 'svc-')": func(u TenantUser) bool {
			return strings.HasPrefix(strings.ToLower(u.DisplayName), "a") || strings.HasPrefix(u.UserPrincipalName, "svc-")
		},
		"usageLocation eq 'GB' and (jobTitle eq 'Developer' or jobTitle eq 'Accountant')": func(u TenantUser) bool {
			return u.UsageLocation == "GB" && (u.JobTitle == "Developer" || u.JobTitle == "Accountant")
		},
		"usageLocation in ('DE','NL')":                   func(u TenantUser) bool { return u.UsageLocation == "DE" || u.UsageLocation == "NL" },
		"mail eq '" + tn.Users[5].Mail + "'":             func(u TenantUser) bool { return strings.EqualFold(u.Mail, tn.Users[5].Mail) },
		"employeeId eq '" + tn.Users[0].EmployeeID + "'": func(u TenantUser) bool { return u.EmployeeID == tn.Users[0].EmployeeID },
	} {
		got, _, e, status := list(filter, nil, "")
		if status != 200 || len(got) != want(pred) || len(got) == 0 {
			t.Errorf("%s: %d users (want %d), %d %+v", filter, len(got), want(pred), status, e)
		}
	}
	// Advanced queries: ne, not and companyName need ConsistencyLevel: eventual and $count=true.
	for _, filter := range []string{"accountEnabled ne true", "companyName eq '" + tn.Name + "'", "not(userType eq 'Member')"} {
		if _, _, e, status := list(filter, nil, ""); status != 400 || e.Error.Code != "Request_UnsupportedQuery" || !strings.Contains(e.Error.Message, "ConsistencyLevel:eventual") {
			t.Errorf("%s without advanced query parameters: %d %+v", filter, status, e)
		}
	}
	got, p, e, status := list("accountEnabled ne true", eventual, "&$count=true")
	if n := want(func(u TenantUser) bool { return !u.AccountEnabled }); status != 200 || len(got) != n || p.Count == nil || *p.Count != n {
		t.Errorf("advanced ne: %d users, count %v, %d %+v", len(got), p.Count, status, e)
	}
	for filter, code := range map[string]string{
		"startswith(jobTitle,'Dev')":    "Request_UnsupportedQuery", // jobTitle has no startsWith
		"shoeSize eq '42'":              "Request_UnsupportedQuery",
		"accountEnabled eq 'yes'":       "Request_UnsupportedQuery",
		"displayName eq 'Adele":         "BadRequest",
		"displayName eq 'a' and":        "BadRequest",
		"displayName lt 'b'":            "BadRequest",
		"department eq 'Sales' foo bar": "BadRequest",
	} {
		if _, _, e, status := list(filter, eventual, "&$count=true"); status != 400 || e.Error.Code != code {
			t.Errorf("%s: %d %+v, want 400 %s", filter, status, e, code)
		}
	}
	// id in (…) reads users by id, at most 15 of them a request.
	var quoted []string
	for _, u := range tn.Users[:16] {
		quoted = append(quoted, "'"+u.ID+"'")
	}
	got, _, e, status = list("id in ("+strings.Join(quoted[:15], ",")+")", nil, "")
	if status != 200 || len(got) != 15 || got[14]["id"] != tn.Users[14].ID {
		t.Errorf("id in 15 ids: %d users, %d %+v", len(got), status, e)
	}
	if _, _, e, status := list("id in ("+strings.Join(quoted, ",")+")", nil, ""); status != 400 || e.Error.Code != "Request_UnsupportedQuery" || !strings.Contains(e.Error.Message, "Max allowed: 15") {
		t.Errorf("id in 16 ids: %d %+v", status, e)
	}
	// $filter elsewhere is refused rather than ignored.
	if _, e, resp := get(t, hc, s.URL()+"/v1.0/subscribedSkus?$filter=skuId%20eq%20'x'", token, nil); resp.StatusCode != 400 || e.Error.Code != "Request_UnsupportedQuery" {
		t.Errorf("$filter on subscribedSkus: %d %+v", resp.StatusCode, e)
	}
}

func TestMemberOf(t *testing.T) {
	sc := usersScenario(30)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)
	admin := tn.Users[0]

	p, e, resp := get(t, hc, s.URL()+"/v1.0/users/"+admin.ID+"/memberOf", token, nil)
	if resp.StatusCode != 200 || len(p.Value) != len(admin.MemberOf) || p.Context != s.URL()+"/v1.0/$metadata#directoryObjects" {
		t.Fatalf("memberOf: %d %+v %v", resp.StatusCode, e, p)
	}
	types := map[string]int{}
	for _, m := range p.Value {
		types[m["@odata.type"].(string)]++
		if m["@odata.type"] == "#microsoft.graph.directoryRole" && m["roleTemplateId"] != "62e90394-69f5-4237-9190-012177145e10" {
			t.Errorf("role %v", m)
		}
	}
	if types["#microsoft.graph.group"] != 2 || types["#microsoft.graph.directoryRole"] != 1 {
		t.Errorf("types %v", types)
	}
	p, _, _ = get(t, hc, s.URL()+"/v1.0/users/"+url.PathEscape(admin.UserPrincipalName)+"/memberOf?$select=id,displayName&$top=2", token, nil)
	if len(p.Value) != 2 || len(p.Value[0]) != 3 || p.NextLink == "" {
		t.Fatalf("paged $select: %v", p)
	}
	p, _, _ = get(t, hc, p.NextLink, token, nil)
	if len(p.Value) != 1 || p.NextLink != "" {
		t.Errorf("second page: %v", p)
	}
	if _, e, resp := get(t, hc, s.URL()+"/v1.0/users/"+admin.ID+"/memberOf?$select=shoeSize", token, nil); resp.StatusCode != 400 || e.Error.Code != "BadRequest" {
		t.Errorf("unknown property: %d %+v", resp.StatusCode, e)
	}
	if _, _, resp := get(t, hc, s.URL()+"/v1.0/users/00000000-0000-4000-8000-000000000000/memberOf", token, nil); resp.StatusCode != 404 {
		t.Errorf("unknown user: %d", resp.StatusCode)
	}
}

func TestJSONStringEscaping(t *testing.T) {
	for _, s := range []string{"plain", `quote " and \ backslash`, "tab\tnewline\n\x01", "Zoë & <Bäcker>"} {
		var back string
		if err := json.Unmarshal(appendJSONString(nil, s), &back); err != nil || back != s {
			t.Errorf("%q encoded as %s: %v", s, appendJSONString(nil, s), err)
		}
	}
	if !json.Valid(appendJSONString(nil, "\xff not UTF-8")) {
		t.Error("invalid UTF-8 produced invalid JSON")
	}
}
