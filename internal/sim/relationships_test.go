package sim

import (
	"context"
	"net/http"
	"testing"
)

// A customer removed from Partner Center is neither listed nor served; restored, it is both
// again, and the change survives a restart.
func TestRemovedCustomerLeavesPartnerCenterAndComesBack(t *testing.T) {
	sc := smallScenario()
	dir := t.TempDir()
	s, hc := startSim(t, sc, Options{StateDir: dir})
	token := pcToken(t, s, hc, sc.PartnerTenantID)
	gone := sc.Tenants[1].ID
	listed := func(s *Server) map[string]bool {
		t.Helper()
		var p customersPage
		if resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers?size=2", token, nil, nil, &p); resp.StatusCode != 200 {
			t.Fatalf("customers: %d", resp.StatusCode)
		}
		ids := map[string]bool{}
		for {
			for _, c := range p.Items {
				ids[c.ID] = true
			}
			if p.Links.Next == nil {
				return ids
			}
			p, _ = follow(t, hc, s, token, p.Links.Next)
		}
	}

	admin, err := NewAdminClient(s.URL(), s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.RemoveCustomer(context.Background(), gone); err != nil {
		t.Fatal(err)
	}
	if ids := listed(s); ids[gone] || len(ids) != len(sc.Tenants)-1 {
		t.Fatalf("after removal the list is %v", ids)
	}
	var e pcErrorBody
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+gone+"/subscribedskus", token, nil, nil, &e); resp.StatusCode != http.StatusForbidden || e.Code != pcNoRelationship {
		t.Fatalf("a removed customer's SKUs: %d %+v", resp.StatusCode, e)
	}
	if err := admin.RemoveCustomer(context.Background(), "00000000-0000-0000-0000-000000000000"); err == nil {
		t.Fatal("removing an unknown tenant must fail")
	}

	// A restarted simulator remembers the removal, then the restoration.
	s.Close()
	s2, _ := startSim(t, sc, Options{StateDir: dir})
	if listed(s2)[gone] {
		t.Fatal("the removal did not survive a restart")
	}
	if err := s2.RestoreCustomer(gone); err != nil {
		t.Fatal(err)
	}
	if ids := listed(s2); !ids[gone] || len(ids) != len(sc.Tenants) {
		t.Fatalf("after restoring the list is %v", ids)
	}
}
