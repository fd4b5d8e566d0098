package sim

import (
	"slices"
	"strings"
	"time"
)

// Generated licences: a realistic mix of Microsoft 365 plans, add-ons, trials and lapsed
// subscriptions per tenant, built from Microsoft's published SKU and service plan ids
// ("Product names and service plan identifiers for licensing"), so code that keys on
// well-known SKUs behaves as it would against a real tenant.

func plan(id, name, display string) ServicePlan { return ServicePlan{id, name, display} }

var (
	planExchange1   = plan("9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD", "Exchange Online (Plan 1)")
	planExchange2   = plan("efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE", "Exchange Online (Plan 2)")
	planSharePoint1 = plan("c7699d2e-19aa-44de-8edf-1736da088ca1", "SHAREPOINTSTANDARD", "SharePoint (Plan 1)")
	planSharePoint2 = plan("5dbe027f-2339-4123-9542-606e4d348a72", "SHAREPOINTENTERPRISE", "SharePoint (Plan 2)")
	planTeams       = plan("57ff2da0-773e-42df-b2af-ffb7a2317929", "TEAMS1", "Microsoft Teams")
	planSkype2      = plan("0feaeb32-d00e-4d66-bd5a-43b5b83db82c", "MCOSTANDARD", "Skype for Business Online (Plan 2)")
	planAppsBiz     = plan("094e7854-93fc-4d55-b2c0-3ab5369ebdc1", "OFFICE_BUSINESS", "Microsoft 365 Apps for business")
	planAppsEnt     = plan("43de0ff5-c92c-492b-9116-175376d08c38", "OFFICESUBSCRIPTION", "Microsoft 365 Apps for enterprise")
	planEntraP1     = plan("41781fb2-bc02-4b7c-bd55-b576c07bb09d", "AAD_PREMIUM", "Microsoft Entra ID P1")
	planEntraP2     = plan("eec0eb4f-6444-4f95-aba0-50c24d67f998", "AAD_PREMIUM_P2", "Microsoft Entra ID P2")
	planMFA         = plan("8a256a2b-b617-496d-b51b-e76466e88db0", "MFA_PREMIUM", "Microsoft Azure Multi-Factor Authentication")
	planIntune      = plan("c1ec4a95-1f05-45b3-a911-aa3fa01094f5", "INTUNE_A", "Microsoft Intune")
	planRMS         = plan("bea4c11e-220a-4e6d-8eb8-8ea15d019f90", "RMS_S_ENTERPRISE", "Microsoft Azure Active Directory Rights")
	planAIP1        = plan("6c57d4b6-3b23-47a5-9bc9-69f17b4947b3", "RMS_S_PREMIUM", "Azure Information Protection Premium P1")
	planPowerBIPro  = plan("70d33638-9c74-4d01-bfd3-562de28bd4ba", "BI_AZURE_P2", "Power BI Pro")
	planVisio       = plan("663a804f-1c30-4ff0-9915-9db84f0d1cea", "VISIO_CLIENT_SUBSCRIPTION", "Visio Desktop App")
	planProject     = plan("fafd7243-e5c1-4a3a-9e40-495efcb1d3c3", "PROJECT_CLIENT_SUBSCRIPTION", "Project Online Desktop Client")
	planDefenderO1  = plan("f20fedf3-f3c3-43c3-8267-2bfdd51c0939", "ATP_ENTERPRISE", "Microsoft Defender for Office 365 (Plan 1)")
	planPhone       = plan("4828c8ec-dc2e-4779-b502-87ac9ce28ab7", "MCOEV", "Microsoft Teams Phone Standard")
)

// catalogEntry is a SKU the generator hands out, with the NCE offer Partner Center sells it
// under ("product:sku"; shaped like Partner Center's, but illustrative, not a catalogue lookup).
type catalogEntry struct {
	Sku
	offer string
}

var skuCatalog = []catalogEntry{
	{Sku{"3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS", "Microsoft 365 Business Basic",
		[]ServicePlan{planExchange1, planSharePoint1, planTeams, planSkype2}, 0}, "CFQ7TTC0LH18:0001"},
	{Sku{"f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM", "Microsoft 365 Business Standard",
		[]ServicePlan{planExchange1, planSharePoint1, planTeams, planSkype2, planAppsBiz}, 0}, "CFQ7TTC0LDPB:0001"},
	{Sku{"cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB", "Microsoft 365 Business Premium",
		[]ServicePlan{planExchange1, planSharePoint1, planTeams, planAppsBiz, planEntraP1, planMFA, planIntune, planAIP1}, 0}, "CFQ7TTC0LCHC:0002"},
	{Sku{"6fd2c87f-b296-42f0-b197-1e91e994b900", "ENTERPRISEPACK", "Office 365 E3",
		[]ServicePlan{planExchange2, planSharePoint2, planTeams, planSkype2, planAppsEnt, planRMS}, 0}, "CFQ7TTC0LF8R:0001"},
	{Sku{"05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3", "Microsoft 365 E3",
		[]ServicePlan{planExchange2, planSharePoint2, planTeams, planAppsEnt, planEntraP1, planMFA, planIntune, planAIP1}, 0}, "CFQ7TTC0LFLX:0001"},
	{Sku{"06ebc4ee-1bb5-47dd-8120-11324bc54e06", "SPE_E5", "Microsoft 365 E5",
		[]ServicePlan{planExchange2, planSharePoint2, planTeams, planAppsEnt, planEntraP1, planEntraP2, planMFA, planIntune, planAIP1, planPowerBIPro, planPhone}, 0}, "CFQ7TTC0LFLZ:0002"},
	{Sku{"4b9405b0-7788-4568-add1-99614e613b69", "EXCHANGESTANDARD", "Exchange Online (Plan 1)",
		[]ServicePlan{planExchange1}, 0}, "CFQ7TTC0LH16:0001"},
	{Sku{"078d2b04-f1bd-4111-bbd4-b4b1b354cef4", "AAD_PREMIUM", "Microsoft Entra ID P1",
		[]ServicePlan{planEntraP1, planMFA}, 0}, "CFQ7TTC0LH1H:0001"},
	{Sku{"efccb6f7-5641-4e0e-bd10-b4976e1bf68e", "EMS", "Enterprise Mobility + Security E3",
		[]ServicePlan{planEntraP1, planMFA, planIntune, planRMS, planAIP1}, 0}, "CFQ7TTC0LFK6:0001"},
	{Sku{"f8a1db68-be16-40ed-86d5-cb42ce701560", "POWER_BI_PRO", "Power BI Pro",
		[]ServicePlan{planPowerBIPro}, 0}, "CFQ7TTC0L3PB:0001"},
	{Sku{"c5928f49-12ba-48f7-ada3-0d743a3601d5", "VISIOCLIENT", "Visio Plan 2",
		[]ServicePlan{planVisio}, 0}, "CFQ7TTC0HD33:0002"},
	{Sku{"53818b1b-4a27-454b-8896-0dba576410e6", "PROJECTPROFESSIONAL", "Planner and Project Plan 3",
		[]ServicePlan{planProject}, 0}, "CFQ7TTC0HDB1:0002"},
	{Sku{"4ef96642-f096-40de-a3e9-d83fb2f90211", "ATP_ENTERPRISE", "Microsoft Defender for Office 365 (Plan 1)",
		[]ServicePlan{planDefenderO1}, 0}, "CFQ7TTC0LHRJ:0001"},
	// Teams Exploratory is free and self-service: a subscribed SKU with no partner subscription.
	{Sku{"710779e8-3d4a-4c88-adb9-386c958d1fdf", "TEAMS_EXPLORATORY", "Microsoft Teams Exploratory",
		[]ServicePlan{planTeams, planExchange1}, 0}, ""},
}

// CatalogSkus returns the SKUs generated scenarios draw from, for tools and tests that need
// Microsoft's identifiers (e.g. to add a subscription for a product a tenant lacks).
func CatalogSkus() []Sku {
	out := make([]Sku, len(skuCatalog))
	for i, c := range skuCatalog {
		out[i] = c.Sku
		out[i].ServicePlans = slices.Clone(c.ServicePlans)
	}
	return out
}

func catalogEntryFor(key string) *catalogEntry {
	for i := range skuCatalog {
		if strings.EqualFold(skuCatalog[i].SkuID, key) || strings.EqualFold(skuCatalog[i].PartNumber, key) {
			return &skuCatalog[i]
		}
	}
	return nil
}

// catalogSku returns a copy of the catalogue SKU with that id or part number, or nil.
func catalogSku(key string) *Sku {
	c := catalogEntryFor(key)
	if c == nil {
		return nil
	}
	k := c.Sku
	k.ServicePlans = slices.Clone(c.ServicePlans)
	return &k
}

// offerFor is the offer id a new subscription for skuID gets by default.
func offerFor(skuID string) string {
	if c := catalogEntryFor(skuID); c != nil {
		return c.offer
	}
	return ""
}

// licences gives a tenant its SKUs, subscriptions and assignments: one base plan that every
// user with a usage location holds (Graph licenses no one without), sometimes split into an
// annual subscription plus a monthly-term one for flexible seats, then add-ons, a trial, and
// now and then a suspended or expired add-on.
func (g generator) licences(t *Tenant) {
	licensed := []int{} // users who can hold licences
	for j, u := range t.Users {
		if u.UsageLocation != "" {
			licensed = append(licensed, j)
		}
	}
	give := func(part string, users, spare int, subs ...string) *Sku {
		k := catalogSku(part)
		t.Skus = append(t.Skus, *k)
		users = min(users, len(licensed))
		for _, j := range licensed[:users] {
			t.Users[j].AssignedSkuIDs = append(t.Users[j].AssignedSkuIDs, k.SkuID)
		}
		seats := max(users+spare, 1)
		for i, term := range subs {
			n := seats
			if len(subs) > 1 && i == 0 {
				n = seats - max(seats/5, 1) // the annual commitment; the rest is month to month
			} else if len(subs) > 1 {
				n = max(seats/5, 1)
			}
			t.Subscriptions = append(t.Subscriptions, g.subscription(k, n, term))
		}
		return &t.Skus[len(t.Skus)-1]
	}

	// Base plan. One tenant in four is full: assigning one more licence fails.
	spare := 0
	if g.rng.IntN(4) != 0 {
		spare = 1 + g.rng.IntN(5)
	}
	base := g.weighted([]string{"O365_BUSINESS_ESSENTIALS", "O365_BUSINESS_PREMIUM", "SPB", "SPE_E3", "ENTERPRISEPACK"}, []int{20, 25, 30, 15, 10})
	terms := []string{"P1Y"}
	if len(licensed)+spare >= 5 && g.rng.IntN(3) == 0 {
		terms = []string{"P1Y", "P1M"}
	}
	give(base, len(licensed), spare, terms...)

	few := func(n int) int { return 1 + g.rng.IntN(n) }
	if (base == "O365_BUSINESS_ESSENTIALS" || base == "O365_BUSINESS_PREMIUM") && g.rng.IntN(5) == 0 {
		give("AAD_PREMIUM", few(3), g.rng.IntN(2), "P1Y")
	}
	if base == "ENTERPRISEPACK" && g.rng.IntN(2) == 0 {
		give("EMS", len(licensed), g.rng.IntN(3), "P1Y")
	}
	if g.rng.IntN(4) == 0 {
		give("POWER_BI_PRO", few(4), g.rng.IntN(2), "P1M")
	}
	if g.rng.IntN(7) == 0 {
		give("EXCHANGESTANDARD", 0, few(3), "P1M") // shared and service mailboxes
	}
	if g.rng.IntN(10) == 0 {
		give("VISIOCLIENT", 1, g.rng.IntN(2), "P1Y")
	}
	if g.rng.IntN(10) == 0 {
		give("PROJECTPROFESSIONAL", 1, g.rng.IntN(2), "P1Y")
	}
	if g.rng.IntN(10) == 0 {
		give("ATP_ENTERPRISE", len(licensed), 0, "P1M")
	}
	if g.rng.IntN(10) == 0 {
		k := give("TEAMS_EXPLORATORY", g.rng.IntN(2), 0)
		k.NonPartnerUnits = 100
	}
	if g.rng.IntN(10) == 0 {
		give("SPE_E5", 1, 24, "P1M")
		trial := &t.Subscriptions[len(t.Subscriptions)-1]
		trial.IsTrial, trial.AutoRenewEnabled = true, false
		trial.OfferName += " Trial"
		trial.FriendlyName = trial.OfferName
	}

	// Lapsed add-ons: suspended (cancelled, seats recoverable) or expired (grace period).
	// The base plan's first subscription always stays active.
	if n := len(t.Subscriptions); n > 1 {
		switch r := g.rng.IntN(100); {
		case r < 15:
			t.Subscriptions[1+g.rng.IntN(n-1)].Status = SubscriptionSuspended
		case r < 30:
			sub := &t.Subscriptions[1+g.rng.IntN(n-1)]
			sub.Status, sub.AutoRenewEnabled = SubscriptionExpired, false
			sub.CommitmentEndDate = generatedEpoch.AddDate(0, 0, -1-g.rng.IntN(20))
		}
	}
	for _, k := range t.Skus {
		if slices.Contains(k.ServicePlans, planEntraP1) {
			t.PremiumLicence = true
		}
	}
}

func (g generator) weighted(choices []string, weights []int) string {
	total := 0
	for _, w := range weights {
		total += w
	}
	r := g.rng.IntN(total)
	for i, w := range weights {
		if r -= w; r < 0 {
			return choices[i]
		}
	}
	return choices[len(choices)-1]
}

// subscription is a partner subscription for k. Annual terms are billed monthly or yearly;
// P1M terms month to month. Dates fall before generatedEpoch, with the current term running.
func (g generator) subscription(k *Sku, seats int, term string) Subscription {
	created := generatedEpoch.AddDate(0, -1-g.rng.IntN(30), -g.rng.IntN(28)).Truncate(24 * time.Hour)
	billing := "monthly"
	if term == "P1Y" && g.rng.IntN(3) == 0 {
		billing = "annual"
	}
	if term == "P1M" {
		created = generatedEpoch.AddDate(0, 0, -1-g.rng.IntN(27)).Truncate(24 * time.Hour)
	}
	return Subscription{
		ID: g.uuid(), OfferID: offerFor(k.SkuID), OfferName: k.Name, FriendlyName: k.Name,
		SkuID: k.SkuID, Quantity: seats, Status: SubscriptionActive,
		CreationDate: created, CommitmentEndDate: termEnd(created, term, generatedEpoch),
		AutoRenewEnabled: true, BillingCycle: billing, TermDuration: term,
	}
}
