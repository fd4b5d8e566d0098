package sim

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestGenerateIsDeterministic(t *testing.T) {
	opts := GenerateOptions{Seed: 99, Tenants: 50, GDAP: 10, UsersPerTenant: 4}
	a, b := Generate(opts), Generate(opts)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same options produced different scenarios")
	}
	if c := Generate(GenerateOptions{Seed: 100, Tenants: 50, GDAP: 10}); c.Tenants[0].ID == a.Tenants[0].ID || c.PartnerTenantID == a.PartnerTenantID {
		t.Error("different seeds produced the same ids")
	}
	if err := a.validate(); err != nil {
		t.Fatalf("generated scenario is invalid: %v", err)
	}
	names, domains := map[string]bool{}, map[string]bool{}
	for i, tn := range a.Tenants {
		if names[tn.Name] || domains[tn.Domain] {
			t.Errorf("tenant %d repeats a name or domain: %s %s", i, tn.Name, tn.Domain)
		}
		names[tn.Name], domains[tn.Domain] = true, true
		wantGDAP := i >= 40
		if (tn.Relationship == RelationshipGDAP) != wantGDAP || tn.Consented == wantGDAP {
			t.Errorf("tenant %d: relationship %s consented %v", i, tn.Relationship, tn.Consented)
		}
		if !strings.HasSuffix(tn.Domain, ".onmicrosoft.com") || !isGUID(tn.ID) || len(tn.Users) != 4 || tn.Users[0].ID != tn.Admin.ID {
			t.Errorf("tenant %d shape: %+v", i, tn)
		}
	}
	if !a.Admin.MFARegistered || a.Admin.UPN != DefaultAdminUPN || len(a.Apps) != 2 || a.Apps[0].MultiTenant || !a.Apps[1].MultiTenant {
		t.Errorf("partner side: %+v %+v", a.Admin, a.Apps)
	}
	if DefaultSecretID == DefaultPCSecret || !isGUID(DefaultSecretID) || len(DefaultPCSecret) != 40 || len(DefaultGraphSecret) != 40 {
		t.Error("demo secrets do not look like Entra secrets and their ids")
	}
}

func TestLoadScenario(t *testing.T) {
	sc := Generate(GenerateOptions{Seed: 1, Tenants: 3, GDAP: 1, UsersPerTenant: 2})
	dir := t.TempDir()
	path := filepath.Join(dir, "scenario.json")
	data, _ := json.Marshal(sc)
	os.WriteFile(path, data, 0o600)
	got, err := LoadScenario(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sc) {
		t.Error("scenario changed in a JSON round trip")
	}

	sc.Tenants[1].ID = sc.Tenants[0].ID
	sc.Tenants[2].Relationship = "CSP"
	data, _ = json.Marshal(sc)
	os.WriteFile(path, data, 0o600)
	_, err = LoadScenario(path)
	if err == nil || !strings.Contains(err.Error(), "already used") || !strings.Contains(err.Error(), "neither DAP nor GDAP") {
		t.Errorf("invalid scenario: err = %v", err)
	}
	os.WriteFile(path, []byte(`{"partnerTenantID":"x","tenantz":[]}`), 0o600)
	if _, err := LoadScenario(path); err == nil {
		t.Error("unknown field accepted")
	}
}
