package sim

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

type usersPage struct {
	Context   string           `json:"@odata.context"`
	NextLink  string           `json:"@odata.nextLink"`
	DeltaLink string           `json:"@odata.deltaLink"`
	Value     []map[string]any `json:"value"`
}

// graphScenario has one DAP tenant shaped for licence tests: user 1 is unlicensed without a
// usage location, users 2 and 3 are unlicensed with one, and exactly one seat is free.
func graphScenario() Scenario {
	sc := Generate(GenerateOptions{Seed: 3, Tenants: 2, GDAP: 1, UsersPerTenant: 12})
	tn := &sc.Tenants[0]
	tn.Skus = tn.Skus[:1]
	tn.PremiumLicence = false
	sku := tn.Skus[0].SkuID
	licensed := 0
	for i := range tn.Users {
		u := &tn.Users[i]
		u.AssignedSkuIDs = []string{sku}
		switch i {
		case 1:
			u.UsageLocation, u.AssignedSkuIDs = "", nil
		case 2, 3:
			u.UsageLocation, u.AssignedSkuIDs = "GB", nil
		}
		licensed += len(u.AssignedSkuIDs)
	}
	tn.Subscriptions = tn.Subscriptions[:1]
	tn.Subscriptions[0].Quantity = licensed + 1
	sc.Tenants[1].PremiumLicence = true
	return sc
}

func gz(t *testing.T, s string) []byte {
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	zw.Write([]byte(s))
	zw.Close()
	return b.Bytes()
}

func TestGraphUsersPagingAndSelect(t *testing.T) {
	sc := graphScenario()
	s, hc := startSim(t, sc, Options{})
	tn := sc.Tenants[0]
	token := appToken(t, hc, s, tn.ID)

	var ids []string
	next := s.URL() + "/v1.0/users?$select=id,displayName,assignedLicenses&$top=5"
	for next != "" {
		var p usersPage
		resp := call(t, hc, http.MethodGet, next, token, nil, map[string]string{"client-request-id": "c-1"}, &p)
		if resp.StatusCode != 200 || resp.Header.Get("request-id") == "" || resp.Header.Get("client-request-id") != "c-1" {
			t.Fatalf("GET %s: %d %v", next, resp.StatusCode, resp.Header)
		}
		if p.Context != s.URL()+"/v1.0/$metadata#users(id,displayName,assignedLicenses)" {
			t.Errorf("@odata.context = %q", p.Context)
		}
		for _, u := range p.Value {
			if _, ok := u["userPrincipalName"]; ok {
				t.Fatalf("$select ignored: %v", u)
			}
			ids = append(ids, u["id"].(string))
		}
		if next = p.NextLink; next != "" && !strings.HasPrefix(next, s.URL()+"/v1.0/users?") {
			t.Fatalf("nextLink not absolute on the serving host: %s", next)
		}
	}
	if len(ids) != len(tn.Users) {
		t.Errorf("listed %d users, want %d", len(ids), len(tn.Users))
	}

	var e graphErr
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/users?$top=1000", token, nil, nil, &e); resp.StatusCode != 400 {
		t.Errorf("$top=1000: %d", resp.StatusCode)
	}
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/users?%24filter=accountEnabled%20eq%20true", token, nil, nil, &e); resp.StatusCode != 400 || e.Error.Code != "Request_UnsupportedQuery" {
		t.Errorf("$filter must be refused, not ignored: %d %+v", resp.StatusCode, e)
	}
	// signInActivity needs an Entra ID premium tenant.
	resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/users?$select=id,signInActivity", token, nil, nil, &e)
	if resp.StatusCode != 403 || e.Error.Code != "Authentication_RequestFromNonPremiumTenantOrB2CTenant" {
		t.Errorf("signInActivity without premium: %d %+v", resp.StatusCode, e)
	}
	premium := sc.Tenants[1]
	s.GrantConsent(premium.ID) // GDAP: consent first
	var p usersPage
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/users?$select=id,signInActivity", appToken(t, hc, s, premium.ID), nil, nil, &p); resp.StatusCode != 200 {
		t.Fatalf("signInActivity with premium: %d", resp.StatusCode)
	}
	for i, u := range p.Value {
		a := u["signInActivity"].(map[string]any)
		if v, ok := a["lastSignInDateTime"]; !ok || v == "" || (premium.Users[i].LastSignIn == nil) != (v == nil) {
			t.Errorf("user %d lastSignInDateTime = %#v", i, v)
		}
	}
}

func TestGraphTokenValidation(t *testing.T) {
	sc := graphScenario()
	clock := newTestClock()
	s, hc := startSim(t, sc, Options{Now: clock.Now})
	dap := sc.Tenants[0].ID
	token := appToken(t, hc, s, dap)
	pcTok := pcToken(t, s, hc, sc.PartnerTenantID)

	check := func(name, tok string, status int, code, msg string) {
		t.Helper()
		var e graphErr
		resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/organization", tok, nil, nil, &e)
		if resp.StatusCode != status || e.Error.Code != code || !strings.Contains(e.Error.Message, msg) || e.Error.InnerError["request-id"] == "" {
			t.Errorf("%s: %d %+v", name, resp.StatusCode, e)
		}
	}
	check("malformed", "garbage", 401, "InvalidAuthenticationToken", "CompactToken parsing failed with error code: 80049217")
	check("missing", "", 401, "InvalidAuthenticationToken", "Access token is empty.")
	check("Partner Center audience", pcTok, 401, "InvalidAuthenticationToken", "Invalid audience")

	var org struct {
		Value []map[string]any `json:"value"`
	}
	if call(t, hc, http.MethodGet, s.URL()+"/v1.0/organization", token, nil, nil, &org); len(org.Value) != 1 || org.Value[0]["id"] != dap {
		t.Errorf("organization = %v", org)
	}
	// Consent revoked after issuance: the app no longer has an identity in the tenant.
	s.RevokeConsent(dap)
	check("consent revoked", token, 401, "Authorization_IdentityNotFound", "The identity of the calling application could not be established.")
	s.GrantConsent(dap)
	clock.Advance(2 * time.Hour)
	check("expired", token, 401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
}

func TestGraphAssignLicense(t *testing.T) {
	sc := graphScenario()
	s, hc := startSim(t, sc, Options{})
	tn := sc.Tenants[0]
	token := appToken(t, hc, s, tn.ID)
	sku := tn.Skus[0].SkuID
	assign := func(user, body string, zip bool) (int, graphErr) {
		t.Helper()
		hdr := map[string]string{"Content-Type": "application/json"}
		raw := []byte(body)
		if zip {
			hdr["Content-Encoding"] = "gzip"
			raw = gz(t, body)
		}
		var e graphErr
		resp := call(t, hc, http.MethodPost, s.URL()+"/v1.0/users/"+user+"/assignLicense", token, raw, hdr, &e)
		return resp.StatusCode, e
	}
	add := `{"addLicenses":[{"disabledPlans":[],"skuId":"` + sku + `"}]`

	if status, e := assign(tn.Users[2].ID, add+`}`, false); status != 400 || !strings.Contains(e.Error.Message, "removeLicenses") {
		t.Errorf("without removeLicenses: %d %+v", status, e)
	}
	if status, e := assign(tn.Users[1].ID, add+`,"removeLicenses":[]}`, false); status != 400 || !strings.Contains(e.Error.Message, "usage location") {
		t.Errorf("without usage location: %d %+v", status, e)
	}
	if status, e := assign(tn.Users[2].UserPrincipalName, add+`,"removeLicenses":[]}`, true); status != 200 {
		t.Fatalf("gzipped assignment by UPN: %d %+v", status, e)
	}
	if status, e := assign(tn.Users[3].ID, add+`,"removeLicenses":[]}`, false); status != 400 || !strings.Contains(e.Error.Message, "does not have any available licenses") {
		t.Errorf("no free seat: %d %+v", status, e)
	}
	if status, _ := assign("00000000-0000-4000-8000-000000000000", add+`,"removeLicenses":[]}`, false); status != 404 {
		t.Errorf("unknown user: %d", status)
	}

	var skus struct {
		Value []struct {
			ConsumedUnits int            `json:"consumedUnits"`
			PrepaidUnits  map[string]int `json:"prepaidUnits"`
			SkuID         string         `json:"skuId"`
			ID            string         `json:"id"`
		} `json:"value"`
	}
	call(t, hc, http.MethodGet, s.URL()+"/v1.0/subscribedSkus", token, nil, nil, &skus)
	if k := skus.Value[0]; k.ConsumedUnits != k.PrepaidUnits["enabled"] || k.ID != tn.ID+"_"+sku {
		t.Errorf("subscribedSkus after filling the last seat: %+v", k)
	}
}

func TestGraphUsersDelta(t *testing.T) {
	sc := graphScenario()
	clock := newTestClock()
	s, hc := startSim(t, sc, Options{Now: clock.Now})
	tn := sc.Tenants[0]
	token := appToken(t, hc, s, tn.ID)
	get := func(u string) (usersPage, graphErr, int) {
		t.Helper()
		var p usersPage
		resp := call(t, hc, http.MethodGet, u, token, nil, nil, &p)
		var e graphErr
		if resp.StatusCode != 200 {
			call(t, hc, http.MethodGet, u, token, nil, nil, &e)
		}
		return p, e, resp.StatusCode
	}
	// round runs a delta round to its deltaLink and returns the items seen.
	round := func(start string) ([]map[string]any, string) {
		t.Helper()
		var items []map[string]any
		for u := start; ; {
			p, e, status := get(u)
			if status != 200 {
				t.Fatalf("GET %s: %d %+v", u, status, e)
			}
			items = append(items, p.Value...)
			if p.DeltaLink != "" {
				return items, p.DeltaLink
			}
			if !strings.HasPrefix(p.NextLink, s.URL()+"/v1.0/users/delta()?$skiptoken=") {
				t.Fatalf("nextLink %q", p.NextLink)
			}
			u = p.NextLink
		}
	}

	// A deletion in the middle of the initial round must not make a later page skip a user.
	first, _, _ := get(s.URL() + "/v1.0/users/delta()?$select=id,assignedLicenses&$top=5")
	if err := s.DeleteUser(tn.ID, tn.Users[0].ID); err != nil {
		t.Fatal(err)
	}
	items, delta := round(first.NextLink)
	items = append(first.Value, items...)
	if len(items) != len(tn.Users) || !strings.Contains(delta, "$deltatoken=") {
		t.Fatalf("initial round: %d items, deltaLink %q", len(items), delta)
	}
	if items, delta = round(delta); len(items) != 1 || items[0]["@removed"] == nil {
		t.Fatalf("round after the mid-round deletion: %v", items)
	}
	if items, delta = round(delta); len(items) != 0 {
		t.Errorf("round without changes returned %v", items)
	}

	changed := tn.Users[2]
	if status := call(t, hc, http.MethodPost, s.URL()+"/v1.0/users/"+changed.ID+"/assignLicense", token,
		[]byte(`{"addLicenses":[{"disabledPlans":[],"skuId":"`+tn.Skus[0].SkuID+`"}],"removeLicenses":[]}`), nil, nil).StatusCode; status != 200 {
		t.Fatalf("assignLicense: %d", status)
	}
	if err := s.DeleteUser(tn.ID, tn.Users[4].ID); err != nil {
		t.Fatal(err)
	}
	items, delta = round(delta)
	if len(items) != 2 || items[0]["id"] != changed.ID || items[1]["id"] != tn.Users[4].ID || items[1]["@removed"] == nil {
		t.Fatalf("round after changes: %v", items)
	}
	if _, ok := items[0]["assignedLicenses"]; !ok || slices.Contains(mapsKeys(items[0]), "userPrincipalName") {
		t.Errorf("changed user lost the initial $select: %v", items[0])
	}

	for name, u := range map[string]string{
		"forged token":  s.URL() + "/v1.0/users/delta()?$deltatoken=bogus",
		"expired token": delta,
	} {
		if name == "expired token" {
			clock.Advance(8 * 24 * time.Hour)
			token = appToken(t, hc, s, tn.ID)
		}
		if _, e, status := get(u); status != 400 || e.Error.Code != "syncStateNotFound" {
			t.Errorf("%s: %d %+v", name, status, e)
		}
	}
}

func mapsKeys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestGraphDelegatedAdminRelationships(t *testing.T) {
	sc := Generate(GenerateOptions{Seed: 5, Tenants: 6, GDAP: 4})
	s, hc := startSim(t, sc, Options{})
	var p struct {
		Value []struct {
			Customer struct{ TenantID string } `json:"customer"`
			Status   string                    `json:"status"`
			Duration string                    `json:"duration"`
		} `json:"value"`
	}
	call(t, hc, http.MethodGet, s.URL()+"/v1.0/tenantRelationships/delegatedAdminRelationships", appToken(t, hc, s, sc.PartnerTenantID), nil, nil, &p)
	if len(p.Value) != 4 || p.Value[0].Customer.TenantID != sc.Tenants[2].ID || p.Value[0].Status != "active" || p.Value[0].Duration != "P730D" {
		t.Errorf("relationships %+v", p)
	}
}

func TestFaults(t *testing.T) {
	sc := graphScenario()
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, sc.Tenants[0].ID)

	s.SetFault(Fault{API: APIGraph, Kind: FaultThrottle, Count: 2, RetryAfter: "1"})
	for i := range 3 {
		var e graphErr
		resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/organization", token, nil, nil, &e)
		if i < 2 && (resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "1" || e.Error.Code != "TooManyRequests") {
			t.Errorf("request %d: %d Retry-After=%q %+v", i, resp.StatusCode, resp.Header.Get("Retry-After"), e)
		}
		if i == 2 && resp.StatusCode != 200 {
			t.Errorf("fault outlived its count: %d", resp.StatusCode)
		}
	}

	s.SetFault(Fault{API: APIPartnerCenter, Kind: FaultThrottle, Count: 1, RetryAfter: "57"})
	var pe pcErrorBody
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers", "", nil, nil, &pe); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "57" || pe.Source != "PartnerFD" {
		t.Errorf("Partner Center throttle: %d %+v", resp.StatusCode, pe)
	}

	s.SetFault(Fault{API: APIToken, Kind: Fault5xx, Count: 1})
	if status, body := postToken(t, hc, s, sc.Tenants[0].ID, nil); status != 503 || body["error"] != "temporarily_unavailable" {
		t.Errorf("token 5xx: %d %v", status, body)
	}
	st := s.Stats()
	if st.FaultsInjected != 4 || st.GraphRequestsByTenant[sc.Tenants[0].ID] != 1 {
		t.Errorf("stats %+v", st)
	}
	// Arrival times, for tests that measure how long a client waited between attempts.
	graph := st.RequestTimes[APIGraph]
	if len(graph) != 3 || len(st.RequestTimes[APIPartnerCenter]) != 1 || len(st.RequestTimes[APIToken]) != 2 ||
		!slices.IsSortedFunc(graph, time.Time.Compare) {
		t.Errorf("request times %v", st.RequestTimes)
	}
}

func TestRecordedListsAreBounded(t *testing.T) {
	var list []int
	for i := range maxRecorded + 5 {
		list = appendBounded(list, i)
	}
	if len(list) != maxRecorded || list[0] != 5 || list[maxRecorded-1] != maxRecorded+4 {
		t.Errorf("kept %d entries, %d..%d", len(list), list[0], list[len(list)-1])
	}
}
