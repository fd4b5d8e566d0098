package sim

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

// The conformance suite: for every Microsoft endpoint cspsync calls or the simulator serves,
// testdata/conformance holds examples from Microsoft's reference pages (each names its page,
// the copy read and the example), and TestConformance asks the simulator the same question and
// scores its answer: the documented field paths it serves with a compatible JSON type, over all
// documented field paths. testdata/conformance/minimums.json keeps each endpoint's score, which
// may not drop, and marks the endpoints cspsync calls, which must score at least 95 %; the
// README's table shows the scores. After a change that raises a score, run
// go test ./internal/sim -run TestConformance -conformance.update and paste the table it prints.

var updateConformance = flag.Bool("conformance.update", false, "rewrite testdata/conformance/minimums.json from the current scores and print the README table")

// conformanceFixture is one documented example.
type conformanceFixture struct {
	name      string
	Endpoint  string          `json:"endpoint"`
	Reference string          `json:"reference"`
	Source    string          `json:"source"`
	Example   string          `json:"example"`
	Status    int             `json:"status"`
	Kind      string          `json:"kind"` // "" JSON body, "redirect" the redirect's query parameters
	Response  json.RawMessage `json:"response"`
}

type endpointMinimum struct {
	CalledByCspsync bool    `json:"calledByCspsync"`
	Minimum         float64 `json:"minimum"`
}

// cspsyncFloor is the least score an endpoint cspsync calls may have.
const cspsyncFloor = 0.95

func loadConformance(t *testing.T) []conformanceFixture {
	t.Helper()
	files, err := filepath.Glob("testdata/conformance/*.json")
	if err != nil {
		t.Fatal(err)
	}
	var out []conformanceFixture
	for _, f := range files {
		if filepath.Base(f) == "minimums.json" {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var fx conformanceFixture
		if err := json.Unmarshal(raw, &fx); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		fx.name = strings.TrimSuffix(filepath.Base(f), ".json")
		if fx.Endpoint == "" || fx.Reference == "" || fx.Source == "" || fx.Example == "" || fx.Status == 0 || len(fx.Response) == 0 {
			t.Fatalf("%s: a fixture names its endpoint, reference page, source, example, status and response", f)
		}
		out = append(out, fx)
	}
	return out
}

var dateTimePattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$`)

// jsonType names a JSON value's type; strings holding an ISO 8601 date and time are
// "datetime".
func jsonType(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		if dateTimePattern.MatchString(x) {
			return "datetime"
		}
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case []any:
		return "array"
	}
	return "object"
}

// fieldPaths lists every field path of v with the types seen there: objects' keys joined by
// ".", array elements as "[]" (all elements merged).
func fieldPaths(v any) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	var walk func(prefix string, v any)
	add := func(path, typ string) {
		if out[path] == nil {
			out[path] = map[string]bool{}
		}
		out[path][typ] = true
	}
	walk = func(prefix string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				add(p, jsonType(e))
				walk(p, e)
			}
		case []any:
			for _, e := range x {
				add(prefix+"[]", jsonType(e))
				walk(prefix+"[]", e)
			}
		}
	}
	walk("", v)
	return out
}

// compatible reports whether a served path's types satisfy a documented one's: a documented
// null only asks for the field; a plain string accepts a date; any type but a collection is
// nullable.
func compatible(documented, served map[string]bool) bool {
	if len(served) == 0 {
		return false
	}
	for d := range documented {
		if d == "null" {
			continue
		}
		ok := false
		for s := range served {
			if s == d || d == "string" && s == "datetime" || s == "null" && d != "array" {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// scoreFixture compares a served answer with the documented one: documented paths served with
// a compatible type, all documented paths, and the ones missed.
func scoreFixture(documented, served any) (hit, total int, missed []string) {
	doc, got := fieldPaths(documented), fieldPaths(served)
	for path, types := range doc {
		total++
		if compatible(types, got[path]) {
			hit++
		} else {
			missed = append(missed, fmt.Sprintf("%s (%s, served %s)", path, typeList(types), typeList(got[path])))
		}
	}
	sort.Strings(missed)
	return hit, total, missed
}

func typeList(ts map[string]bool) string {
	if len(ts) == 0 {
		return "nothing"
	}
	var out []string
	for t := range ts {
		out = append(out, t)
	}
	sort.Strings(out)
	return strings.Join(out, "|")
}

func TestConformanceScoring(t *testing.T) {
	doc := map[string]any{"a": "x", "b": nil, "c": []any{map[string]any{"d": 1.0}}, "e": "2021-06-17T16:41:33Z", "f": ""}
	got := map[string]any{"a": nil, "b": true, "c": []any{}, "e": "yesterday", "f": "2021-06-17T16:41:33Z"}
	hit, total, missed := scoreFixture(doc, got)
	// a (nullable), b (any type), c (an array, empty) and f (a date is a string) are served;
	// c[], c[].d and e (a date served as plain text) are not.
	if hit != 4 || total != 7 || len(missed) != 3 {
		t.Errorf("score %d/%d, missed %v", hit, total, missed)
	}
}

// confWorld is the simulator the suite asks, with a tenant for the examples and one for the
// documented users/delta sequence.
type confWorld struct {
	s              *Server
	hc             *http.Client
	sc             Scenario
	a, b, gdap     Tenant
	tokA, tokB, pc string
}

func newConfWorld(t *testing.T) *confWorld {
	sc := Generate(GenerateOptions{Seed: 17, Tenants: 3, GDAP: 1, UsersPerTenant: 40})
	for i := range sc.Tenants {
		sc.Tenants[i].PremiumLicence = true
	}
	// Through an indirect provider: a resellerDelegatedAdminRelationship, the
	// subtype with indirectProviderTenantId and isPartnerConsentPending.
	sc.Tenants[2].GDAPIndirectProviderTenantID = "7b0e6f1c-4d2a-4c1e-9f3b-2a5d8e6c1b90"
	s, hc := startSim(t, sc, Options{})
	w := &confWorld{s: s, hc: hc, sc: sc, a: sc.Tenants[0], b: sc.Tenants[1], gdap: sc.Tenants[2]}
	w.tokA, w.tokB = appToken(t, hc, s, w.a.ID), appToken(t, hc, s, w.b.ID)
	w.pc = pcToken(t, s, hc, sc.PartnerTenantID)
	return w
}

// answer is what the simulator said: status and JSON body (or a redirect's query).
type answer struct {
	status int
	body   any
}

func (w *confWorld) get(t *testing.T, u, token string, hdr map[string]string) answer {
	t.Helper()
	var body any
	resp := call(t, w.hc, http.MethodGet, u, token, nil, hdr, &body)
	return answer{resp.StatusCode, body}
}

func (w *confWorld) graph(t *testing.T, path, token string, hdr map[string]string) answer {
	return w.get(t, w.s.URL()+path, token, hdr)
}

func links(a answer) (next, delta string) {
	m, _ := a.body.(map[string]any)
	next, _ = m["@odata.nextLink"].(string)
	delta, _ = m["@odata.deltaLink"].(string)
	return next, delta
}

// deltaRoundToEnd follows a round to its deltaLink.
func (w *confWorld) deltaRoundToEnd(t *testing.T, start, token string, hdr map[string]string) (pages []answer, deltaLink string) {
	t.Helper()
	for u := start; ; {
		a := w.get(t, u, token, hdr)
		if a.status != 200 {
			t.Fatalf("GET %s: %d %v", u, a.status, a.body)
		}
		pages = append(pages, a)
		next, delta := links(a)
		if delta != "" {
			return pages, delta
		}
		u = next
	}
}

func redirectQuery(loc *url.URL) answer {
	q := map[string]any{}
	for k, v := range loc.Query() {
		q[k] = v[0]
	}
	return answer{http.StatusFound, q}
}

// conformanceCalls asks the simulator each example's question, as its page describes it.
var conformanceCalls = map[string]func(t *testing.T, w *confWorld) answer{
	"graph-users-delta-default-properties": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1.0/users/delta", w.tokA, map[string]string{"Prefer": "odata.maxpagesize=10"})
	},
	"graph-users-delta-selected-default-mode": func(t *testing.T, w *confWorld) answer {
		return w.updatedUsersPage(t, "displayName,jobTitle,mobilePhone", "", UserPatch{JobTitle: ptr("Retail Manager")})
	},
	"graph-users-delta-minimal": func(t *testing.T, w *confWorld) answer {
		return w.updatedUsersPage(t, "displayName,jobTitle,mobilePhone", "return=minimal", UserPatch{DisplayName: ptr("Vance Adele"), JobTitle: ptr("Product Marketing Manager")})
	},
	"graph-users-list": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1.0/users?$top=10", w.tokA, nil)
	},
	"graph-users-list-signinactivity": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1.0/users?$select=displayName,userPrincipalName,signInActivity", w.tokA, nil)
	},
	"graph-users-list-search-error": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1.0/users?"+url.Values{"$search": {`"displayName:a"`}}.Encode(), w.tokA, nil)
	},
	"graph-user-get": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1.0/users/"+w.a.Users[0].ID, w.tokA, nil)
	},
	"graph-groups-delta-initial": func(t *testing.T, w *confWorld) answer {
		// Pages of 30 member entries: the first group's 40 members fill the first page.
		return w.graph(t, "/v1.0/groups/delta?$select=displayName,description&$expand=members", w.tokA, map[string]string{"Prefer": "odata.maxpagesize=30"})
	},
	"graph-groups-delta-changes": func(t *testing.T, w *confWorld) answer {
		_, deltaLink := w.deltaRoundToEnd(t, w.s.URL()+"/v1.0/groups/delta?$select=displayName,description&$expand=members", w.tokA, nil)
		w.s.mu.Lock()
		o := w.s.dir.byID[w.a.ID]
		g := o.groupList()[1] // a department: some users are in it, others not
		var in, out string
		for _, u := range o.users {
			switch {
			case isMember(u, g.ID) && in == "":
				in = u.ID
			case u.alive() && !slices.Contains(u.MemberOf, g.ID) && out == "":
				out = u.ID
			}
		}
		w.s.mu.Unlock()
		if err := w.s.RemoveGroupMember(w.a.ID, g.ID, in); err != nil {
			t.Fatal(err)
		}
		if err := w.s.AddGroupMember(w.a.ID, g.ID, out); err != nil {
			t.Fatal(err)
		}
		return w.get(t, deltaLink, w.tokA, nil)
	},
	"graph-user-memberof": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1.0/users/"+w.a.Users[0].ID+"/memberOf", w.tokA, nil)
	},
	"graph-user-assignlicense": func(t *testing.T, w *confWorld) answer {
		sub := w.a.Subscriptions[0] // a seat more, to assign
		if _, err := w.s.SetSubscriptionQuantity(w.a.ID, sub.ID, sub.Quantity+1); err != nil {
			t.Fatal(err)
		}
		w.s.mu.Lock()
		o := w.s.dir.byID[w.a.ID]
		var user, sku, location string
		for _, u := range o.users {
			if k := o.sku(sub.SkuID); k != nil && u.alive() && !slices.Contains(u.AssignedSkuIDs, k.SkuID) {
				user, sku, location = u.ID, k.SkuID, u.UsageLocation
			}
		}
		w.s.mu.Unlock()
		if user == "" {
			t.Fatal("scenario: no user to license")
		}
		if location == "" {
			if err := w.s.UpdateUser(w.a.ID, user, UserPatch{UsageLocation: ptr("US")}); err != nil {
				t.Fatal(err)
			}
		}
		body := `{"addLicenses":[{"disabledPlans":[],"skuId":"` + sku + `"}],"removeLicenses":[]}`
		var out any
		resp := call(t, w.hc, http.MethodPost, w.s.URL()+"/v1.0/users/"+user+"/assignLicense", w.tokA, []byte(body), map[string]string{"Content-Type": "application/json"}, &out)
		return answer{resp.StatusCode, out}
	},
	"graph-subscribedskus": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1.0/subscribedSkus", w.tokA, nil)
	},
	"graph-organization-list": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1.0/organization", w.tokA, nil)
	},
	"graph-organization-get": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1.0/organization/"+w.a.ID, w.tokA, nil)
	},
	"graph-delegatedadminrelationships": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1.0/tenantRelationships/delegatedAdminRelationships", gdapToken(t, w.s, w.hc, w.sc.PartnerTenantID), nil)
	},
	"pc-customers": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1/customers?size=40", w.pc, nil)
	},
	"pc-customer": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1/customers/"+w.a.ID, w.pc, nil)
	},
	"pc-subscriptions": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1/customers/"+w.a.ID+"/subscriptions", w.pc, nil)
	},
	"pc-subscription": func(t *testing.T, w *confWorld) answer {
		if len(w.a.Subscriptions) == 0 {
			t.Fatal("scenario: no subscription")
		}
		return w.graph(t, "/v1/customers/"+w.a.ID+"/subscriptions/"+w.a.Subscriptions[0].ID, w.pc, nil)
	},
	"pc-subscribedskus": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1/customers/"+w.a.ID+"/subscribedskus", w.pc, nil)
	},
	"pc-error-unknown-customer": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/v1/customers/00000000-0000-4000-8000-000000000000/subscribedskus", w.pc, nil)
	},
	"entra-userinfo": func(t *testing.T, w *confWorld) answer {
		scope := "https://graph.microsoft.com/User.Read openid profile email"
		code := signInForCode(t, w.hc, authorizeURL(w.s, w.sc.PartnerTenantID, DefaultGraphClientID, testRedirect, scope), DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode)
		verifier, _ := pkce()
		status, body := postToken(t, w.hc, w.s, "organizations", url.Values{
			"grant_type": {"authorization_code"}, "client_id": {DefaultGraphClientID}, "client_secret": {DefaultGraphSecret},
			"code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}, "scope": {scope},
		})
		if status != 200 {
			t.Fatalf("token for UserInfo: %d %v", status, body)
		}
		return w.graph(t, "/oidc/userinfo", body["access_token"].(string), nil)
	},
	"entra-openid-configuration": func(t *testing.T, w *confWorld) answer {
		return w.graph(t, "/"+w.a.ID+"/v2.0/.well-known/openid-configuration", "", nil)
	},
	"entra-token-authorization-code": func(t *testing.T, w *confWorld) answer {
		scope := "https://graph.microsoft.com/User.Read.All openid offline_access profile"
		code := signInForCode(t, w.hc, authorizeURL(w.s, w.sc.PartnerTenantID, DefaultGraphClientID, testRedirect, scope), DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode)
		verifier, _ := pkce()
		status, body := postToken(t, w.hc, w.s, "organizations", url.Values{
			"grant_type": {"authorization_code"}, "client_id": {DefaultGraphClientID}, "client_secret": {DefaultGraphSecret},
			"code": {code}, "redirect_uri": {testRedirect}, "code_verifier": {verifier}, "scope": {scope},
		})
		return answer{status, map[string]any(body)}
	},
	"entra-token-client-credentials": func(t *testing.T, w *confWorld) answer {
		status, body := postToken(t, w.hc, w.s, w.a.ID, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {DefaultGraphClientID},
			"client_secret": {DefaultGraphSecret}, "scope": {"https://graph.microsoft.com/.default"},
		})
		return answer{status, map[string]any(body)}
	},
	"entra-token-error": func(t *testing.T, w *confWorld) answer {
		status, body := postToken(t, w.hc, w.s, w.a.ID, url.Values{
			"grant_type": {"client_credentials"}, "client_id": {DefaultGraphClientID},
			"client_secret": {DefaultGraphSecret}, "scope": {"https://foo.microsoft.com/.default"},
		})
		return answer{status, map[string]any(body)}
	},
	"entra-authorize-code": func(t *testing.T, w *confWorld) answer {
		loc, err := SignIn(context.Background(), w.hc, authorizeURL(w.s, w.sc.PartnerTenantID, DefaultGraphClientID, testRedirect, "openid offline_access"), DefaultAdminUPN, DefaultAdminPassword, DefaultMFACode)
		if err != nil {
			t.Fatal(err)
		}
		return redirectQuery(loc)
	},
	"entra-adminconsent-granted": func(t *testing.T, w *confWorld) answer {
		loc, err := SignIn(context.Background(), w.hc, adminConsentURL(w.s, w.gdap.ID, "12345"), w.gdap.Admin.UPN, DefaultAdminPassword, DefaultMFACode)
		if err != nil {
			t.Fatal(err)
		}
		return redirectQuery(loc)
	},
	"entra-adminconsent-v1": func(t *testing.T, w *confWorld) answer {
		q := url.Values{"client_id": {DefaultGraphClientID}, "redirect_uri": {testRedirect}, "state": {"12345"}}
		loc, err := SignIn(context.Background(), w.hc, w.s.URL()+"/"+w.sc.Tenants[2].ID+"/adminconsent?"+q.Encode(), w.gdap.Admin.UPN, DefaultAdminPassword, DefaultMFACode)
		if err != nil {
			t.Fatal(err)
		}
		return redirectQuery(loc)
	},
	"entra-adminconsent-error": func(t *testing.T, w *confWorld) answer {
		return redirectQuery(w.declineConsent(t))
	},
}

func ptr[T any](v T) *T { return &v }

// updatedUsersPage gets a delta-link page (one user a page, so with a nextLink) after two users
// with every selected property set changed by patch, asking with prefer.
func (w *confWorld) updatedUsersPage(t *testing.T, sel, prefer string, patch UserPatch) answer {
	t.Helper()
	_, deltaLink := w.deltaRoundToEnd(t, w.s.URL()+"/v1.0/users/delta?$select="+sel, w.tokA, nil)
	n := 0
	for _, u := range w.a.Users {
		if n < 2 && u.DisplayName != "" && u.JobTitle != "" && u.MobilePhone != "" {
			if err := w.s.UpdateUser(w.a.ID, u.ID, patch); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	hdr := map[string]string{"Prefer": "odata.maxpagesize=1"}
	if prefer != "" {
		hdr["Prefer"] += ", " + prefer
	}
	return w.get(t, deltaLink, w.tokA, hdr)
}

// declineConsent drives the admin-consent pages to Cancel and returns the redirect.
func (w *confWorld) declineConsent(t *testing.T) *url.URL {
	t.Helper()
	noFollow := *w.hc
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := noFollow.Get(adminConsentURL(w.s, w.gdap.ID, "12345"))
	if err != nil {
		t.Fatal(err)
	}
	for _, fields := range []url.Values{
		{"login": {w.gdap.Admin.UPN}, "passwd": {DefaultAdminPassword}},
		{"otc": {DefaultMFACode}},
		{"consent": {"cancel"}},
	} {
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		p := parseForm(string(page))
		for k, v := range fields {
			p.hidden[k] = v
		}
		if resp, err = noFollow.PostForm(w.s.URL()+p.action, p.hidden); err != nil {
			t.Fatal(err)
		}
	}
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// deltaSequence asks tenant b the documented sequence's questions ($select=displayName,
// givenName,surname): the round's pages (the second with a user purged meanwhile, so removed),
// a round without changes, and one with a rename and a deletion.
func (w *confWorld) deltaSequence(t *testing.T) map[string]answer {
	t.Helper()
	const sel = "/v1.0/users/delta?$select=displayName,givenName,surname"
	small := map[string]string{"Prefer": "odata.maxpagesize=3"}
	first := w.graph(t, sel, w.tokB, small)
	next, _ := links(first)
	if err := w.s.PurgeUser(w.b.ID, w.b.Users[4].ID); err != nil { // on the second page
		t.Fatal(err)
	}
	pages, deltaLink := w.deltaRoundToEnd(t, next, w.tokB, small)
	out := map[string]answer{
		"graph-users-delta-sequence-1-initial":  pages[0],
		"graph-users-delta-sequence-2-nextlink": pages[1],
		"graph-users-delta-sequence-3-final":    pages[len(pages)-1],
	}
	quiet, deltaLink := w.deltaRoundToEnd(t, deltaLink, w.tokB, nil)
	out["graph-users-delta-sequence-4-no-changes"] = quiet[0]
	renamed := find(w.b.Users[7:], func(u TenantUser) bool { return u.GivenName != "" && u.Surname != "" })
	if err := w.s.UpdateUser(w.b.ID, renamed.ID, UserPatch{DisplayName: ptr("MOD Administrator")}); err != nil {
		t.Fatal(err)
	}
	if err := w.s.DeleteUser(w.b.ID, w.b.Users[6].ID); err != nil {
		t.Fatal(err)
	}
	changes, _ := w.deltaRoundToEnd(t, deltaLink, w.tokB, nil)
	out["graph-users-delta-sequence-5-changes"] = changes[0]
	return out
}

func TestConformance(t *testing.T) {
	fixtures := loadConformance(t)
	w := newConfWorld(t)
	sequence := w.deltaSequence(t)
	type score struct{ hit, total int }
	scores := map[string]*score{}
	for _, fx := range fixtures {
		var got answer
		if a, ok := sequence[fx.name]; ok {
			got = a
		} else if ask := conformanceCalls[fx.name]; ask != nil {
			got = ask(t, w)
		} else {
			t.Fatalf("%s: no question to ask the simulator for it: add it to conformanceCalls", fx.name)
		}
		var documented any
		if err := json.Unmarshal(fx.Response, &documented); err != nil {
			t.Fatal(err)
		}
		if got.status != fx.Status {
			t.Errorf("%s (%s): the simulator answered %d, Microsoft documents %d: %v", fx.name, fx.Endpoint, got.status, fx.Status, got.body)
		}
		hit, total, missed := scoreFixture(documented, got.body)
		if len(missed) > 0 {
			t.Logf("%s: %d/%d documented fields; not served: %s", fx.name, hit, total, strings.Join(missed, ", "))
		}
		sc := scores[fx.Endpoint]
		if sc == nil {
			sc = &score{}
			scores[fx.Endpoint] = sc
		}
		sc.hit += hit
		sc.total += total
	}

	raw, err := os.ReadFile("testdata/conformance/minimums.json")
	if err != nil && !*updateConformance {
		t.Fatal(err)
	}
	minimums := map[string]endpointMinimum{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &minimums); err != nil {
			t.Fatal(err)
		}
	}
	endpoints := make([]string, 0, len(scores))
	for e := range scores {
		endpoints = append(endpoints, e)
	}
	sort.Strings(endpoints)
	var table strings.Builder
	for _, e := range endpoints {
		sc, m := scores[e], minimums[e]
		got := float64(sc.hit) / float64(sc.total)
		called := "no"
		if m.CalledByCspsync {
			called = "yes"
		}
		fmt.Fprintf(&table, "| `%s` | %s | %d / %d | %.1f %% |\n", e, called, sc.hit, sc.total, 100*got)
		switch {
		case *updateConformance:
			m.Minimum = math.Floor(got*1000) / 1000
			minimums[e] = m
		case minimums[e] == (endpointMinimum{}):
			t.Errorf("%s has no entry in testdata/conformance/minimums.json: add it (calledByCspsync, minimum)", e)
		case got < m.Minimum:
			t.Errorf("%s scores %.3f, below its stored minimum %.3f: the simulator stopped serving documented fields (see the log above)", e, got, m.Minimum)
		}
		if m.CalledByCspsync && got < cspsyncFloor {
			t.Errorf("%s, which cspsync calls, scores %.3f, below %.2f", e, got, cspsyncFloor)
		}
	}
	if *updateConformance {
		out, _ := json.MarshalIndent(minimums, "", "  ")
		if err := os.WriteFile("testdata/conformance/minimums.json", append(out, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Print("README conformance table:\n" + table.String())
		return
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range strings.Split(strings.TrimSpace(table.String()), "\n") {
		if !strings.Contains(string(readme), row) {
			t.Errorf("the README's conformance table lacks the row %q: paste the table `go test ./internal/sim -run TestConformance -conformance.update` prints", row)
		}
	}
}
