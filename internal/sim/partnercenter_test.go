package sim

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
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
	tests := []struct {
		name, path, token string
		hdr               map[string]string
		status            int
	}{
		{"no token", "/v1/customers", "", nil, 401},
		{"malformed token", "/v1/customers", "not-a-jwt", nil, 401},
		{"Graph token", "/v1/customers", appToken(t, hc, s, sc.PartnerTenantID), nil, 401},
		{"size zero", "/v1/customers?size=0", token, nil, 400},
		{"size too large", "/v1/customers?size=501", token, nil, 400},
		{"seek without token", "/v1/customers?size=5&seekOperation=Next", token, nil, 400},
		{"forged continuation", "/v1/customers?size=5&seekOperation=Next", token, map[string]string{"MS-ContinuationToken": "eyJrIjoiY3VzdG9tZXJzIiwibyI6MX0.AAAA"}, 400},
		{"unknown customer", "/v1/customers/00000000-0000-4000-8000-000000000000/subscriptions", token, nil, 404},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e pcErrorBody
			resp := call(t, hc, http.MethodGet, s.URL()+tc.path, tc.token, nil, tc.hdr, &e)
			if resp.StatusCode != tc.status || e.Source != "PartnerFD" || e.Description == "" || e.Code == 0 {
				t.Errorf("got %d %+v, want %d in Partner Center error shape", resp.StatusCode, e, tc.status)
			}
		})
	}
}

func TestPartnerCenterSubscriptions(t *testing.T) {
	sc := smallScenario()
	s, hc := startSim(t, sc, Options{})
	token := pcToken(t, s, hc, sc.PartnerTenantID)
	tn := sc.Tenants[1]

	var subs struct {
		TotalCount int              `json:"totalCount"`
		Items      []pcSubscription `json:"items"`
	}
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tn.ID+"/subscriptions", token, nil, nil, &subs); resp.StatusCode != 200 {
		t.Fatalf("subscriptions: %d", resp.StatusCode)
	}
	if subs.TotalCount != len(tn.Subscriptions) || subs.Items[0].OfferID == "" || subs.Items[0].Status != "active" || subs.Items[0].UnitType != "Licenses" {
		t.Errorf("subscriptions %+v", subs)
	}

	var skus struct {
		Items []pcSubscribedSku `json:"items"`
	}
	call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tn.ID+"/subscribedskus", token, nil, nil, &skus)
	if len(skus.Items) != len(tn.Skus) {
		t.Fatalf("subscribed skus %+v", skus)
	}
	k := skus.Items[0]
	if k.ProductSku.ID != tn.Skus[0].SkuID || k.ActiveUnits != tn.Subscriptions[0].Quantity || k.AvailableUnits != k.ActiveUnits-k.ConsumedUnits {
		t.Errorf("subscribed sku %+v", k)
	}
}
