package sim

import (
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestListUsersSearchOrderbyExpand(t *testing.T) {
	sc := usersScenario(60)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)
	eventual := map[string]string{"ConsistencyLevel": "eventual"}
	users := func(query string, hdr map[string]string) ([]map[string]any, usersPage, graphErr, int) {
		t.Helper()
		p, e, resp := get(t, hc, s.URL()+"/v1.0/users?"+query, token, hdr)
		all := p.Value
		for next := p.NextLink; resp.StatusCode == 200 && next != ""; {
			more, _, _ := get(t, hc, next, token, hdr)
			all, next = append(all, more.Value...), more.NextLink
		}
		return all, p, e, resp.StatusCode
	}
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v.Encode()
	}

	// $search needs ConsistencyLevel: eventual, and then finds by displayName tokens (a
	// surname's start, in any case).
	first, second := tn.Users[1], tn.Users[2]
	word := strings.ToLower(first.Surname[:3])
	_, _, e, status := users(q("$search", `"displayName:`+word+`"`), nil)
	if status != 400 || e.Error.Code != "Request_UnsupportedQuery" || !strings.Contains(e.Error.Message, "ConsistencyLevel: eventual") {
		t.Errorf("$search without ConsistencyLevel: %d %+v", status, e)
	}
	got, p, _, status := users(q("$search", `"displayName:`+word+`"`, "$select", "displayName", "$count", "true"), eventual)
	if status != 200 || len(got) == 0 || p.Count == nil || *p.Count != len(got) {
		t.Fatalf("$search %s: %d, %d users, count %v", word, status, len(got), p.Count)
	}
	for _, u := range got {
		if !tokensMatch(searchTokens(u["displayName"].(string)), []string{word}) {
			t.Errorf("$search displayName:%s found %v", word, u)
		}
	}
	if !slices.ContainsFunc(got, func(u map[string]any) bool { return u["id"] == first.ID }) {
		t.Errorf("$search displayName:%s missed %s", word, first.DisplayName)
	}
	// Other properties match by their start; clauses combine with OR and AND.
	got, _, _, _ = users(q("$search", `"mail:`+strings.ToUpper(second.Mail[:6])+`" OR "displayName:`+word+`"`, "$select", "id"), eventual)
	if !slices.ContainsFunc(got, func(u map[string]any) bool { return u["id"] == first.ID }) || !slices.ContainsFunc(got, func(u map[string]any) bool { return u["id"] == second.ID }) {
		t.Errorf("$search with OR: %v", got)
	}
	if _, _, e, status := users(q("$search", `displayName:`+word), eventual); status != 400 || e.Error.Code != "Request_UnsupportedQuery" {
		t.Errorf("unquoted $search: %d %+v", status, e)
	}
	if tokens := searchTokens("HelloWorld hello.world x123y"); !slices.Equal(tokens, []string{"hello", "world", "hello", "world", "helloworld", "x", "123", "y"}) {
		t.Errorf("tokens: %v", tokens)
	}

	// $orderby displayName works by default, descending too; createdDateTime, or sorting a
	// filtered list, needs the advanced query parameters.
	got, _, _, status = users(q("$orderby", "displayName desc", "$select", "displayName", "$top", "25"), nil)
	names := make([]string, len(got))
	for i, u := range got {
		names[i] = strings.ToLower(u["displayName"].(string))
	}
	if status != 200 || len(got) != len(tn.Users) || !slices.IsSortedFunc(names, func(a, b string) int { return strings.Compare(b, a) }) {
		t.Errorf("$orderby displayName desc over pages: %d %v", status, names)
	}
	for _, query := range []string{q("$orderby", "createdDateTime"), q("$orderby", "displayName", "$filter", "accountEnabled eq true"), q("$orderby", "jobTitle")} {
		if _, _, e, status := users(query, nil); status != 400 || e.Error.Code != "Request_UnsupportedQuery" || e.Error.Message != "Sorting not supported for current query." {
			t.Errorf("%s: %d %+v", query, status, e)
		}
	}
	if _, _, _, status := users(q("$orderby", "createdDateTime", "$count", "true"), eventual); status != 200 {
		t.Errorf("$orderby createdDateTime in an advanced query: %d", status)
	}

	// $expand=memberOf on list and get; not a navigation property, or an advanced query: refused.
	member := find(tn.Users, func(u TenantUser) bool { return len(u.MemberOf) > 0 })
	got, _, _, _ = users(q("$filter", "id eq '"+member.ID+"'", "$expand", "memberOf", "$select", "id"), nil)
	if len(got) != 1 || len(got[0]["memberOf"].([]any)) != len(member.MemberOf) {
		t.Errorf("$expand=memberOf: %v", got)
	}
	var one map[string]any
	if resp := call(t, hc, "GET", s.URL()+"/v1.0/users/"+member.ID+"?$expand=memberOf", token, nil, nil, &one); resp.StatusCode != 200 || len(one["memberOf"].([]any)) != len(member.MemberOf) {
		t.Errorf("get user with $expand: %d %v", resp.StatusCode, one)
	}
	for _, c := range []struct {
		query, code string
		hdr         map[string]string
	}{
		{q("$expand", "department"), "BadRequest", nil},
		{q("$expand", "nothing"), "BadRequest", nil},
		{q("$expand", "memberOf", "$count", "true"), "Request_UnsupportedQuery", eventual},
	} {
		if _, _, e, status := users(c.query, c.hdr); status != 400 || e.Error.Code != c.code {
			t.Errorf("%s: %d %+v", c.query, status, e)
		}
	}
	// users/delta takes none of them.
	for _, opt := range []string{"$search=%22displayName:a%22", "$orderby=displayName", "$expand=memberOf"} {
		if _, e, resp := get(t, hc, s.URL()+"/v1.0/users/delta?"+opt, token, eventual); resp.StatusCode != 400 || e.Error.Code != "Request_UnsupportedQuery" {
			t.Errorf("users/delta %s: %d %+v", opt, resp.StatusCode, e)
		}
	}
}

func TestOrganizationByID(t *testing.T) {
	sc := usersScenario(5)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)
	var list struct {
		Value []map[string]any `json:"value"`
	}
	if resp := call(t, hc, "GET", s.URL()+"/v1.0/organization", token, nil, nil, &list); resp.StatusCode != 200 || len(list.Value) != 1 {
		t.Fatalf("list: %d %v", resp.StatusCode, list)
	}
	var one map[string]any
	if resp := call(t, hc, "GET", s.URL()+"/v1.0/organization/"+tn.ID, token, nil, nil, &one); resp.StatusCode != 200 {
		t.Fatalf("get: %d", resp.StatusCode)
	}
	if one["@odata.context"] != s.URL()+"/v1.0/$metadata#organization/$entity" || one["id"] != tn.ID || one["displayName"] != tn.Name {
		t.Errorf("organization: %v", one)
	}
	delete(one, "@odata.context")
	for k := range list.Value[0] {
		if _, ok := one[k]; !ok {
			t.Errorf("get lacks %s", k)
		}
	}
	var e graphErr
	if resp := call(t, hc, "GET", s.URL()+"/v1.0/organization/"+sc.PartnerTenantID, token, nil, nil, &e); resp.StatusCode != 404 || e.Error.Code != "Request_ResourceNotFound" {
		t.Errorf("another tenant's organization: %d %+v", resp.StatusCode, e)
	}
}

// find returns the first user that fits, or the zero user.
func find(users []TenantUser, fit func(TenantUser) bool) TenantUser {
	if i := slices.IndexFunc(users, fit); i >= 0 {
		return users[i]
	}
	return TenantUser{}
}
