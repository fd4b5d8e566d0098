package sim

import (
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
	"time"
)

// Realistic directory content for generated tenants: employee profiles (department, phones,
// address, employee id, on-premises attributes for tenants synced from Active Directory),
// the accounts every tenant has besides people (service accounts, scanners, shared and room
// mailboxes, guests), groups and activated directory roles. Everything derives from the
// tenant id, so it is deterministic.

// Microsoft's built-in role template ids.
var builtInRoles = []DirectoryRole{
	{RoleTemplateID: "62e90394-69f5-4237-9190-012177145e10", DisplayName: "Global Administrator",
		Description: "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities."},
	{RoleTemplateID: "fe930be7-5e62-47db-91af-98c3a49a38b1", DisplayName: "User Administrator",
		Description: "Can manage all aspects of users and groups, including resetting passwords for limited admins."},
	{RoleTemplateID: "729827e3-9c14-49f7-bb1b-9608f156bbb8", DisplayName: "Helpdesk Administrator",
		Description: "Can reset passwords for non-administrators and Helpdesk Administrators."},
}

var departments = []string{"Sales", "Marketing", "Finance", "Human Resources", "Operations", "Engineering", "Customer Service", "IT", "Legal", "Research"}

const allStaff = "All Staff"

// location is what a usage location implies for an address, phones and language.
type location struct {
	country, city, state, street, postal, phone, language string
}

var locations = map[string]location{
	"US": {"United States", "Redmond", "WA", "One Microsoft Way", "98052", "+1 425 555 %04d", "en-US"},
	"GB": {"United Kingdom", "Reading", "Berkshire", "100 Thames Valley Park Drive", "RG6 1WG", "+44 118 496 %04d", "en-GB"},
	"DE": {"Germany", "Munich", "Bavaria", "Walter-Gropius-Strasse 5", "80807", "+49 89 3176 %04d", "de-DE"},
	"NL": {"Netherlands", "Amsterdam", "North Holland", "Evert van de Beekstraat 354", "1118 CZ", "+31 20 500 %04d", "nl-NL"},
	"AU": {"Australia", "Sydney", "NSW", "11 Talavera Road", "2113", "+61 2 5550 %04d", "en-AU"},
	"FR": {"France", "Issy-les-Moulineaux", "Ile-de-France", "39 Quai du President Roosevelt", "92130", "+33 1 5555 %04d", "fr-FR"},
	"SE": {"Sweden", "Stockholm", "Stockholm", "Kungsgatan 12", "111 43", "+46 8 555 %04d", "sv-SE"},
	"CA": {"Canada", "Toronto", "ON", "81 Bay Street", "M5J 0E7", "+1 416 555 %04d", "en-CA"},
}

var (
	serviceAccounts = []string{"svc-backup", "svc-sql", "svc-adsync", "svc-printer", "svc-monitoring"}
	deviceAccounts  = []string{"scanner", "copier", "teams-room"}
	sharedMailboxes = []string{"info", "accounts", "support", "sales", "hr", "reception", "invoices"}
	rooms           = []string{"Boardroom", "Aurora", "Harbour", "Summit", "Garden", "Atlas"}
	guestDomains    = []string{"gmail.com", "outlook.com", "fabrikam.com", "contoso.com", "wingtiptoys.com"}
)

// tenantRand is a random stream of the tenant's own.
func tenantRand(tenantID, purpose string, seed int64) *rand.Rand {
	h := fnv.New64a()
	h.Write([]byte(tenantID + "\x00" + purpose))
	return rand.New(rand.NewPCG(h.Sum64(), uint64(seed)))
}

// populate gives a generated tenant's users their profiles, kinds and memberships, and the
// tenant its groups and roles. Special accounts have no usage location, so they stay
// unlicensed.
func populate(t *Tenant) {
	x := tenantRand(t.ID, "directory", 0)
	hybrid := x.IntN(10) < 3 // synced from on-premises Active Directory
	created := generatedEpoch.AddDate(-2, 0, 0)
	t.Groups = []Group{{
		ID: derivedUUID(t.ID, "group", allStaff), DisplayName: allStaff, Description: "Everyone at " + t.Name,
		Mail: "allstaff@" + t.Domain, MailNickname: "allstaff", MailEnabled: true, Unified: true, CreatedDateTime: created,
	}}
	for _, d := range departments {
		nick := slugify(d)
		t.Groups = append(t.Groups, Group{
			ID: derivedUUID(t.ID, "group", d), DisplayName: d, Description: d + " department",
			MailNickname: nick, SecurityEnabled: true, CreatedDateTime: created,
		})
	}
	for _, r := range builtInRoles {
		r.ID = derivedUUID(t.ID, "role", r.RoleTemplateID)
		t.DirectoryRoles = append(t.DirectoryRoles, r)
	}
	taken := map[string]int{} // special account names used so far, by name
	for j := range t.Users {
		u := &t.Users[j]
		if j == 0 {
			profile(x, t, u, j, hybrid)
			u.Department = "IT"
			u.MemberOf = []string{t.Groups[0].ID, groupID(t, "IT"), t.DirectoryRoles[0].ID}
			continue
		}
		switch r := x.IntN(1000); {
		case r < 25:
			special(x, t, u, taken, serviceAccounts, "")
			u.AccountEnabled, u.Department = true, "IT"
			u.LastSignIn, u.LastNonInteractiveSignIn = nil, recent(x, 48)
		case r < 35:
			special(x, t, u, taken, deviceAccounts, "")
			u.DisplayName = strings.ToUpper(u.DisplayName[:1]) + u.DisplayName[1:] + " - Reception"
			u.Mail, u.AccountEnabled = u.UserPrincipalName, true
			u.LastSignIn, u.LastNonInteractiveSignIn = nil, recent(x, 24)
		case r < 55:
			special(x, t, u, taken, sharedMailboxes, "")
			u.DisplayName = strings.ToUpper(u.DisplayName[:1]) + u.DisplayName[1:]
			u.Mail, u.AccountEnabled, u.LastSignIn = u.UserPrincipalName, false, nil
		case r < 65:
			special(x, t, u, taken, rooms, "room.")
			u.DisplayName = "Conf Room " + u.DisplayName
			u.Mail, u.AccountEnabled, u.LastSignIn = u.UserPrincipalName, false, nil
			u.OfficeLocation = fmt.Sprintf("Building %d", 1+x.IntN(4))
		case r < 95:
			guest(x, t, u)
		default:
			profile(x, t, u, j, hybrid)
			u.MemberOf = []string{t.Groups[0].ID, groupID(t, u.Department)}
			switch x.IntN(200) {
			case 0:
				u.MemberOf = append(u.MemberOf, t.DirectoryRoles[1].ID)
			case 1, 2:
				u.MemberOf = append(u.MemberOf, t.DirectoryRoles[2].ID)
			}
		}
	}
}

func groupID(t *Tenant, name string) string {
	for _, g := range t.Groups {
		if g.DisplayName == name {
			return g.ID
		}
	}
	return ""
}

// profile fills an employee's work details, keeping the generated name, UPN and job title.
func profile(x *rand.Rand, t *Tenant, u *TenantUser, j int, hybrid bool) {
	loc, ok := locations[u.UsageLocation]
	if !ok { // no usage location: not licensable, but still somewhere
		loc = locations["US"]
	}
	u.Department = departments[x.IntN(len(departments))]
	u.CompanyName = t.Name
	u.OfficeLocation = fmt.Sprintf("%d/%d", 1+x.IntN(40), 1000+x.IntN(3000))
	u.EmployeeID = fmt.Sprintf("E%06d", 100000+j)
	u.EmployeeType = "Employee"
	if x.IntN(10) == 0 {
		u.EmployeeType = "Contractor"
	}
	u.BusinessPhone = fmt.Sprintf(loc.phone, x.IntN(10000))
	if x.IntN(10) < 7 {
		u.MobilePhone = fmt.Sprintf(loc.phone, x.IntN(10000))
	}
	u.Country, u.City, u.State, u.StreetAddress, u.PostalCode = loc.country, loc.city, loc.state, loc.street, loc.postal
	u.PreferredLanguage = loc.language
	u.UserType = "Member"
	u.ProxyAddresses = []string{"SMTP:" + u.UserPrincipalName}
	if x.IntN(10) == 0 {
		u.OtherMails = []string{strings.ToLower(u.GivenName+"."+u.Surname) + "@outlook.com"}
	}
	if u.LastSignIn != nil && x.IntN(10) < 7 {
		at := u.LastSignIn.Add(time.Duration(1+x.IntN(72)) * time.Hour)
		u.LastNonInteractiveSignIn = &at
	}
	if hybrid {
		sync := true
		u.OnPremisesSyncEnabled = &sync
		u.OnPremisesSamAccountName = strings.ToLower(u.GivenName[:1]+u.Surname) + fmt.Sprint(j)
		var b [16]byte
		for i := range b {
			b[i] = byte(x.Uint32())
		}
		u.OnPremisesImmutableID = base64.StdEncoding.EncodeToString(b[:])
	}
}

// special turns u into a non-person account named from names (numbered from the second of a
// name on; people's UPNs carry a dot and an index, so they never collide).
func special(x *rand.Rand, t *Tenant, u *TenantUser, taken map[string]int, names []string, prefix string) {
	name := names[x.IntN(len(names))]
	local := prefix + slugify(name)
	if prefix == "" {
		local = strings.ToLower(name)
	}
	if n := taken[local]; n > 0 {
		local = fmt.Sprintf("%s%d", local, n+1)
	}
	taken[strings.TrimRight(local, "0123456789")]++
	upn := local + "@" + t.Domain
	*u = TenantUser{
		ID: u.ID, UserPrincipalName: upn, DisplayName: name, CreatedDateTime: u.CreatedDateTime,
		UserType: "Member", CompanyName: t.Name, ProxyAddresses: []string{"SMTP:" + upn},
	}
}

// guest turns u into an invited external user.
func guest(x *rand.Rand, t *Tenant, u *TenantUser) {
	domain := guestDomains[x.IntN(len(guestDomains))]
	mail := strings.ToLower(u.GivenName + "." + u.Surname + fmt.Sprint(x.IntN(100)) + "@" + domain)
	*u = TenantUser{
		ID: u.ID, DisplayName: u.DisplayName, GivenName: u.GivenName, Surname: u.Surname,
		UserPrincipalName: strings.ReplaceAll(mail, "@", "_") + "#EXT#@" + t.Domain,
		Mail:              mail, OtherMails: []string{mail}, ProxyAddresses: []string{"SMTP:" + mail},
		UserType: "Guest", AccountEnabled: true, CreatedDateTime: u.CreatedDateTime, LastSignIn: u.LastSignIn,
	}
}

func recent(x *rand.Rand, hours int) *time.Time {
	at := generatedEpoch.Add(-time.Duration(1+x.IntN(hours*60)) * time.Minute)
	return &at
}

// newHire makes a user created at runtime: an employee without a licence yet.
func newHire(x *rand.Rand, o *org, n int64, at time.Time) TenantUser {
	given, sur := givenNames[x.IntN(len(givenNames))], surnames[x.IntN(len(surnames))]
	upn := fmt.Sprintf("%s.%s.n%d@%s", strings.ToLower(given), strings.ToLower(sur), n, o.Domain)
	u := TenantUser{
		ID: derivedUUID(o.ID, "created-user", fmt.Sprint(n)), UserPrincipalName: upn, Mail: upn,
		DisplayName: given + " " + sur, GivenName: given, Surname: sur, JobTitle: jobTitles[x.IntN(len(jobTitles))],
		AccountEnabled: true, UsageLocation: usageLocations[x.IntN(len(usageLocations))], CreatedDateTime: at.UTC().Truncate(time.Second),
	}
	profile(x, &o.Tenant, &u, int(n)+500000, false)
	if all := groupID(&o.Tenant, allStaff); all != "" {
		u.MemberOf = append(u.MemberOf, all)
	}
	if d := groupID(&o.Tenant, u.Department); d != "" {
		u.MemberOf = append(u.MemberOf, d)
	}
	return u
}
