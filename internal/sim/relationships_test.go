package sim

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
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

// gdapToken signs the partner admin in to the Partner Center app for a delegated Graph token
// that may read GDAP relationships, as cspsync gets one.
func gdapToken(t *testing.T, s *Server, hc *http.Client, partner string) string {
	t.Helper()
	c := newMSAL(t, s, hc, partner, DefaultPCClientID, DefaultPCSecret)
	return msalSignIn(t, s, hc, c, DefaultPCClientID, []string{"https://graph.microsoft.com/DelegatedAdminRelationship.Read.All"}).AccessToken
}

// shape flattens a JSON value into its paths and kinds ("string", "number", "bool", "object",
// "array", "null"); array elements share the path "[]".
func shape(prefix string, v any, out map[string]string) map[string]string {
	switch v := v.(type) {
	case map[string]any:
		out[prefix] = "object"
		for k, e := range v {
			shape(strings.TrimPrefix(prefix+"."+k, "."), e, out)
		}
	case []any:
		out[prefix] = "array"
		for _, e := range v {
			shape(prefix+"[]", e, out)
		}
	case string:
		out[prefix] = "string"
	case float64:
		out[prefix] = "number"
	case bool:
		out[prefix] = "bool"
	case nil:
		out[prefix] = "null"
	}
	return out
}

// The documented fields of the v1.0 reference's examples, with their kinds (api-reference/v1.0:
// api/tenantrelationship-list-delegatedadminrelationships.md, resources/delegatedadminrelationship.md,
// resources/resellerdelegatedadminrelationship.md, api/delegatedadminrelationship-list-accessassignments.md,
// resources/delegatedadminaccessassignment.md). "string|null": null while not yet active.
var (
	documentedRelationship = map[string]string{
		"@odata.type": "string", "@odata.etag": "string", "id": "string", "displayName": "string", "duration": "string",
		"customer": "object", "customer.tenantId": "string", "customer.displayName": "string",
		"accessDetails": "object", "accessDetails.unifiedRoles": "array", "accessDetails.unifiedRoles[]": "object",
		"accessDetails.unifiedRoles[].roleDefinitionId": "string", "status": "string", "autoExtendDuration": "string",
		"createdDateTime": "string", "lastModifiedDateTime": "string", "activatedDateTime": "string|null", "endDateTime": "string|null",
	}
	documentedReseller   = map[string]string{"isPartnerConsentPending": "bool", "indirectProviderTenantId": "string"}
	documentedAssignment = map[string]string{
		"@odata.type": "string", "@odata.etag": "string", "id": "string", "status": "string",
		"createdDateTime": "string", "lastModifiedDateTime": "string",
		"accessContainer": "object", "accessContainer.accessContainerId": "string", "accessContainer.accessContainerType": "string",
		"accessDetails": "object", "accessDetails.unifiedRoles": "array", "accessDetails.unifiedRoles[]": "object",
		"accessDetails.unifiedRoles[].roleDefinitionId": "string",
	}
)

func assertShape(t *testing.T, what string, item map[string]any, documented map[string]string) {
	t.Helper()
	got := shape("", item, map[string]string{})
	for path, kinds := range documented {
		if !slices.Contains(strings.Split(kinds, "|"), got[path]) {
			t.Errorf("%s: %s is %q, documented as %s", what, path, got[path], kinds)
		}
	}
}

type graphCollection struct {
	Context  string           `json:"@odata.context"`
	NextLink string           `json:"@odata.nextLink"`
	Value    []map[string]any `json:"value"`
}

// The simulator lists GDAP relationships and their access assignments with the fields, paging,
// $top limit and permission Microsoft documents; ended and pending relationships grant nothing,
// in Graph and in Partner Center alike.
func TestGDAPRelationshipsAsDocumented(t *testing.T) {
	sc := Generate(GenerateOptions{Seed: 5, Tenants: 6, GDAP: 4})
	active, noLicenceRole, expired, pending := sc.Tenants[2], sc.Tenants[3], sc.Tenants[4], sc.Tenants[5]
	sc.Tenants[3].MissingGDAPRole = true
	sc.Tenants[4].GDAPStatus = "expired"
	sc.Tenants[5].GDAPStatus = "approvalPending"
	sc.Tenants[5].GDAPIndirectProviderTenantID = "60ea59db-a506-485e-94c5-d115f369e239"
	dir := t.TempDir()
	s, hc := startSim(t, sc, Options{StateDir: dir})
	token := gdapToken(t, s, hc, sc.PartnerTenantID)
	list := func(s *Server, query string) map[string]map[string]any {
		t.Helper()
		byTenant := map[string]map[string]any{}
		u := s.URL() + "/v1.0/tenantRelationships/delegatedAdminRelationships" + query
		for pages := 0; u != ""; pages++ {
			var p graphCollection
			if resp := call(t, hc, http.MethodGet, u, token, nil, nil, &p); resp.StatusCode != 200 {
				t.Fatalf("GET %s: %d", u, resp.StatusCode)
			}
			if p.Context != s.URL()+"/v1.0/tenantRelationships/$metadata#delegatedAdminRelationships" {
				t.Errorf("@odata.context %q", p.Context)
			}
			if query == "?$top=3" && pages == 0 && (len(p.Value) != 3 || !strings.Contains(p.NextLink, "$skiptoken=")) {
				t.Errorf("first page of 3: %d items, nextLink %q", len(p.Value), p.NextLink)
			}
			for _, item := range p.Value {
				byTenant[item["customer"].(map[string]any)["tenantId"].(string)] = item
			}
			u = p.NextLink
		}
		return byTenant
	}
	rels := list(s, "?$top=3")
	if len(rels) != 4 {
		t.Fatalf("want the 4 GDAP tenants' relationships, got %d", len(rels))
	}
	for id, item := range rels {
		assertShape(t, "relationship with "+id, item, documentedRelationship)
	}
	assertShape(t, "reseller relationship", rels[pending.ID], documentedReseller)
	if rels[pending.ID]["@odata.type"] != "#microsoft.graph.resellerDelegatedAdminRelationship" || rels[pending.ID]["isPartnerConsentPending"] != true ||
		rels[pending.ID]["activatedDateTime"] != nil || rels[pending.ID]["endDateTime"] != nil {
		t.Errorf("pending reseller relationship %v", rels[pending.ID])
	}
	if r := rels[active.ID]; r["@odata.type"] != "#microsoft.graph.delegatedAdminRelationship" || r["status"] != "active" || r["duration"] != "P730D" {
		t.Errorf("active relationship %v", r)
	}
	if _, ok := rels[active.ID]["isPartnerConsentPending"]; ok {
		t.Error("isPartnerConsentPending belongs to reseller relationships only")
	}
	if r := rels[expired.ID]; r["status"] != "expired" || r["autoExtendDuration"] != "PT0S" {
		t.Errorf("expired relationship %v", r)
	}

	// $top is limited to 300; an app-only token without the permission is refused.
	var e graphErr
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/tenantRelationships/delegatedAdminRelationships?$top=301", token, nil, nil, &e); resp.StatusCode != 400 {
		t.Errorf("$top=301: %d", resp.StatusCode)
	}
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/tenantRelationships/delegatedAdminRelationships?$select=id", token, nil, nil, &e); resp.StatusCode != 400 {
		t.Errorf("$select is refused, not ignored: %d", resp.StatusCode)
	}
	if n := len(list(s, "?$top=300")); n != 4 {
		t.Errorf("$top=300: %d relationships", n)
	}
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/tenantRelationships/delegatedAdminRelationships", appToken(t, hc, s, sc.PartnerTenantID), nil, nil, &e); resp.StatusCode != 403 || e.Error.Code != "Authorization_RequestDenied" {
		t.Errorf("without DelegatedAdminRelationship.Read.All: %d %+v", resp.StatusCode, e)
	}

	// Access assignments: active while the relationship is, deleted once it ended, none before.
	assignments := func(tenant Tenant) []map[string]any {
		t.Helper()
		var p graphCollection
		u := s.URL() + "/v1.0/tenantRelationships/delegatedAdminRelationships/" + rels[tenant.ID]["id"].(string) + "/accessAssignments"
		if resp := call(t, hc, http.MethodGet, u, token, nil, nil, &p); resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
		if p.Context != s.URL()+"/v1.0/tenantRelationships/$metadata#accessAssignments" {
			t.Errorf("@odata.context %q", p.Context)
		}
		return p.Value
	}
	a := assignments(active)
	if len(a) != 1 || a[0]["status"] != "active" {
		t.Fatalf("assignments of the active relationship: %v", a)
	}
	assertShape(t, "access assignment", a[0], documentedAssignment)
	if a := assignments(expired); len(a) != 1 || a[0]["status"] != "deleted" {
		t.Errorf("assignments of the expired relationship: %v", a)
	}
	if a := assignments(pending); len(a) != 0 {
		t.Errorf("assignments of the pending relationship: %v", a)
	}
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/tenantRelationships/delegatedAdminRelationships/nope/accessAssignments", token, nil, nil, &e); resp.StatusCode != 400 || e.Error.Code != "badRequest" {
		t.Errorf("unknown relationship: %d %+v", resp.StatusCode, e)
	}

	// Partner Center lets the partner read licences through an active relationship with a
	// licence-reading role only.
	pc := pcToken(t, s, hc, sc.PartnerTenantID)
	skus := func(s *Server, tenant Tenant) (int, int) {
		var e pcErrorBody
		resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tenant.ID+"/subscribedskus", pc, nil, nil, &e)
		return resp.StatusCode, e.Code
	}
	for _, c := range []struct {
		tenant Tenant
		status int
	}{{active, 200}, {noLicenceRole, 403}, {expired, 403}, {pending, 403}, {sc.Tenants[0], 200}} {
		if got, code := skus(s, c.tenant); got != c.status || got == 403 && code != pcRoleLacksRights {
			t.Errorf("%s: subscribed SKUs %d (code %d), want %d", c.tenant.Name, got, code, c.status)
		}
	}

	// Terminated at runtime: ended now, and so after a restart.
	admin, err := NewAdminClient(s.URL(), s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	if err := admin.SetGDAPStatus(context.Background(), active.ID, "terminated"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGDAPStatus(sc.Tenants[0].ID, "terminated"); err == nil {
		t.Error("a DAP tenant has no GDAP relationship to terminate")
	}
	if err := s.SetGDAPStatus(active.ID, "gone"); err == nil {
		t.Error("an undocumented status must be refused")
	}
	s.Close()
	s2, _ := startSim(t, sc, Options{StateDir: dir})
	r := list(s2, "")[active.ID]
	end, perr := time.Parse(time.RFC3339, r["endDateTime"].(string))
	if r["status"] != "terminated" || perr != nil || time.Since(end) > time.Minute {
		t.Errorf("terminated relationship %v", r)
	}
	if got, _ := skus(s2, active); got != 403 {
		t.Errorf("subscribed SKUs through a terminated relationship: %d", got)
	}
	if err := s2.SetGDAPStatus(active.ID, "active"); err != nil {
		t.Fatal(err)
	}
	if got, _ := skus(s2, active); got != 200 {
		t.Errorf("subscribed SKUs through a renewed relationship: %d", got)
	}
}
