package sim

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAssignLicenseConsumedUnitsAndPermission follows Microsoft's documented user: assignLicense:
// an assignment and a removal move consumed units in Graph's subscribedSkus and Partner
// Center's subscribedskus alike, the answer is the updated user, a licence the user does not
// hold or the tenant does not own is refused, and a token whose consent lacks
// LicenseAssignment.ReadWrite.All gets Authorization_RequestDenied.
func TestAssignLicenseConsumedUnitsAndPermission(t *testing.T) {
	sc := graphScenario()
	s, hc := startSim(t, sc, Options{})
	tn := sc.Tenants[0]
	sku := tn.Skus[0].SkuID
	pcTok := pcToken(t, s, hc, sc.PartnerTenantID)
	consumed := func() (int, int) {
		pc, g := bothSkuViews(t, s, hc, pcTok, tn.ID)
		return pc[sku].ConsumedUnits, g[sku].ConsumedUnits
	}
	assign := func(token, body string) (int, map[string]any, graphErr) {
		t.Helper()
		var raw json.RawMessage
		resp := call(t, hc, http.MethodPost, s.URL()+"/v1.0/users/"+tn.Users[2].ID+"/assignLicense", token, []byte(body), map[string]string{"Content-Type": "application/json"}, &raw)
		var out map[string]any
		var e graphErr
		_ = json.Unmarshal(raw, &out)
		_ = json.Unmarshal(raw, &e)
		return resp.StatusCode, out, e
	}
	token := appToken(t, hc, s, tn.ID)
	pc0, g0 := consumed()
	if pc0 != g0 {
		t.Fatalf("consumed units differ before: Partner Center %d, Graph %d", pc0, g0)
	}

	if status, _, e := assign(token, `{"addLicenses":[],"removeLicenses":["`+sku+`"]}`); status != 400 || !strings.Contains(e.Error.Message, "does not have a corresponding license") {
		t.Errorf("removing a licence not held: %d %+v", status, e)
	}
	if status, _, e := assign(token, `{"addLicenses":[{"disabledPlans":[],"skuId":"c7df2760-2c81-4ef7-b578-5b5392b571df"}],"removeLicenses":[]}`); status != 400 || !strings.Contains(e.Error.Message, "does not correspond to a valid company License") {
		t.Errorf("a SKU the tenant does not own: %d %+v", status, e)
	}
	if status, _, e := assign(token, `{"removeLicenses":[]}`); status != 400 || !strings.Contains(e.Error.Message, "addLicenses") {
		t.Errorf("without addLicenses: %d %+v", status, e)
	}

	status, user, e := assign(token, `{"addLicenses":[{"disabledPlans":[],"skuId":"`+sku+`"}],"removeLicenses":[]}`)
	if status != 200 {
		t.Fatalf("assign: %d %+v", status, e)
	}
	if user["id"] != tn.Users[2].ID || user["assignedLicenses"] == nil || user["assignedPlans"] == nil || user["accountEnabled"] == nil {
		t.Errorf("the answer is not the updated user: %v", user)
	}
	if pc, g := consumed(); pc != pc0+1 || g != g0+1 {
		t.Errorf("after assigning: consumed Partner Center %d, Graph %d, want %d", pc, g, pc0+1)
	}
	if status, _, e := assign(token, `{"addLicenses":[],"removeLicenses":["`+sku+`"]}`); status != 200 {
		t.Fatalf("remove: %d %+v", status, e)
	}
	if pc, g := consumed(); pc != pc0 || g != g0 {
		t.Errorf("after removing: consumed Partner Center %d, Graph %d, want %d", pc, g, pc0)
	}

	// Withdrawn from the consent: tokens issued before keep their roles; new ones lack it.
	if err := s.SetLicenceWriteConsent(tn.ID, false); err != nil {
		t.Fatal(err)
	}
	if status, _, _ := assign(token, `{"addLicenses":[{"disabledPlans":[],"skuId":"`+sku+`"}],"removeLicenses":[]}`); status != 200 {
		t.Errorf("a token issued before the change: %d", status)
	}
	status, _, e = assign(appToken(t, hc, s, tn.ID), `{"addLicenses":[],"removeLicenses":["`+sku+`"]}`)
	if status != 403 || e.Error.Code != "Authorization_RequestDenied" {
		t.Errorf("without LicenseAssignment.ReadWrite.All: %d %+v", status, e)
	}
	if pc, g := consumed(); pc != pc0+1 || g != g0+1 {
		t.Errorf("a refused removal changed consumed units: Partner Center %d, Graph %d", pc, g)
	}
}

// TestAssignLicenseHeldReplyStillApplies: a caller that gives up while the answer is held
// finds the change made.
func TestAssignLicenseHeldReplyStillApplies(t *testing.T) {
	sc := graphScenario()
	s, hc := startSim(t, sc, Options{})
	tn := sc.Tenants[0]
	token := appToken(t, hc, s, tn.ID)
	s.HoldAssignLicenseReplies(time.Minute)
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/v1.0/users/"+tn.Users[2].ID+"/assignLicense",
		strings.NewReader(`{"addLicenses":[{"disabledPlans":[],"skuId":"`+tn.Skus[0].SkuID+`"}],"removeLicenses":[]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	short := *hc
	short.Timeout = 300 * time.Millisecond
	if resp, err := short.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("the answer came at once: %d", resp.StatusCode)
	}
	s.HoldAssignLicenseReplies(0)
	var u struct {
		AssignedLicenses []struct {
			SkuID string `json:"skuId"`
		} `json:"assignedLicenses"`
	}
	call(t, hc, http.MethodGet, s.URL()+"/v1.0/users/"+tn.Users[2].ID+"?$select=assignedLicenses", token, nil, nil, &u)
	if len(u.AssignedLicenses) != 1 || !strings.EqualFold(u.AssignedLicenses[0].SkuID, tn.Skus[0].SkuID) {
		t.Errorf("the change was not made: %+v", u)
	}
}
