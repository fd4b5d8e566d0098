package licensing_test

import (
	"strings"
	"testing"

	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/sim"
)

// Every SKU the simulator hands out carries Microsoft's GUID, string id and product name.
func TestSimulatorCatalogueResolves(t *testing.T) {
	skus := sim.CatalogSkus()
	if len(skus) == 0 {
		t.Fatal("the simulator has no catalogue")
	}
	for _, k := range skus {
		if got := licensing.ProductName(k.SkuID, ""); got != k.Name {
			t.Errorf("%s (%s): by GUID %q, the simulator calls it %q", k.PartNumber, k.SkuID, got, k.Name)
		}
		if got := licensing.ProductName("", k.PartNumber); got != k.Name {
			t.Errorf("%s: by string id %q, the simulator calls it %q", k.PartNumber, got, k.Name)
		}
	}
}

func TestProductName(t *testing.T) {
	tests := []struct {
		name, skuID, part, want string
	}{
		{"by GUID", "6fd2c87f-b296-42f0-b197-1e91e994b900", "", "Office 365 E3"},
		{"GUID wins over a mismatched string id", "6fd2c87f-b296-42f0-b197-1e91e994b900", "SPB", "Office 365 E3"},
		{"GUID in upper case with spaces", " 078D2B04-F1BD-4111-BBD4-B4B1B354CEF4 ", "", "Microsoft Entra ID P1"},
		{"unknown GUID falls back to the string id", "00000000-0000-4000-8000-000000000000", "EMS", "Enterprise Mobility + Security E3"},
		{"string id in any case", "", "exchangestandard", "Exchange Online (Plan 1)"},
		{"renamed product uses the reference's current name", "53818b1b-4a27-454b-8896-0dba576410e6", "PROJECTPROFESSIONAL", "Planner and Project Plan 3"},
		{"name with a comma survives the CSV", "", "DYN365_ENTERPRISE_CASE_MANAGEMENT_GOV", "Dynamics 365 for Case Management, Enterprise Edition for Government"},
		// MCOPSTN5 names two products in the reference: the GUID tells them apart, the
		// string id alone gets the first listed.
		{"shared string id, by GUID", "d43177b5-475b-4880-92d4-d54c27b5efbd", "MCOPSTN5", "Skype for Business PSTN Calling Domestic Small"},
		{"shared string id, first listed", "", "MCOPSTN5", "Skype for Business PSTN Domestic Calling (120 Minutes)"},
		{"unknown product keeps its string id", "00000000-0000-4000-8000-000000000000", "CONTOSO_WIDGETS", "CONTOSO_WIDGETS"},
		{"nothing known", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := licensing.ProductName(tc.skuID, tc.part); got != tc.want {
				t.Errorf("ProductName(%q, %q) = %q, want %q", tc.skuID, tc.part, got, tc.want)
			}
		})
	}
}

// Every SKU counted as Entra ID premium is a product of the reference; the simulator's SKUs,
// built from the same reference, agree: premium exactly when their service plans include
// Entra ID P1 or P2.
func TestEntraPremiumSkus(t *testing.T) {
	for _, id := range licensing.EntraPremiumSkus() {
		if licensing.ProductName(id, "") == "" {
			t.Errorf("SKU %s is not in products.csv", id)
		}
	}
	if !licensing.EntraPremium("078D2B04-F1BD-4111-BBD4-B4B1B354CEF4") {
		t.Error("Microsoft Entra ID P1 is premium, in any case")
	}
	for _, k := range sim.CatalogSkus() {
		plans := false
		for _, p := range k.ServicePlans {
			plans = plans || p.Name == "AAD_PREMIUM" || p.Name == "AAD_PREMIUM_P2"
		}
		if licensing.EntraPremium(k.SkuID) != plans {
			t.Errorf("%s (%s): premium %v, its service plans say %v", k.PartNumber, k.SkuID, licensing.EntraPremium(k.SkuID), plans)
		}
	}
}

func TestLookUpByGUIDPartNumberOrName(t *testing.T) {
	for _, s := range []string{"ENTERPRISEPACK", "enterprisepack", "Office 365 E3", "6fd2c87f-b296-42f0-b197-1e91e994b900"} {
		ps, err := licensing.LookUp(s)
		if err != nil || len(ps) == 0 || ps[0].SkuID != "6fd2c87f-b296-42f0-b197-1e91e994b900" {
			t.Errorf("licensing.LookUp(%q) = %v, %v", s, ps, err)
		}
	}
	if _, err := licensing.LookUp("OFFICE365_E99"); err == nil || !strings.Contains(err.Error(), "product reference") {
		t.Errorf("an unknown licence is refused with where to look: %v", err)
	}
	if licensing.PartNumber("6FD2C87F-B296-42F0-B197-1E91E994B900") != "ENTERPRISEPACK" || licensing.PartNumber("nope") != "" {
		t.Error("PartNumber by GUID")
	}
}
