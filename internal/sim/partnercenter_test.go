package sim

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

type customersPage struct {
	TotalCount int          `json:"totalCount"`
	Items      []pcCustomer `json:"items"`
	Links      struct {
		Next *pcLink `json:"next"`
	} `json:"links"`
	Attributes pcAttributes `json:"attributes"`
}

// pcToken signs the partner admin in to the Partner Center app with MSAL.
func pcToken(t *testing.T, s *Server, hc *http.Client, partner string) string {
	t.Helper()
	c := newMSAL(t, s, hc, partner, DefaultPCClientID, DefaultPCSecret)
	return msalSignIn(t, s, hc, c, DefaultPCClientID, []string{"https://api.partnercenter.microsoft.com/user_impersonation"}).AccessToken
}

// follow requests a "next" link as clients must: prefixing /v1 and sending the link's headers.
func follow(t *testing.T, hc *http.Client, s *Server, token string, l *pcLink) (customersPage, *http.Response) {
	t.Helper()
	uri := l.URI
	if !strings.HasPrefix(uri, "/v1/") {
		uri = "/v1" + uri
	}
	hdr := map[string]string{}
	for _, h := range l.Headers {
		hdr[h.Key] = h.Value
	}
	var p customersPage
	resp := call(t, hc, l.Method, s.URL()+uri, token, nil, hdr, &p)
	return p, resp
}

func TestPartnerCenterPagingAndResumeAfterRestart(t *testing.T) {
	sc := Generate(GenerateOptions{Seed: 1234, Tenants: 1234, GDAP: 200, UsersPerTenant: 1})
	dir := t.TempDir()
	s, hc := startSim(t, sc, Options{StateDir: dir})
	token := pcToken(t, s, hc, sc.PartnerTenantID)

	var p customersPage
	resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers?size=100", token, nil,
		map[string]string{"MS-RequestId": "req-1", "MS-CorrelationId": "corr-1"}, &p)
	if resp.StatusCode != 200 || resp.Header.Get("MS-RequestId") != "req-1" || resp.Header.Get("MS-CorrelationId") != "corr-1" {
		t.Fatalf("first page: %d, headers %v", resp.StatusCode, resp.Header)
	}
	seen := map[string]bool{}
	var ids []string
	var resumeAt *pcLink
	for page := 1; ; page++ {
		if p.Attributes.ObjectType != "Collection" || p.TotalCount != len(p.Items) {
			t.Fatalf("page %d: attributes %v, totalCount %d for %d items", page, p.Attributes, p.TotalCount, len(p.Items))
		}
		for _, c := range p.Items {
			if seen[c.ID] {
				t.Fatalf("customer %s listed twice", c.ID)
			}
			seen[c.ID] = true
			ids = append(ids, c.ID)
		}
		if p.Links.Next == nil {
			break
		}
		if page == 5 {
			resumeAt = p.Links.Next
		}
		if !strings.HasPrefix(p.Links.Next.URI, "/customers?size=100&seekOperation=Next") || p.Links.Next.Headers[0].Key != "MS-ContinuationToken" {
			t.Fatalf("next link %+v", p.Links.Next)
		}
		if p, resp = follow(t, hc, s, token, p.Links.Next); resp.StatusCode != 200 {
			t.Fatalf("page %d: %d", page+1, resp.StatusCode)
		}
	}
	if len(ids) != len(sc.Tenants) {
		t.Fatalf("collected %d customers, want %d", len(ids), len(sc.Tenants))
	}
	for i, tn := range sc.Tenants {
		if ids[i] != tn.ID {
			t.Fatalf("customer %d is %s, want %s", i, ids[i], tn.ID)
		}
	}
	last := sc.Tenants[len(sc.Tenants)-1]
	if c := p.Items[len(p.Items)-1]; c.AllowDelegatedAccess || c.CompanyProfile.Domain != last.Domain || c.RelationshipToPartner != "reseller" {
		t.Errorf("GDAP customer rendered as %+v", c)
	}

	caBefore, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	s.Close()
	s2, hc2 := startSim(t, sc, Options{StateDir: dir})
	caAfter, _ := os.ReadFile(s2.CAFile())
	if !bytes.Equal(caBefore, caAfter) {
		t.Error("restart generated a new CA; clients configured with ca.pem would break")
	}
	// The stored continuation token (and the earlier access token) still work after a restart.
	p, resp = follow(t, hc2, s2, token, resumeAt)
	if resp.StatusCode != 200 || len(p.Items) != 100 || p.Items[0].ID != sc.Tenants[500].ID {
		t.Fatalf("resumed page: %d, %d items", resp.StatusCode, len(p.Items))
	}
}

func TestPartnerCenterErrors(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	token := pcToken(t, s, hc, sc.PartnerTenantID)
	tn := sc.Tenants[0]
	stranger := "00000000-0000-4000-8000-000000000000"
	tests := []struct {
		name, path, token string
		hdr               map[string]string
		status, code      int
	}{
		{"no token", "/v1/customers", "", nil, 401, 800001},
		{"malformed token", "/v1/customers", "not-a-jwt", nil, 401, 400},
		{"Graph token", "/v1/customers", appToken(t, hc, s, sc.PartnerTenantID), nil, 401, 400},
		{"size zero", "/v1/customers?size=0", token, nil, 400, 800002},
		{"size too large", "/v1/customers?size=501", token, nil, 400, 800002},
		{"seek without token", "/v1/customers?size=5&seekOperation=Next", token, nil, 400, 800002},
		{"forged continuation", "/v1/customers?size=5&seekOperation=Next", token, map[string]string{"MS-ContinuationToken": "eyJrIjoiY3VzdG9tZXJzIiwibyI6MX0.AAAA"}, 400, 800002},
		{"not the partner's customer", "/v1/customers/" + stranger, token, nil, 403, 20002},
		{"subscriptions of a stranger", "/v1/customers/" + stranger + "/subscriptions", token, nil, 403, 20002},
		{"subscribed SKUs of a stranger", "/v1/customers/" + stranger + "/subscribedskus", token, nil, 403, 20002},
		{"customer id not a GUID", "/v1/customers/contoso/subscriptions", token, nil, 400, 900118},
		{"unknown subscription", "/v1/customers/" + tn.ID + "/subscriptions/" + stranger, token, nil, 404, 20003},
		{"unknown license group", "/v1/customers/" + tn.ID + "/subscribedskus?licenseGroupIds=Group3", token, nil, 400, 800002},
		{"unknown path", "/v1/customers/" + tn.ID + "/orders", token, nil, 404, 1000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var raw map[string]any
			resp := call(t, hc, http.MethodGet, s.URL()+tc.path, tc.token, nil, tc.hdr, &raw)
			if resp.StatusCode != tc.status || raw["code"] != strconv.Itoa(tc.code) || raw["source"] != "PartnerFD" || raw["description"] == "" || raw["data"] == nil {
				t.Errorf("got %d %+v, want %d with code \"%d\" in Partner Center's error shape", resp.StatusCode, raw, tc.status, tc.code)
			}
			if challenge := resp.Header.Get("WWW-Authenticate"); (tc.status == 401) != strings.HasPrefix(challenge, "OAuth realm=urn:cpsvc:cpid:") {
				t.Errorf("WWW-Authenticate %q with status %d", challenge, resp.StatusCode)
			}
		})
	}
}

// jsonAt walks a decoded JSON document along a dotted path ("links.self.uri", "items.0.id").
func jsonAt(v any, path string) any {
	for _, key := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[key]
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// wantJSON asserts documented fields of a Partner Center resource by path.
func wantJSON(t *testing.T, what string, doc any, want map[string]any) {
	t.Helper()
	for path, w := range want {
		got := jsonAt(doc, path)
		if f, ok := w.(int); ok {
			w = float64(f)
		}
		if got != w {
			t.Errorf("%s: %s = %#v, want %#v", what, path, got, w)
		}
	}
}

func TestPartnerCenterCustomerByID(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	token := pcToken(t, s, hc, sc.PartnerTenantID)
	for _, tn := range []Tenant{sc.Tenants[0], sc.Tenants[3]} {
		var c map[string]any
		if resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tn.ID, token, nil, nil, &c); resp.StatusCode != 200 {
			t.Fatalf("customer %s: %d", tn.ID, resp.StatusCode)
		}
		wantJSON(t, "customer", c, map[string]any{
			"id": tn.ID, "companyProfile.tenantId": tn.ID, "companyProfile.domain": tn.Domain,
			"companyProfile.companyName": tn.Name, "companyProfile.attributes.objectType": "CustomerCompanyProfile",
			"companyProfile.links.self.uri": "/customers/" + tn.ID + "/profiles/company",
			"billingProfile.email":          tn.Admin.UPN, "billingProfile.companyName": tn.Name,
			"billingProfile.defaultAddress.country": "US", "billingProfile.culture": "en-US",
			"billingProfile.attributes.objectType": "CustomerBillingProfile",
			"billingProfile.links.self.uri":        "/customers/" + tn.ID + "/profiles/billing",
			"relationshipToPartner":                "reseller",
			"allowDelegatedAccess":                 tn.Relationship == RelationshipDAP,
			"links.self.uri":                       "/customers/" + tn.ID, "links.self.method": "GET",
			"attributes.objectType": "Customer",
		})
		if id, _ := c["commerceId"].(string); !isGUID(id) {
			t.Errorf("commerceId %q", id)
		}
		if e, _ := jsonAt(c, "billingProfile.attributes.etag").(string); e == "" {
			t.Error("billing profile has no etag")
		}
	}
	// The list shows customers without their billing profile, as Partner Center does.
	var list map[string]any
	call(t, hc, http.MethodGet, s.URL()+"/v1/customers?size=2", token, nil, nil, &list)
	if jsonAt(list, "items.0.billingProfile") != nil || jsonAt(list, "items.0.links.self.uri") != "/customers/"+sc.Tenants[0].ID {
		t.Errorf("customer list item %v", jsonAt(list, "items.0"))
	}
}
