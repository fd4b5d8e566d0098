package sim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// licenceScenario gives tenant 0 one SKU in each state, so every status→unit rule shows:
//
//	SPB          annual 10 + monthly 3 active        → 13 enabled, Enabled
//	POWER_BI_PRO 4 suspended, 2 users keep it         → 4 suspended, available −2, Suspended
//	EMS          5 expired, 1 user                    → 5 warning, Warning
//	AAD_PREMIUM  2 deleted                            → no units, Deleted
//	TEAMS_EXPLORATORY 100 free units, no subscription → 100 enabled, Enabled
//	SPE_E5       25-seat trial                        → 25 enabled
//
// Tenant 2 (GDAP) is consented so Graph can be asked there too.
func licenceScenario() (Scenario, map[string]licenceUnits) {
	sc := Generate(GenerateOptions{Seed: 11, Tenants: 3, GDAP: 1, UsersPerTenant: 10})
	sc.Tenants[2].Consented = true
	tn := &sc.Tenants[0]
	spb, pbi, ems, aad, teams, e5 := catalogSku("SPB"), catalogSku("POWER_BI_PRO"), catalogSku("EMS"), catalogSku("AAD_PREMIUM"), catalogSku("TEAMS_EXPLORATORY"), catalogSku("SPE_E5")
	teams.NonPartnerUnits = 100
	tn.Skus = []Sku{*spb, *pbi, *ems, *aad, *teams, *e5}
	licensed := 0
	for i := range tn.Users {
		u := &tn.Users[i]
		u.AssignedSkuIDs = nil
		if u.UsageLocation == "" {
			continue
		}
		u.AssignedSkuIDs = []string{spb.SkuID}
		switch licensed {
		case 0:
			u.AssignedSkuIDs = append(u.AssignedSkuIDs, pbi.SkuID, ems.SkuID, teams.SkuID)
		case 1:
			u.AssignedSkuIDs = append(u.AssignedSkuIDs, pbi.SkuID)
		}
		licensed++
	}
	created := time.Date(2025, 1, 10, 8, 30, 0, 0, time.UTC)
	sub := func(id string, k *Sku, qty int, status, term, billing string) Subscription {
		return Subscription{ID: id, OfferID: offerFor(k.SkuID), OfferName: k.Name, FriendlyName: k.Name + " (" + term + ")",
			SkuID: k.SkuID, Quantity: qty, Status: status, CreationDate: created,
			CommitmentEndDate: termEnd(created, term, generatedEpoch), AutoRenewEnabled: status == SubscriptionActive,
			BillingCycle: billing, TermDuration: term}
	}
	trial := sub("a0000000-0000-4000-8000-000000000006", e5, 25, SubscriptionActive, "P1M", "monthly")
	trial.IsTrial = true
	tn.Subscriptions = []Subscription{
		sub("a0000000-0000-4000-8000-000000000001", spb, 10, SubscriptionActive, "P1Y", "annual"),
		sub("a0000000-0000-4000-8000-000000000002", spb, 3, SubscriptionActive, "P1M", "monthly"),
		sub("a0000000-0000-4000-8000-000000000003", pbi, 4, SubscriptionSuspended, "P1M", "monthly"),
		sub("a0000000-0000-4000-8000-000000000004", ems, 5, SubscriptionExpired, "P1Y", "monthly"),
		sub("a0000000-0000-4000-8000-000000000005", aad, 2, SubscriptionDeleted, "P1Y", "monthly"),
		trial,
	}
	return sc, map[string]licenceUnits{
		spb.SkuID:   {Enabled: 13, Consumed: licensed},
		pbi.SkuID:   {Suspended: 4, Consumed: 2},
		ems.SkuID:   {Warning: 5, Consumed: 1},
		aad.SkuID:   {},
		teams.SkuID: {Enabled: 100, Consumed: 1},
		e5.SkuID:    {Enabled: 25},
	}
}

type graphSku struct {
	SkuID            string         `json:"skuId"`
	SkuPartNumber    string         `json:"skuPartNumber"`
	CapabilityStatus string         `json:"capabilityStatus"`
	ConsumedUnits    int            `json:"consumedUnits"`
	PrepaidUnits     map[string]int `json:"prepaidUnits"`
	SubscriptionIDs  []string       `json:"subscriptionIds"`
}

// bothSkuViews fetches a tenant's subscribed SKUs from Partner Center and from Graph.
func bothSkuViews(t *testing.T, s *Server, hc *http.Client, pcTok, tenantID string) (map[string]pcSubscribedSku, map[string]graphSku) {
	t.Helper()
	var pc struct {
		TotalCount int               `json:"totalCount"`
		Items      []pcSubscribedSku `json:"items"`
	}
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tenantID+"/subscribedskus", pcTok, nil, nil, &pc); resp.StatusCode != 200 || pc.TotalCount != len(pc.Items) {
		t.Fatalf("Partner Center subscribed SKUs: %d, totalCount %d for %d", resp.StatusCode, pc.TotalCount, len(pc.Items))
	}
	var g struct {
		Value []graphSku `json:"value"`
	}
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1.0/subscribedSkus", appToken(t, hc, s, tenantID), nil, nil, &g); resp.StatusCode != 200 {
		t.Fatalf("Graph subscribedSkus: %d", resp.StatusCode)
	}
	pcBy, gBy := map[string]pcSubscribedSku{}, map[string]graphSku{}
	for _, k := range pc.Items {
		pcBy[k.ProductSku.ID] = k
	}
	for _, k := range g.Value {
		gBy[k.SkuID] = k
	}
	return pcBy, gBy
}

// checkUnits asserts that both APIs report want for a SKU, in each one's documented terms.
func checkUnits(t *testing.T, pc pcSubscribedSku, g graphSku, want licenceUnits) {
	t.Helper()
	status := want.capabilityStatus()
	total := want.Enabled + want.Warning
	if pc.ActiveUnits != want.Enabled || pc.WarningUnits != want.Warning || pc.SuspendedUnits != want.Suspended ||
		pc.ConsumedUnits != want.Consumed || pc.TotalUnits != total || pc.AvailableUnits != total-want.Consumed || pc.CapabilityStatus != status {
		t.Errorf("Partner Center %s: %+v, want %+v (%s)", pc.ProductSku.SkuPartNumber, pc, want, status)
	}
	if g.PrepaidUnits["enabled"] != want.Enabled || g.PrepaidUnits["warning"] != want.Warning || g.PrepaidUnits["suspended"] != want.Suspended ||
		g.PrepaidUnits["lockedOut"] != 0 || g.ConsumedUnits != want.Consumed || g.CapabilityStatus != status {
		t.Errorf("Graph %s: %+v, want %+v (%s)", g.SkuPartNumber, g, want, status)
	}
}

func TestSubscribedSkusFollowSubscriptionStatusInBothAPIs(t *testing.T) {
	sc, want := licenceScenario()
	s, hc := startSim(t, sc, Options{})
	pcTok := pcToken(t, s, hc, sc.PartnerTenantID)
	tn := sc.Tenants[0]
	pc, g := bothSkuViews(t, s, hc, pcTok, tn.ID)
	if len(pc) != len(tn.Skus) || len(g) != len(tn.Skus) {
		t.Fatalf("%d Partner Center and %d Graph SKUs for %d owned", len(pc), len(g), len(tn.Skus))
	}
	for _, k := range tn.Skus {
		checkUnits(t, pc[k.SkuID], g[k.SkuID], want[k.SkuID])
		p := pc[k.SkuID]
		if p.ProductSku != (pcProductSku{ID: k.SkuID, Name: k.Name, SkuPartNumber: k.PartNumber, TargetType: "User", LicenseGroupID: "group1"}) ||
			p.Attributes.ObjectType != "SubscribedSku" || len(p.ServicePlans) != len(k.ServicePlans) {
			t.Errorf("Partner Center SKU %+v", p)
		}
		if sp := p.ServicePlans[0]; sp.ID != k.ServicePlans[0].ID || sp.ServiceName != k.ServicePlans[0].Name || sp.DisplayName != k.ServicePlans[0].DisplayName || sp.TargetType != "User" {
			t.Errorf("service plan %+v, want %+v", sp, k.ServicePlans[0])
		}
	}
	// subscriptionIds lists the subscriptions that still provide units.
	if ids := g[tn.Skus[0].SkuID].SubscriptionIDs; len(ids) != 2 || ids[0] != tn.Subscriptions[0].ID || ids[1] != tn.Subscriptions[1].ID {
		t.Errorf("SPB subscriptionIds %v", ids)
	}
	if ids := g[tn.Skus[3].SkuID].SubscriptionIDs; len(ids) != 0 {
		t.Errorf("deleted subscription still listed: %v", ids)
	}

	// License group filter: everything simulated is group1 (Entra-managed); group2 is Minecraft.
	for q, n := range map[string]int{"?licenseGroupIds=Group2": 0, "?licenseGroupIds=Group1": len(tn.Skus), "?licenseGroupIds=Group1&licenseGroupIds=Group2": len(tn.Skus)} {
		var page struct {
			TotalCount int `json:"totalCount"`
		}
		call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tn.ID+"/subscribedskus"+q, pcTok, nil, nil, &page)
		if page.TotalCount != n {
			t.Errorf("%s: %d SKUs, want %d", q, page.TotalCount, n)
		}
	}

	// Graph refuses a licence beyond the total (active + warning) units.
	free := ""
	for _, u := range tn.Users {
		if u.UsageLocation != "" && !strings.Contains(strings.Join(u.AssignedSkuIDs, ","), tn.Skus[1].SkuID) {
			free = u.ID
			break
		}
	}
	body := []byte(`{"addLicenses":[{"disabledPlans":[],"skuId":"` + tn.Skus[1].SkuID + `"}],"removeLicenses":[]}`)
	var ge graphErr
	if resp := call(t, hc, http.MethodPost, s.URL()+"/v1.0/users/"+free+"/assignLicense", appToken(t, hc, s, tn.ID), body, map[string]string{"Content-Type": "application/json"}, &ge); resp.StatusCode != 400 {
		t.Errorf("assigning a suspended SKU: %d %+v", resp.StatusCode, ge)
	}
}

// TestGeneratedLicencesAgreeAcrossAPIs checks, for many generated tenants, that Partner Center
// and Graph report the units the scenario's subscriptions imply.
func TestGeneratedLicencesAgreeAcrossAPIs(t *testing.T) {
	sc := Generate(GenerateOptions{Seed: 21, Tenants: 40, UsersPerTenant: 8})
	s, hc := startSim(t, sc, Options{})
	pcTok := pcToken(t, s, hc, sc.PartnerTenantID)
	for _, tn := range sc.Tenants {
		pc, g := bothSkuViews(t, s, hc, pcTok, tn.ID)
		for _, k := range tn.Skus {
			want := licenceUnits{Enabled: k.NonPartnerUnits}
			for _, sub := range tn.Subscriptions {
				if sub.SkuID != k.SkuID {
					continue
				}
				switch sub.Status {
				case SubscriptionActive:
					want.Enabled += sub.Quantity
				case SubscriptionExpired:
					want.Warning += sub.Quantity
				case SubscriptionSuspended:
					want.Suspended += sub.Quantity
				}
			}
			for _, u := range tn.Users {
				for _, id := range u.AssignedSkuIDs {
					if id == k.SkuID {
						want.Consumed++
					}
				}
			}
			checkUnits(t, pc[k.SkuID], g[k.SkuID], want)
		}
	}
}

func TestPartnerCenterSubscriptions(t *testing.T) {
	sc, _ := licenceScenario()
	s, hc := startSim(t, sc, Options{})
	token := pcToken(t, s, hc, sc.PartnerTenantID)
	tn := sc.Tenants[0]

	var list map[string]any
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tn.ID+"/subscriptions", token, nil, nil, &list); resp.StatusCode != 200 {
		t.Fatalf("subscriptions: %d", resp.StatusCode)
	}
	wantJSON(t, "collection", list, map[string]any{
		"totalCount": len(tn.Subscriptions), "attributes.objectType": "Collection",
		"links.self.uri": "/customers/" + tn.ID + "/subscriptions",
	})
	items, _ := list["items"].([]any)
	if len(items) != len(tn.Subscriptions) {
		t.Fatalf("%d items for %d subscriptions", len(items), len(tn.Subscriptions))
	}
	for i, sub := range tn.Subscriptions {
		item := items[i]
		wantJSON(t, "subscription "+sub.ID, item, map[string]any{
			"id": sub.ID, "offerId": sub.OfferID, "offerName": sub.OfferName, "friendlyName": sub.FriendlyName,
			"quantity": sub.Quantity, "unitType": "Licenses", "status": sub.Status,
			"creationDate": "2025-01-10T08:30:00Z", "effectiveStartDate": "2025-01-10T00:00:00Z",
			"commitmentEndDate": sub.CommitmentEndDate.Format(pcTime),
			"autoRenewEnabled":  sub.AutoRenewEnabled, "isTrial": sub.IsTrial,
			"billingType": "license", "billingCycle": sub.BillingCycle, "termDuration": sub.TermDuration,
			"contractType": "subscription", "attributes.objectType": "Subscription",
			"links.self.uri":  "/customers/" + tn.ID + "/subscriptions/" + sub.ID,
			"links.offer.uri": "/offers/" + sub.OfferID + "?country=US", "links.offer.method": "GET",
		})
		for _, f := range []string{"entitlementId", "orderId"} {
			if v, _ := jsonAt(item, f).(string); !isGUID(v) {
				t.Errorf("%s: %s = %q", sub.ID, f, v)
			}
		}
		// Partner Center etags are base64 of {"id":…,"version":…}.
		var tag struct {
			ID      string `json:"id"`
			Version *int64 `json:"version"`
		}
		raw, err := base64.StdEncoding.DecodeString(jsonAt(item, "attributes.etag").(string))
		if err != nil || json.Unmarshal(raw, &tag) != nil || tag.ID != sub.ID || tag.Version == nil {
			t.Errorf("%s: etag %q decodes to %s", sub.ID, jsonAt(item, "attributes.etag"), raw)
		}
		// GET by id returns the same resource.
		var one map[string]any
		if resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tn.ID+"/subscriptions/"+strings.ToUpper(sub.ID), token, nil, nil, &one); resp.StatusCode != 200 {
			t.Fatalf("subscription %s: %d", sub.ID, resp.StatusCode)
		}
		a, _ := json.Marshal(one)
		b, _ := json.Marshal(item)
		if string(a) != string(b) {
			t.Errorf("subscription by id differs from the list:\n%s\n%s", a, b)
		}
	}
}

func TestLicenceAccessSettings(t *testing.T) {
	sc, _ := licenceScenario()
	sc.MembershipRefused = true
	gdap := sc.Tenants[2]
	sc.Tenants[2].MissingGDAPRole = true
	s, hc := startSim(t, sc, Options{})
	token := pcToken(t, s, hc, sc.PartnerTenantID)
	status := func(path string) (int, int) {
		var e pcErrorBody
		resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+path, token, nil, nil, &e)
		return resp.StatusCode, e.Code
	}
	dap := sc.Tenants[0]
	for path, want := range map[string][2]int{
		dap.ID + "/subscriptions":                                       {403, 800039}, // no reseller membership
		dap.ID + "/subscriptions/" + dap.Subscriptions[0].ID:            {403, 800039},
		dap.ID + "/subscribedskus":                                      {200, 0}, // delegated admin rights suffice
		gdap.ID + "/subscribedskus":                                     {403, 900150},
		gdap.ID:                                                         {200, 0},
		sc.Tenants[1].ID + "/subscribedskus":                            {200, 0},
		"00000000-0000-4000-8000-000000000000/subscriptions":            {403, 20002},
		gdap.ID + "/subscriptions/00000000-0000-4000-8000-000000000000": {403, 800039},
	} {
		if st, code := status(path); st != want[0] || code != want[1] {
			t.Errorf("%s: %d code %d, want %d code %d", path, st, code, want[0], want[1])
		}
	}

	// The GDAP relationship Graph lists for that customer grants no licence-reading role.
	var rel struct {
		Value []struct {
			Customer      struct{ TenantID string } `json:"customer"`
			AccessDetails struct {
				UnifiedRoles []struct {
					RoleDefinitionID string `json:"roleDefinitionId"`
				} `json:"unifiedRoles"`
			} `json:"accessDetails"`
		} `json:"value"`
	}
	call(t, hc, http.MethodGet, s.URL()+"/v1.0/tenantRelationships/delegatedAdminRelationships", gdapToken(t, s, hc, sc.PartnerTenantID), nil, nil, &rel)
	licenceReaders := map[string]bool{
		"88d8e3e3-8f55-4a1e-953a-9b9898b8876b": true, "f2ef992c-3afb-46b9-b7cf-a126ee74c451": true, // Directory Readers, Global Reader
		"fe930be7-5e62-47db-91af-98c3a49a38b1": true, "4d6ac14f-3453-41d0-bef9-a3e0c569773a": true, // User Administrator, License Administrator
		"62e90394-69f5-4237-9190-012177145e10": true, // Global Administrator
	}
	if len(rel.Value) != 1 || len(rel.Value[0].AccessDetails.UnifiedRoles) == 0 {
		t.Fatalf("relationships %+v", rel)
	}
	for _, r := range rel.Value[0].AccessDetails.UnifiedRoles {
		if licenceReaders[r.RoleDefinitionID] {
			t.Errorf("relationship still grants %s", r.RoleDefinitionID)
		}
	}

	// Both settings change at runtime and survive a restart.
	if err := s.SetMembershipRefused(false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMissingGDAPRole(gdap.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMissingGDAPRole(dap.ID, true); err == nil || !strings.Contains(err.Error(), "DAP") {
		t.Errorf("missing role on a DAP tenant: %v", err)
	}
	if st, _ := status(dap.ID + "/subscriptions"); st != 200 {
		t.Errorf("subscriptions after membership restored: %d", st)
	}
	if st, _ := status(gdap.ID + "/subscriptions"); st != 200 {
		t.Errorf("GDAP subscriptions after role granted: %d", st)
	}
	dir := s.stateDir
	s.Close()
	s2, hc2 := startSim(t, sc, Options{StateDir: dir})
	var e pcErrorBody
	if resp := call(t, hc2, http.MethodGet, s2.URL()+"/v1/customers/"+gdap.ID+"/subscriptions", token, nil, nil, &e); resp.StatusCode != 200 {
		t.Errorf("after restart the scenario's settings came back: %d %+v", resp.StatusCode, e)
	}
	if snap := s2.snapshot(); snap.MembershipRefused || snap.Tenants[2].MissingGDAPRole {
		t.Error("snapshot does not show the runtime settings")
	}

	bad := sc
	bad.Tenants = append([]Tenant(nil), sc.Tenants...)
	bad.Tenants[0].MissingGDAPRole = true
	if err := bad.validate(); err == nil || !strings.Contains(err.Error(), "missingGdapRole") {
		t.Errorf("missingGdapRole on a DAP tenant: %v", err)
	}
}

func TestLicenceChangesThroughAdminClient(t *testing.T) {
	sc, want := licenceScenario()
	dir := t.TempDir()
	s, hc := startSim(t, sc, Options{StateDir: dir})
	ctx := context.Background()
	ac, err := NewAdminClient(s.URL(), s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	pcTok := pcToken(t, s, hc, sc.PartnerTenantID)
	tn := sc.Tenants[0]
	spb, annual, monthly := tn.Skus[0].SkuID, tn.Subscriptions[0].ID, tn.Subscriptions[1].ID
	views := func() (map[string]pcSubscribedSku, map[string]graphSku) { return bothSkuViews(t, s, hc, pcTok, tn.ID) }

	// Suspend the annual SPB subscription: its 10 seats turn suspended in both APIs at once.
	sub, err := ac.SetSubscriptionStatus(ctx, tn.ID, annual, SubscriptionSuspended)
	if err != nil || sub.Status != SubscriptionSuspended {
		t.Fatalf("suspend: %+v %v", sub, err)
	}
	u := want[spb]
	u.Enabled, u.Suspended = 3, 10
	pc, g := views()
	checkUnits(t, pc[spb], g[spb], u)
	var one pcSubscription
	call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tn.ID+"/subscriptions/"+annual, pcTok, nil, nil, &one)
	if one.Status != SubscriptionSuspended {
		t.Errorf("Partner Center shows %s", one.Status)
	}
	if _, err := ac.SetSubscriptionQuantity(ctx, tn.ID, annual, 20); err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "reactivate") {
		t.Errorf("quantity of a suspended subscription: %v", err)
	}
	if _, err := ac.SetSubscriptionStatus(ctx, tn.ID, annual, SubscriptionActive); err != nil {
		t.Fatal(err)
	}
	etagBefore := one.Attributes.Etag

	// Change the monthly subscription's quantity.
	if sub, err := ac.SetSubscriptionQuantity(ctx, tn.ID, monthly, 7); err != nil || sub.Quantity != 7 {
		t.Fatalf("quantity: %+v %v", sub, err)
	}
	u.Enabled, u.Suspended = 17, 0
	pc, g = views()
	checkUnits(t, pc[spb], g[spb], u)
	call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tn.ID+"/subscriptions/"+annual, pcTok, nil, nil, &one)
	if one.Attributes.Etag == etagBefore {
		t.Error("etag did not change with the subscription")
	}

	// Buy a product the tenant lacks: the SKU appears in both APIs.
	visio := catalogSku("VISIOCLIENT")
	added, err := ac.AddSubscription(ctx, tn.ID, Subscription{SkuID: visio.SkuID, Quantity: 2})
	if err != nil || !isGUID(added.ID) || added.Status != SubscriptionActive || added.OfferName != visio.Name || added.TermDuration != "P1Y" || !added.CommitmentEndDate.After(added.CreationDate) {
		t.Fatalf("add: %+v %v", added, err)
	}
	pc, g = views()
	checkUnits(t, pc[visio.SkuID], g[visio.SkuID], licenceUnits{Enabled: 2})

	// Remove the monthly SPB subscription: gone from Partner Center, seats gone everywhere.
	if err := ac.RemoveSubscription(ctx, tn.ID, monthly); err != nil {
		t.Fatal(err)
	}
	var e pcErrorBody
	if resp := call(t, hc, http.MethodGet, s.URL()+"/v1/customers/"+tn.ID+"/subscriptions/"+monthly, pcTok, nil, nil, &e); resp.StatusCode != 404 || e.Code != 20003 {
		t.Errorf("removed subscription: %d %+v", resp.StatusCode, e)
	}
	u.Enabled = 10
	pc, g = views()
	checkUnits(t, pc[spb], g[spb], u)

	// Bad input names its cause.
	stranger := "00000000-0000-4000-8000-000000000000"
	for name, err := range map[string]error{
		"unknown tenant":       ac.RemoveSubscription(ctx, stranger, annual),
		"unknown subscription": ac.RemoveSubscription(ctx, tn.ID, stranger),
		"unknown sku":          second(ac.AddSubscription(ctx, tn.ID, Subscription{SkuID: stranger, Quantity: 1})),
		"negative quantity":    second(ac.SetSubscriptionQuantity(ctx, tn.ID, annual, -3)),
		"zero quantity":        second(ac.AddSubscription(ctx, tn.ID, Subscription{SkuID: spb, Quantity: 0})),
		"deleted stays":        second(ac.SetSubscriptionStatus(ctx, tn.ID, tn.Subscriptions[4].ID, SubscriptionActive)),
		"unknown status":       second(ac.SetSubscriptionStatus(ctx, tn.ID, annual, "paused")),
		"duplicate id":         second(ac.AddSubscription(ctx, tn.ID, Subscription{ID: annual, SkuID: spb, Quantity: 1})),
		"partner tenant":       second(ac.AddSubscription(ctx, sc.PartnerTenantID, Subscription{SkuID: spb, Quantity: 1})),
		"missing gdap on dap":  ac.SetMissingGDAPRole(ctx, tn.ID, true),
	} {
		want := "400"
		if strings.HasPrefix(name, "unknown t") || name == "unknown subscription" || name == "partner tenant" {
			want = "404"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want a %s", name, err, want)
		}
	}
	if _, err := ac.SetSubscriptionQuantity(ctx, tn.ID, annual, -3); err == nil || !strings.Contains(err.Error(), "quantity -3 is below 1") {
		t.Errorf("negative quantity names the cause: %v", err)
	}
	resp := call(t, hc, http.MethodPatch, s.URL()+"/_sim/tenants/"+tn.ID+"/subscriptions/"+annual, "", []byte(`{"quantity":3,"status":"active"}`), nil, nil)
	if resp.StatusCode != 400 {
		t.Errorf("patch with both fields: %d", resp.StatusCode)
	}

	// Settings through the admin API.
	if err := ac.SetMembershipRefused(ctx, true); err != nil {
		t.Fatal(err)
	}
	if err := ac.SetMissingGDAPRole(ctx, sc.Tenants[2].ID, true); err != nil {
		t.Fatal(err)
	}

	// Everything survives a restart on the same state directory.
	s.Close()
	s2, hc2 := startSim(t, sc, Options{StateDir: dir})
	pc2, g2 := bothSkuViews(t, s2, hc2, pcTok, tn.ID)
	checkUnits(t, pc2[spb], g2[spb], u)
	checkUnits(t, pc2[visio.SkuID], g2[visio.SkuID], licenceUnits{Enabled: 2})
	for path, code := range map[string]int{tn.ID + "/subscriptions": 800039, sc.Tenants[2].ID + "/subscribedskus": 900150} {
		var e pcErrorBody
		if resp := call(t, hc2, http.MethodGet, s2.URL()+"/v1/customers/"+path, pcTok, nil, nil, &e); resp.StatusCode != 403 || e.Code != code {
			t.Errorf("%s after restart: %d %+v", path, resp.StatusCode, e)
		}
	}
	ac2, _ := NewAdminClient(s2.URL(), s2.CAFile())
	snap, err := ac2.Scenario(ctx)
	if err != nil || len(snap.Tenants[0].Subscriptions) != len(tn.Subscriptions) || snap.Tenants[0].Skus[len(snap.Tenants[0].Skus)-1].PartNumber != "VISIOCLIENT" || !snap.MembershipRefused {
		t.Errorf("scenario snapshot after restart: %v", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestGeneratedLicenceMix(t *testing.T) {
	sc := Generate(GenerateOptions{Seed: 5, Tenants: 600, GDAP: 100, UsersPerTenant: 6})
	if err := sc.validate(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i, tn := range sc.Tenants {
		if len(tn.Subscriptions) == 0 || tn.Subscriptions[0].SkuID != tn.Skus[0].SkuID || tn.Subscriptions[0].Status != SubscriptionActive {
			t.Fatalf("tenant %d: the base plan's first subscription is not an active one for Skus[0]", i)
		}
		terms := map[string]map[string]bool{}
		for _, sub := range tn.Subscriptions {
			seen["status "+sub.Status]++
			if sub.IsTrial {
				seen["trial"]++
			}
			if terms[sub.SkuID] == nil {
				terms[sub.SkuID] = map[string]bool{}
			}
			terms[sub.SkuID][sub.TermDuration] = true
			if sub.Status == SubscriptionActive && !sub.CommitmentEndDate.After(generatedEpoch) {
				t.Errorf("tenant %d: active subscription %s ended %s", i, sub.ID, sub.CommitmentEndDate)
			}
		}
		for _, ts := range terms {
			if len(ts) > 1 {
				seen["annual and monthly"]++
			}
		}
		for _, k := range tn.Skus {
			seen[k.PartNumber]++
			if catalogSku(k.SkuID) == nil {
				t.Errorf("tenant %d: SKU %s is not in the catalogue", i, k.PartNumber)
			}
			if k.NonPartnerUnits > 0 {
				seen["non-partner units"]++
			}
		}
	}
	for _, what := range []string{"status suspended", "status expired", "trial", "annual and monthly", "non-partner units",
		"O365_BUSINESS_ESSENTIALS", "O365_BUSINESS_PREMIUM", "SPB", "ENTERPRISEPACK", "SPE_E3", "EMS", "AAD_PREMIUM",
		"POWER_BI_PRO", "TEAMS_EXPLORATORY", "EXCHANGESTANDARD"} {
		if seen[what] < 3 {
			t.Errorf("600 tenants have %s only %d times", what, seen[what])
		}
	}
	// Licences draw from their own stream: the same seed keeps its identities.
	if other := Generate(GenerateOptions{Seed: 5, Tenants: 600, GDAP: 100, UsersPerTenant: 6}); other.Tenants[599].Users[5].ID != sc.Tenants[599].Users[5].ID {
		t.Error("generation is not deterministic")
	}
}

func BenchmarkGenerate500Tenants(b *testing.B) {
	for b.Loop() {
		Generate(GenerateOptions{Seed: 1, Tenants: 500, GDAP: 100, UsersPerTenant: 25})
	}
}
