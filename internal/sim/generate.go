package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// GenerateOptions shapes a generated scenario. Zero values mean zero: Generate adds nothing
// that was not asked for.
type GenerateOptions struct {
	Seed    int64
	Tenants int
	// GDAP is how many of the tenants have a GDAP relationship (the rest have DAP). They are the
	// last ones in Scenario.Tenants and start without admin consent.
	GDAP int
	// UsersPerTenant includes the tenant's admin, who is always the first user.
	UsersPerTenant int
}

// generatedEpoch anchors every generated date, so the same seed yields byte-identical scenarios
// whenever it runs.
var generatedEpoch = time.Date(2025, time.June, 2, 9, 0, 0, 0, time.UTC)

const partnerDomain = "cspsyncdemo.onmicrosoft.com"

// loopbackRedirects registers cspsync's callback paths (the partner's sign-in, admin consent
// and operators' sign-in) on both loopback hosts. Entra ID ignores the port of loopback redirect
// URIs, so a worker on any local port matches; the path must match exactly.
var loopbackRedirects = []string{
	"http://localhost/auth/callback", "http://localhost/consent/callback", "http://localhost/auth/operator/callback",
	"http://127.0.0.1/auth/callback", "http://127.0.0.1/consent/callback", "http://127.0.0.1/auth/operator/callback",
}

// Generate builds a deterministic scenario from opts.Seed: the same options always give the same
// scenario, and different seeds give different tenant ids.
func Generate(opts GenerateOptions) Scenario {
	g := generator{rng: rand.New(rand.NewPCG(uint64(opts.Seed), 0x63737073796e63))} // "cspsync"
	sc := Scenario{
		PartnerTenantID: g.uuid(),
		PartnerDomain:   partnerDomain,
		PartnerName:     "cspsync Demo Partner",
		Apps: []App{
			{
				ClientID: DefaultPCClientID, DisplayName: "cspsync Partner Center",
				Secret: DefaultPCSecret, SecretID: DefaultSecretID,
				RedirectURIs: loopbackRedirects, GroupMembershipClaims: GroupClaimsSecurityGroup,
			},
			{
				ClientID: DefaultGraphClientID, DisplayName: "cspsync Graph",
				Secret: DefaultGraphSecret, SecretID: DefaultSecretID,
				MultiTenant: true, RedirectURIs: loopbackRedirects,
			},
		},
		Admin: User{
			ID: g.uuid(), UPN: DefaultAdminUPN, DisplayName: "Partner Admin",
			Password: DefaultAdminPassword, MFACode: DefaultMFACode, MFARegistered: true,
		},
	}
	// Derived rather than drawn ids keep the seed's random sequence, and so every tenant, as
	// it was before operators existed.
	operator := User{
		ID: derivedUUID(sc.PartnerTenantID, DefaultOperatorUPN), UPN: DefaultOperatorUPN, DisplayName: "Partner Operator",
		Password: DefaultAdminPassword, MFACode: DefaultMFACode, MFARegistered: true,
	}
	outsider := User{
		ID: derivedUUID(sc.PartnerTenantID, DefaultOutsiderUPN), UPN: DefaultOutsiderUPN, DisplayName: "Partner Outsider",
		Password: DefaultAdminPassword, MFACode: DefaultMFACode, MFARegistered: true,
	}
	sc.PartnerUsers = []User{operator, outsider}
	sc.PartnerGroups = []Group{{ID: DefaultOperatorsGroupID, DisplayName: "cspsync operators", Members: []string{sc.Admin.ID, operator.ID}}}
	gdap := min(max(opts.GDAP, 0), opts.Tenants)
	for i := range opts.Tenants {
		rel := RelationshipDAP
		if i >= opts.Tenants-gdap {
			rel = RelationshipGDAP
		}
		sc.Tenants = append(sc.Tenants, g.tenant(i, rel, opts.UsersPerTenant))
	}
	return sc
}

type generator struct{ rng *rand.Rand }

func (g generator) uuid() string {
	var b [16]byte
	for i := range b {
		b[i] = byte(g.rng.Uint32())
	}
	return formatUUID(b)
}

func (g generator) pick(list []string) string { return list[g.rng.IntN(len(list))] }

func (g generator) tenant(i int, rel string, users int) Tenant {
	base := g.pick(companyNames)
	name := fmt.Sprintf("%s %s %04d", base, g.pick(companySuffixes), i+1)
	slug := fmt.Sprintf("%s%04d", slugify(base), i+1)
	domain := slug + ".onmicrosoft.com"
	t := Tenant{
		ID: g.uuid(), Name: name, Domain: domain, Relationship: rel,
		Consented: rel == RelationshipDAP,
		Admin: User{
			ID: g.uuid(), UPN: "admin@" + domain, DisplayName: base + " Admin",
			Password: DefaultAdminPassword, MFACode: DefaultMFACode, MFARegistered: true,
		},
	}
	primary := skuCatalog[g.rng.IntN(baseSkus)]
	t.Skus = []Sku{primary}
	if g.rng.IntN(5) < 2 {
		t.Skus = append(t.Skus, skuCatalog[baseSkus+g.rng.IntN(len(skuCatalog)-baseSkus)])
	}
	for j := range users {
		t.Users = append(t.Users, g.user(t, j))
	}
	// Seats: every user with a usage location holds the primary licence; a few spare seats
	// except in roughly one tenant of four, which is full (assigning one more fails).
	licensed := 0
	for j := range t.Users {
		if t.Users[j].UsageLocation != "" {
			t.Users[j].AssignedSkuIDs = []string{primary.SkuID}
			licensed++
		}
	}
	spare := 0
	if g.rng.IntN(4) != 0 {
		spare = 1 + g.rng.IntN(5)
	}
	t.Subscriptions = append(t.Subscriptions, g.subscription(primary, licensed+spare))
	if len(t.Skus) > 1 {
		addOn := t.Skus[1]
		seats := min(licensed, 1+g.rng.IntN(3))
		n := 0
		for j := range t.Users {
			if n < seats && t.Users[j].UsageLocation != "" {
				t.Users[j].AssignedSkuIDs = append(t.Users[j].AssignedSkuIDs, addOn.SkuID)
				n++
			}
		}
		t.Subscriptions = append(t.Subscriptions, g.subscription(addOn, seats))
	}
	for _, k := range t.Skus {
		for _, p := range k.ServicePlans {
			if p.Name == "AAD_PREMIUM" {
				t.PremiumLicence = true
			}
		}
	}
	return t
}

func (g generator) user(t Tenant, j int) TenantUser {
	created := generatedEpoch.AddDate(0, 0, -30-g.rng.IntN(900))
	if j == 0 {
		a := t.Admin
		return TenantUser{
			ID: a.ID, UserPrincipalName: a.UPN, DisplayName: a.DisplayName, GivenName: "Tenant",
			Surname: "Admin", Mail: a.UPN, JobTitle: "IT Administrator", AccountEnabled: true,
			UsageLocation: "US", CreatedDateTime: created, LastSignIn: g.lastSignIn(),
		}
	}
	given, sur := g.pick(givenNames), g.pick(surnames)
	// The index keeps UPNs unique even when two users draw the same name.
	upn := fmt.Sprintf("%s.%s%d@%s", strings.ToLower(given), strings.ToLower(sur), j, t.Domain)
	u := TenantUser{
		ID: g.uuid(), UserPrincipalName: upn, DisplayName: given + " " + sur,
		GivenName: given, Surname: sur, Mail: upn, JobTitle: g.pick(jobTitles),
		AccountEnabled: g.rng.IntN(15) != 0, UsageLocation: g.pick(usageLocations),
		CreatedDateTime: created, LastSignIn: g.lastSignIn(),
	}
	// About one user in eight has no usage location: Graph refuses to licence such users.
	if g.rng.IntN(8) == 0 {
		u.UsageLocation = ""
	}
	return u
}

func (g generator) lastSignIn() *time.Time {
	if g.rng.IntN(6) == 0 {
		return nil
	}
	t := generatedEpoch.Add(-time.Duration(1+g.rng.IntN(24*60)) * time.Hour)
	return &t
}

func (g generator) subscription(k Sku, seats int) Subscription {
	created := generatedEpoch.AddDate(0, -1-g.rng.IntN(30), 0)
	return Subscription{
		ID: g.uuid(), OfferID: offerIDs[k.PartNumber], OfferName: k.Name, FriendlyName: k.Name,
		SkuID: k.SkuID, Quantity: seats, Status: "active",
		CreationDate: created, CommitmentEndDate: created.AddDate(1, 0, 0),
		AutoRenewEnabled: true, BillingCycle: "monthly", TermDuration: "P1Y",
	}
}

func slugify(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Microsoft's own fictitious company names, so generated data reads like documentation samples.
var companyNames = []string{
	"Contoso", "Fabrikam", "Northwind Traders", "Adventure Works", "Tailspin Toys",
	"Wingtip Toys", "Litware", "Proseware", "Woodgrove Bank", "Alpine Ski House",
	"Coho Winery", "Fourth Coffee", "Blue Yonder Airlines", "Lucerne Publishing",
	"Margie's Travel", "Trey Research", "Wide World Importers", "Relecloud",
	"Humongous Insurance", "Southridge Video", "VanArsdel", "Bellows College",
	"Consolidated Messenger", "City Power & Light", "Best For You Organics",
}

var companySuffixes = []string{"Ltd", "Inc", "GmbH", "LLC", "Pty Ltd", "BV", "SA", "AB", "plc", "Oy"}

var givenNames = []string{
	"Adele", "Alex", "Allan", "Diego", "Grady", "Henrietta", "Isaiah", "Johanna", "Joni",
	"Lee", "Lidia", "Lynne", "Megan", "Miriam", "Nestor", "Patti", "Pradeep", "Sara",
	"Amara", "Bruno", "Chen", "Dagny", "Emeka", "Farah", "Gustavo", "Hana", "Ivo", "Keiko",
}

var surnames = []string{
	"Vance", "Wilber", "Deyoung", "Soto", "Archie", "Mueller", "Langer", "Lauer", "Sherman",
	"Gu", "Holloway", "Robbins", "Bowen", "Graham", "Wilke", "Fernandez", "Gupta", "Davis",
	"Okafor", "Lindqvist", "Tanaka", "Rossi", "Novak", "Haddad", "Costa", "Kowalski",
}

var jobTitles = []string{
	"Sales Manager", "Marketing Assistant", "Developer", "Accountant", "Product Manager",
	"Support Engineer", "HR Manager", "Office Manager", "Designer", "Consultant",
}

var usageLocations = []string{"US", "GB", "DE", "NL", "AU", "FR", "SE", "CA"}

// Service plans and SKUs carry Microsoft's published GUIDs and part numbers, so code that keys
// on well-known SKUs behaves as it would against a real tenant.
var (
	planExchangeStd  = ServicePlan{"9aaf7827-d63c-4b61-89c3-182f06f82e5c", "EXCHANGE_S_STANDARD"}
	planExchangeEnt  = ServicePlan{"efb87545-963c-4e0d-99df-69c6916d9eb0", "EXCHANGE_S_ENTERPRISE"}
	planSharePoint   = ServicePlan{"c7699d2e-19aa-44de-8edf-1736da088ca1", "SHAREPOINTSTANDARD"}
	planSharePointE  = ServicePlan{"5dbe027f-2339-4123-9542-606e4d348a72", "SHAREPOINTENTERPRISE"}
	planTeams        = ServicePlan{"57ff2da0-773e-42df-b2af-ffb7a2317929", "TEAMS1"}
	planSkypeStd     = ServicePlan{"0feaeb32-d00e-4d66-bd5a-43b5b83db82c", "MCOSTANDARD"}
	planOfficeApps   = ServicePlan{"43de0ff5-c92c-492b-9116-175376d08c38", "OFFICESUBSCRIPTION"}
	planEntraPremium = ServicePlan{"41781fb2-bc02-4b7c-bd55-b576c07bb09d", "AAD_PREMIUM"}
)

// skuCatalog lists baseSkus base plans (one per tenant), then add-ons.
const baseSkus = 4

var skuCatalog = []Sku{
	{"3b555118-da6a-4418-894f-7df1e2096870", "O365_BUSINESS_ESSENTIALS", "Microsoft 365 Business Basic",
		[]ServicePlan{planExchangeStd, planSharePoint, planTeams, planSkypeStd}},
	{"f245ecc8-75af-4f8e-b61f-27d8114de5f3", "O365_BUSINESS_PREMIUM", "Microsoft 365 Business Standard",
		[]ServicePlan{planExchangeStd, planSharePoint, planTeams, planSkypeStd, planOfficeApps}},
	{"cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46", "SPB", "Microsoft 365 Business Premium",
		[]ServicePlan{planExchangeStd, planSharePoint, planTeams, planOfficeApps, planEntraPremium}},
	{"05e9a617-0261-4cee-bb44-138d3ef5d965", "SPE_E3", "Microsoft 365 E3",
		[]ServicePlan{planExchangeEnt, planSharePointE, planTeams, planOfficeApps, planEntraPremium}},
	{"4b9405b0-7788-4568-add1-99614e613b69", "EXCHANGESTANDARD", "Exchange Online (Plan 1)",
		[]ServicePlan{planExchangeStd}},
	{"078d2b04-f1bd-4111-bbd4-b4b1b354cef4", "AAD_PREMIUM", "Microsoft Entra ID P1",
		[]ServicePlan{planEntraPremium}},
}

// offerIDs are NCE-style "product:sku" offer ids. They look like Partner Center's but are
// illustrative, not a catalogue lookup.
var offerIDs = map[string]string{
	"O365_BUSINESS_ESSENTIALS": "CFQ7TTC0LH18:0001",
	"O365_BUSINESS_PREMIUM":    "CFQ7TTC0LDPB:0001",
	"SPB":                      "CFQ7TTC0LCHC:0002",
	"SPE_E3":                   "CFQ7TTC0LFLX:0001",
	"EXCHANGESTANDARD":         "CFQ7TTC0LH16:0001",
	"AAD_PREMIUM":              "CFQ7TTC0LFLZ:0002",
}
