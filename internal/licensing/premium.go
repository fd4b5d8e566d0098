package licensing

import "strings"

// Entra ID P1/P2 (the service plans AAD_PREMIUM, 41781fb2-bc02-4b7c-bd55-b576c07bb09d, and
// AAD_PREMIUM_P2, eec0eb4f-6444-4f95-aba0-50c24d67f998) come with many products, not only with
// the "Microsoft Entra ID P1/P2" SKUs. Graph serves sign-in activity only in tenants that hold
// one. entraPremium lists the SKUs whose "Service plans included" name either plan in the same
// reference as products.csv (see its header): the Entra ID, Enterprise Mobility + Security and
// Microsoft 365 suites customers commonly hold. A tenant whose premium plan comes with a product
// missing here still gets its sign-in dates: Graph is asked again a day after it refused.
var entraPremium = map[string]bool{
	"078d2b04-f1bd-4111-bbd4-b4b1b354cef4": true, // AAD_PREMIUM: Microsoft Entra ID P1
	"30fc3c36-5a95-4956-ba57-c09c2a600bb9": true, // AAD_PREMIUM_FACULTY: Microsoft Entra ID P1 for faculty
	"de597797-22fb-4d65-a9fe-b7dbe8893914": true, // AAD_PREMIUM_USGOV_GCCHIGH: Microsoft Entra ID P1_USGOV_GCCHIGH
	"84a661c4-e949-4bd2-a560-ed7766fcaf2b": true, // AAD_PREMIUM_P2: Microsoft Entra ID P2
	"efccb6f7-5641-4e0e-bd10-b4976e1bf68e": true, // EMS: Enterprise Mobility + Security E3
	"b05e124f-c7cc-45a0-a6aa-8cf78c946968": true, // EMSPREMIUM: Enterprise Mobility + Security E5
	"aedfac18-56b8-45e3-969b-53edb4ba4952": true, // EMS_EDU_FACULTY: Enterprise Mobility + Security A3 for Faculty
	"cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46": true, // SPB: Microsoft 365 Business Premium
	"05e9a617-0261-4cee-bb44-138d3ef5d965": true, // SPE_E3: Microsoft 365 E3
	"dcf0408c-aaec-446c-afd4-43e3683943ea": true, // Microsoft 365 E3 (no Teams)
	"06ebc4ee-1bb5-47dd-8120-11324bc54e06": true, // SPE_E5: Microsoft 365 E5
	"18a4bd3f-0b5b-4887-b04f-61dd0ee15f5e": true, // Microsoft 365 E5 (no Teams)
	"cd2925a3-5076-4233-8931-638a8c94f773": true, // SPE_E5_NOPSTNCONF: Microsoft 365 E5 without Audio Conferencing
	"4b590615-0888-425a-a965-b3bf7789848d": true, // M365EDU_A3_FACULTY: Microsoft 365 A3 for faculty
	"e97c048c-37a4-45fb-ab50-922fbf07a370": true, // M365EDU_A5_FACULTY: Microsoft 365 A5 for faculty
	"44575883-256e-4a79-9da4-ebe9acabe2b2": true, // M365_F1: Microsoft 365 F1
	"66b55226-6b4f-492c-910c-a3b7a3c9d993": true, // SPE_F1: Microsoft 365 F3
}

// EntraPremium tells whether a SKU (its GUID, Graph's skuId) includes Entra ID P1 or P2.
func EntraPremium(skuID string) bool { return entraPremium[strings.ToLower(strings.TrimSpace(skuID))] }

// EntraPremiumSkus lists the SKUs EntraPremium knows, for a store query.
func EntraPremiumSkus() []string {
	out := make([]string, 0, len(entraPremium))
	for id := range entraPremium {
		out = append(out, id)
	}
	return out
}
