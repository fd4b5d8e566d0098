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
	Count     *int             `json:"@odata.count"`
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
	var pe struct {
		StatusCode int    `json:"statusCode"`
		Message    string `json:"message"`
	}
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers", "", nil, nil, &pe); resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "57" ||
		pe.StatusCode != 429 || pe.Message != "Rate limit is exceeded. Try again in 57 seconds." {
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
