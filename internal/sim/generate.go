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
	// TenantUsers, where set and positive, overrides UsersPerTenant for tenant i, e.g. one
	// large tenant among small ones.
	TenantUsers []int
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
	g := generator{rng: rand.New(rand.NewPCG(uint64(opts.Seed), 0x63737073796e63)), seed: uint64(opts.Seed)} // "cspsync"
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
	sc.PartnerGroups = []PartnerGroup{{ID: DefaultOperatorsGroupID, DisplayName: "cspsync operators", Members: []string{sc.Admin.ID, operator.ID}}}
	gdap := min(max(opts.GDAP, 0), opts.Tenants)
	for i := range opts.Tenants {
		rel := RelationshipDAP
		if i >= opts.Tenants-gdap {
			rel = RelationshipGDAP
		}
		users := opts.UsersPerTenant
		if i < len(opts.TenantUsers) && opts.TenantUsers[i] > 0 {
			users = opts.TenantUsers[i]
		}
		sc.Tenants = append(sc.Tenants, g.tenant(i, rel, users))
	}
	return sc
}

type generator struct {
	rng  *rand.Rand
	seed uint64
}

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
	t.Users = make([]TenantUser, 0, users)
	for j := range users {
		t.Users = append(t.Users, g.user(t, j))
	}
	// Profiles, kinds of account, groups and roles come from a stream of their own, so adding
	// them left every earlier generated value as it was.
	populate(&t)
	// Licences draw from their own stream too, after the profiles that decide who can hold one.
	lic := generator{rng: rand.New(rand.NewPCG(g.seed, uint64(i)+1))}
	lic.licences(&t)
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
