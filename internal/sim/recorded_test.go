package sim

import (
	"net/http"
	"strings"
	"testing"
)

// Microsoft's documented users/delta example is served to one tenant in order, verbatim but for
// links that name the simulator; other tenants keep the simulator's own change tracking, and a
// request the recording does not expect is refused saying what it expects.
func TestServeRecordedDelta(t *testing.T) {
	rec, err := LoadRecordedDelta("testdata/graph/users-delta-concept-example.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Exchanges) != 5 || !strings.Contains(rec.Source, "delta-query-users") {
		t.Fatalf("fixture: %d exchanges from %q", len(rec.Exchanges), rec.Source)
	}
	sc := Generate(GenerateOptions{Seed: 42, Tenants: 2, UsersPerTenant: 3})
	s, hc := startSim(t, sc, Options{})
	tn := sc.Tenants[0]
	if err := s.ServeRecordedDelta(tn.ID, rec); err != nil {
		t.Fatal(err)
	}
	token := appToken(t, hc, s, tn.ID)

	// A wrong token is refused before anything is served.
	_, e, resp := get(t, hc, s.URL()+"/v1.0/users/delta?$skiptoken=nope", token, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error.Message, "expects GET https://graph.microsoft.com/v1.0/users/delta?$select=") {
		t.Fatalf("wrong token: %d %+v", resp.StatusCode, e)
	}
	// Round 1: three pages, seven users and one removed, with the client's own $select.
	items, deltaLink, pages := deltaRound(t, s, hc, token, s.URL()+"/v1.0/users/delta()?$select=id,accountEnabled,displayName", nil)
	if pages != 3 || len(items) != 8 || items[2]["@removed"] == nil || items[3]["displayName"] != "Conf Room Adams" {
		t.Fatalf("round 1: %d items in %d pages: %v", len(items), pages, items)
	}
	// Round 2: no change; round 3: a rename and a removal.
	items, deltaLink, _ = deltaRound(t, s, hc, token, deltaLink, nil)
	if len(items) != 0 {
		t.Fatalf("round 2: %v", items)
	}
	items, _, _ = deltaRound(t, s, hc, token, deltaLink, nil)
	if len(items) != 2 || items[0]["displayName"] != "MOD Administrator" || items[1]["@removed"] == nil {
		t.Fatalf("round 3: %v", items)
	}
	_, e, resp = get(t, hc, deltaLink, token, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error.Message, "all served") {
		t.Fatalf("after the recording: %d %+v", resp.StatusCode, e)
	}

	// The other tenant's users/delta is the simulator's.
	other := appToken(t, hc, s, sc.Tenants[1].ID)
	items, _, _ = deltaRound(t, s, hc, other, s.URL()+"/v1.0/users/delta?$select=displayName", nil)
	if len(items) != 3 {
		t.Fatalf("other tenant: %d users", len(items))
	}
}
