package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Demo credentials baked into generated scenarios. They are public on purpose: the simulator is
// a local test double, and fixed values let docs, demos and tests share one configuration.
const (
	// DefaultPCClientID is the single-tenant app registration used for Partner Center (app+user).
	DefaultPCClientID = "5d1c8a6e-3f2b-4c7d-9e81-0a4b6c2d8e11"
	// DefaultPCSecret is the secret value of the Partner Center app.
	DefaultPCSecret = "pCs8Q~SimulatedPartnerCenterSecretValue1"
	// DefaultGraphClientID is the multi-tenant app registration used for Graph in customer tenants.
	DefaultGraphClientID = "9a7e4b20-6c1d-4f38-8b52-3e9d0c7a1f22"
	// DefaultGraphSecret is the secret value of the Graph app.
	DefaultGraphSecret = "gRs8Q~SimulatedGraphMultiTenantSecretVl2"
	// DefaultSecretID is the ID (not the value) of both apps' secrets. Portals show it next to the
	// value, and pasting it as the secret is a classic mistake: it yields AADSTS7000215.
	DefaultSecretID = "3b6f0d2e-8a41-4c95-b7e3-1d2c4a6f8e90"
	// DefaultAdminUPN is the partner administrator who signs in.
	DefaultAdminUPN = "admin@cspsyncdemo.onmicrosoft.com"
	// DefaultOperatorUPN is a partner user in the operators group who is no administrator.
	DefaultOperatorUPN = "operator@cspsyncdemo.onmicrosoft.com"
	// DefaultOutsiderUPN is a partner user outside the operators group.
	DefaultOutsiderUPN = "outsider@cspsyncdemo.onmicrosoft.com"
	// DefaultOperatorsGroupID is the object id of the partner's "cspsync operators" security
	// group: the admin and the operator are members.
	DefaultOperatorsGroupID = "6f2d9c41-8b7a-4e35-a1c0-5d3e7b9f2a64"
	// DefaultAdminPassword is the password of every generated user who signs in.
	DefaultAdminPassword = "Sim-Demo-Passw0rd!"
	// DefaultMFACode is the one-time code every generated MFA-registered user accepts.
	DefaultMFACode = "123456"
)

// Values of App.GroupMembershipClaims the simulator implements; Entra ID also knows
// "DirectoryRole" and "ApplicationGroup".
const (
	GroupClaimsNone          = "None"
	GroupClaimsSecurityGroup = "SecurityGroup"
	GroupClaimsAll           = "All"
)

// Relationship values of Tenant.Relationship.
const (
	RelationshipDAP  = "DAP"
	RelationshipGDAP = "GDAP"
)

// Scenario is the whole simulated world: the partner tenant, its app registrations, admin,
// users and groups, and its customer tenants. It is plain data (JSON-serialisable) so a scenario can be generated,
// saved, edited and loaded again; the server keeps runtime changes in its state directory.
type Scenario struct {
	PartnerTenantID string `json:"partnerTenantId"`
	PartnerDomain   string `json:"partnerDomain"`
	// PartnerName is the partner organisation's display name; empty means derived from the domain.
	PartnerName string   `json:"partnerName,omitempty"`
	Apps        []App    `json:"apps"`
	Admin       User     `json:"admin"`
	Tenants     []Tenant `json:"tenants"`
	// PartnerUsers are further people of the partner tenant who sign in, such as operators.
	PartnerUsers []User `json:"partnerUsers,omitempty"`
	// PartnerGroups are the partner tenant's security groups.
	PartnerGroups []PartnerGroup `json:"partnerGroups,omitempty"`
	// AutoMFA completes the MFA step without asking for a code, as if the user approved an
	// Authenticator push. Sign-ins still count as MFA-backed.
	AutoMFA bool `json:"autoMfa,omitempty"`
	// MembershipRefused means the partner lacks the CSP reseller membership that Partner
	// Center's subscriptions API requires: GET .../subscriptions answers 403 (code 800039)
	// while subscribed SKUs, which only need delegated admin rights, still work.
	MembershipRefused bool `json:"membershipRefused,omitempty"`
}

// App is an app registration in the partner tenant.
type App struct {
	ClientID    string `json:"clientId"`
	DisplayName string `json:"displayName"`
	Secret      string `json:"secret"`
	// SecretID identifies the secret; sending it instead of Secret fails with AADSTS7000215.
	SecretID      string `json:"secretId"`
	SecretExpired bool   `json:"secretExpired,omitempty"`
	// MultiTenant apps can get tokens in customer tenants that consented; single-tenant apps only
	// in the partner tenant, and (like apps registered after October 2018) not via /common or
	// /organizations.
	MultiTenant bool `json:"multiTenant"`
	// RedirectURIs are matched exactly, except that for http loopback URIs (localhost,
	// 127.0.0.1) the port is ignored, as Entra ID does.
	RedirectURIs []string `json:"redirectUris"`
	// GroupMembershipClaims, named as in the Entra app manifest, puts the signed-in user's
	// group object ids in the app's ID tokens ("groups" claim): GroupClaimsSecurityGroup or
	// GroupClaimsAll (the same here: every simulated group is a security group). Empty or
	// GroupClaimsNone leaves the claim out.
	GroupMembershipClaims string `json:"groupMembershipClaims,omitempty"`
}

func (a *App) emitsGroups() bool {
	return a.GroupMembershipClaims == GroupClaimsSecurityGroup || a.GroupMembershipClaims == GroupClaimsAll
}

// User is an account that signs in interactively: the partner admin, a partner user or a
// customer tenant admin.
type User struct {
	ID            string `json:"id"`
	UPN           string `json:"upn"`
	DisplayName   string `json:"displayName"`
	Password      string `json:"password"`
	MFACode       string `json:"mfaCode,omitempty"`
	MFARegistered bool   `json:"mfaRegistered"`
}

// PartnerGroup is a security group of the partner tenant.
type PartnerGroup struct {
	ID          string `json:"id"`
	DisplayName string `json:"displayName"`
	// Members are the object ids of member users (the partner admin or partner users).
	Members []string `json:"members"`
}

// Tenant is a customer tenant of the partner.
type Tenant struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain string `json:"domain"`
	// Relationship is RelationshipDAP or RelationshipGDAP. DAP implies consent for the partner's
	// multi-tenant apps; GDAP needs an explicit admin consent (Consented, GrantConsent or the
	// admin-consent sign-in).
	Relationship string `json:"relationship"`
	Consented    bool   `json:"consented"`
	// Admin is the customer's own administrator, who can grant admin consent.
	Admin         User           `json:"admin"`
	Users         []TenantUser   `json:"users"`
	Skus          []Sku          `json:"skus"`
	Subscriptions []Subscription `json:"subscriptions"`
	// PremiumLicence (Entra ID P1/P2) is required to read signInActivity through Graph.
	PremiumLicence bool `json:"premiumLicence"`
	// Groups and DirectoryRoles are what users' memberOf lists; members name them in
	// TenantUser.MemberOf.
	Groups         []Group         `json:"groups,omitempty"`
	DirectoryRoles []DirectoryRole `json:"directoryRoles,omitempty"`
	// MissingGDAPRole (GDAP tenants only) means the partner's GDAP relationship grants none of
	// Directory Readers, Global Reader, User Administrator or License Administrator, so
	// Partner Center refuses both licence endpoints for this customer with 403 (code 900150).
	MissingGDAPRole bool `json:"missingGdapRole,omitempty"`
	// GDAPStatus (GDAP tenants only) is the status Graph reports for the partner's GDAP
	// relationship with the customer: empty means active, otherwise one of Microsoft's
	// documented statuses ("expired", "terminated", "approvalPending", …). Only an active
	// relationship grants roles, so Partner Center then refuses the licence endpoints too.
	GDAPStatus string `json:"gdapStatus,omitempty"`
	// GDAPIndirectProviderTenantID (GDAP tenants only) makes the relationship one that an
	// indirect provider created for the partner as its indirect reseller
	// (resellerDelegatedAdminRelationship).
	GDAPIndirectProviderTenantID string `json:"gdapIndirectProviderTenantId,omitempty"`
}

// Group is a security or Microsoft 365 group of a tenant.
type Group struct {
	ID              string `json:"id"`
	DisplayName     string `json:"displayName"`
	Description     string `json:"description,omitempty"`
	Mail            string `json:"mail,omitempty"`
	MailNickname    string `json:"mailNickname"`
	MailEnabled     bool   `json:"mailEnabled"`
	SecurityEnabled bool   `json:"securityEnabled"`
	// Unified marks a Microsoft 365 group (groupTypes ["Unified"]).
	Unified         bool      `json:"unified,omitempty"`
	CreatedDateTime time.Time `json:"createdDateTime"`
}

// DirectoryRole is an activated Entra ID built-in role; RoleTemplateID is Microsoft's id of the
// role definition, the same in every tenant.
type DirectoryRole struct {
	ID             string `json:"id"`
	DisplayName    string `json:"displayName"`
	Description    string `json:"description"`
	RoleTemplateID string `json:"roleTemplateId"`
}

// TenantUser is a directory user as Graph lists it. Empty strings are null in Graph.
type TenantUser struct {
	ID                string    `json:"id"`
	UserPrincipalName string    `json:"userPrincipalName"`
	DisplayName       string    `json:"displayName"`
	GivenName         string    `json:"givenName,omitempty"`
	Surname           string    `json:"surname,omitempty"`
	Mail              string    `json:"mail,omitempty"`
	JobTitle          string    `json:"jobTitle,omitempty"`
	AccountEnabled    bool      `json:"accountEnabled"`
	UsageLocation     string    `json:"usageLocation,omitempty"`
	CreatedDateTime   time.Time `json:"createdDateTime"`
	// AssignedSkuIDs are the skuIds of the licences assigned to the user.
	AssignedSkuIDs []string `json:"assignedSkuIds,omitempty"`
	// LastSignIn (interactive) and LastNonInteractiveSignIn feed signInActivity; a user with
	// neither never signed in, and Graph then omits signInActivity.
	LastSignIn               *time.Time `json:"lastSignIn,omitempty"`
	LastNonInteractiveSignIn *time.Time `json:"lastNonInteractiveSignIn,omitempty"`

	// UserType is "Member" (empty means Member) or "Guest".
	UserType          string   `json:"userType,omitempty"`
	Department        string   `json:"department,omitempty"`
	CompanyName       string   `json:"companyName,omitempty"`
	OfficeLocation    string   `json:"officeLocation,omitempty"`
	EmployeeID        string   `json:"employeeId,omitempty"`
	EmployeeType      string   `json:"employeeType,omitempty"`
	BusinessPhone     string   `json:"businessPhone,omitempty"` // Graph's businessPhones holds at most one number
	MobilePhone       string   `json:"mobilePhone,omitempty"`
	OtherMails        []string `json:"otherMails,omitempty"`
	ProxyAddresses    []string `json:"proxyAddresses,omitempty"`
	City              string   `json:"city,omitempty"`
	Country           string   `json:"country,omitempty"`
	State             string   `json:"state,omitempty"`
	StreetAddress     string   `json:"streetAddress,omitempty"`
	PostalCode        string   `json:"postalCode,omitempty"`
	PreferredLanguage string   `json:"preferredLanguage,omitempty"`
	// OnPremisesSyncEnabled is nil for cloud-only users, as in Graph.
	OnPremisesSyncEnabled    *bool  `json:"onPremisesSyncEnabled,omitempty"`
	OnPremisesSamAccountName string `json:"onPremisesSamAccountName,omitempty"`
	OnPremisesImmutableID    string `json:"onPremisesImmutableId,omitempty"`
	// MemberOf holds the ids of the tenant's groups and directory roles the user belongs to.
	MemberOf []string `json:"memberOf,omitempty"`
}

// Sku is a licence product the tenant owns. Its units come from the subscriptions that
// reference it (see licences.go for how each status counts), as in Microsoft 365.
type Sku struct {
	SkuID        string        `json:"skuId"`
	PartNumber   string        `json:"skuPartNumber"`
	Name         string        `json:"name"`
	ServicePlans []ServicePlan `json:"servicePlans,omitempty"`
	// NonPartnerUnits are enabled units the tenant holds outside this partner's
	// subscriptions: free or self-service products such as Teams Exploratory, or licences
	// bought elsewhere. Subscribed SKUs (Graph and Partner Center) count them; no Partner
	// Center subscription lists them.
	NonPartnerUnits int `json:"nonPartnerUnits,omitempty"`
}

// ServicePlan is one service inside a Sku.
type ServicePlan struct {
	ID   string `json:"servicePlanId"`
	Name string `json:"servicePlanName"`
	// DisplayName is the friendly name Partner Center shows; empty means Name.
	DisplayName string `json:"displayName,omitempty"`
}

// Subscription is a Partner Center subscription that provides seats of one Sku.
type Subscription struct {
	ID                string    `json:"id"`
	OfferID           string    `json:"offerId"`
	OfferName         string    `json:"offerName"`
	FriendlyName      string    `json:"friendlyName"`
	SkuID             string    `json:"skuId"`
	Quantity          int       `json:"quantity"`
	Status            string    `json:"status"` // one of the Subscription* status constants
	CreationDate      time.Time `json:"creationDate"`
	CommitmentEndDate time.Time `json:"commitmentEndDate"`
	AutoRenewEnabled  bool      `json:"autoRenewEnabled"`
	IsTrial           bool      `json:"isTrial"`
	BillingCycle      string    `json:"billingCycle"` // monthly|annual
	TermDuration      string    `json:"termDuration"` // ISO 8601, e.g. P1Y
}

// Subscription statuses, as Partner Center reports them. See licences.go for how each one
// counts in subscribed SKUs.
const (
	SubscriptionActive    = "active"
	SubscriptionSuspended = "suspended"
	SubscriptionExpired   = "expired"
	SubscriptionDeleted   = "deleted"
)

// LoadScenario reads a scenario from a JSON file. Unknown fields are rejected so that a typo in
// a hand-written scenario does not silently change behaviour.
func LoadScenario(path string) (Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("load scenario: %w", err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	var sc Scenario
	if err := dec.Decode(&sc); err != nil {
		return Scenario{}, fmt.Errorf("load scenario %s: %w", path, err)
	}
	if err := sc.validate(); err != nil {
		return Scenario{}, fmt.Errorf("load scenario %s: %w", path, err)
	}
	return sc, nil
}

// clone deep-copies the scenario; a JSON round trip is exact since Scenario is plain data.
func (sc Scenario) clone() (Scenario, error) {
	raw, err := json.Marshal(sc)
	if err != nil {
		return Scenario{}, err
	}
	var c Scenario
	err = json.Unmarshal(raw, &c)
	return c, err
}

var guidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func isGUID(s string) bool { return guidRE.MatchString(s) }

// validate catches the inconsistencies that would otherwise surface as confusing behaviour
// deep inside a sign-in or a sync (duplicate ids, unknown relationship kinds, …).
func (sc Scenario) validate() error {
	var errs []error
	if !isGUID(sc.PartnerTenantID) {
		errs = append(errs, fmt.Errorf("partnerTenantId %q is not a lower-case GUID", sc.PartnerTenantID))
	}
	if sc.PartnerDomain == "" {
		errs = append(errs, errors.New("partnerDomain is empty"))
	}
	if len(sc.Apps) == 0 {
		errs = append(errs, errors.New("no apps registered"))
	}
	clients := map[string]bool{}
	for _, a := range sc.Apps {
		if !isGUID(a.ClientID) {
			errs = append(errs, fmt.Errorf("app %q: clientId is not a lower-case GUID", a.ClientID))
		}
		if clients[a.ClientID] {
			errs = append(errs, fmt.Errorf("app %q registered twice", a.ClientID))
		}
		clients[a.ClientID] = true
	}
	for _, a := range sc.Apps {
		switch a.GroupMembershipClaims {
		case "", GroupClaimsNone, GroupClaimsSecurityGroup, GroupClaimsAll:
		case "DirectoryRole", "ApplicationGroup":
			errs = append(errs, fmt.Errorf("app %q: groupMembershipClaims %q is not simulated; use %q or %q", a.ClientID, a.GroupMembershipClaims, GroupClaimsSecurityGroup, GroupClaimsAll))
		default:
			errs = append(errs, fmt.Errorf("app %q: groupMembershipClaims %q is none of %q, %q, %q", a.ClientID, a.GroupMembershipClaims, GroupClaimsNone, GroupClaimsSecurityGroup, GroupClaimsAll))
		}
	}
	ids := map[string]string{strings.ToLower(sc.PartnerTenantID): "partner"}
	domains := map[string]string{strings.ToLower(sc.PartnerDomain): "partner"}
	upns := map[string]bool{}
	addUser := func(u User, where string) {
		if u.UPN == "" {
			return
		}
		if u.MFARegistered && u.MFACode == "" {
			errs = append(errs, fmt.Errorf("%s: user %s has MFA registered but no mfaCode", where, u.UPN))
		}
		k := strings.ToLower(u.UPN)
		if upns[k] {
			errs = append(errs, fmt.Errorf("%s: user %s appears twice", where, u.UPN))
		}
		upns[k] = true
	}
	addUser(sc.Admin, "partner admin")
	if sc.Admin.UPN == "" {
		errs = append(errs, errors.New("partner admin has no UPN"))
	}
	partnerUsers := map[string]bool{sc.Admin.ID: true}
	for i, u := range sc.PartnerUsers {
		where := fmt.Sprintf("partner user %d (%s)", i, u.UPN)
		if u.UPN == "" {
			errs = append(errs, fmt.Errorf("%s: no UPN", where))
		}
		if !isGUID(u.ID) || partnerUsers[u.ID] {
			errs = append(errs, fmt.Errorf("%s: id %q is not a lower-case GUID or is used twice", where, u.ID))
		}
		partnerUsers[u.ID] = true
		addUser(u, where)
	}
	groups := map[string]bool{}
	for i, g := range sc.PartnerGroups {
		where := fmt.Sprintf("partner group %d (%s)", i, g.DisplayName)
		if !isGUID(g.ID) || groups[g.ID] {
			errs = append(errs, fmt.Errorf("%s: id %q is not a lower-case GUID or is used twice", where, g.ID))
		}
		groups[g.ID] = true
		for _, m := range g.Members {
			if !partnerUsers[m] {
				errs = append(errs, fmt.Errorf("%s: member %q is neither the partner admin nor a partner user (members are user ids)", where, m))
			}
		}
	}
	for i, t := range sc.Tenants {
		where := fmt.Sprintf("tenant %d (%s)", i, t.Name)
		if !isGUID(t.ID) {
			errs = append(errs, fmt.Errorf("%s: id %q is not a lower-case GUID", where, t.ID))
		}
		if prev, dup := ids[t.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: id %s already used by %s", where, t.ID, prev))
		}
		ids[t.ID] = where
		d := strings.ToLower(t.Domain)
		if prev, dup := domains[d]; dup || d == "" {
			errs = append(errs, fmt.Errorf("%s: domain %q empty or already used by %s", where, t.Domain, prev))
		}
		domains[d] = where
		if t.Relationship != RelationshipDAP && t.Relationship != RelationshipGDAP {
			errs = append(errs, fmt.Errorf("%s: relationship %q is neither DAP nor GDAP", where, t.Relationship))
		}
		if t.MissingGDAPRole && t.Relationship != RelationshipGDAP {
			errs = append(errs, fmt.Errorf("%s: missingGdapRole needs a GDAP relationship (DAP grants every role)", where))
		}
		if err := validGDAP(t); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		addUser(t.Admin, where)
		skus := map[string]bool{}
		for _, k := range t.Skus {
			skus[k.SkuID] = true
		}
		objects := map[string]bool{}
		for _, g := range t.Groups {
			objects[g.ID] = true
		}
		for _, r := range t.DirectoryRoles {
			objects[r.ID] = true
		}
		userIDs := make(map[string]bool, len(t.Users))
		for _, u := range t.Users {
			if userIDs[u.ID] || objects[u.ID] {
				errs = append(errs, fmt.Errorf("%s: user id %s appears twice", where, u.ID))
			}
			userIDs[u.ID] = true
			for _, id := range u.AssignedSkuIDs {
				if !skus[id] {
					errs = append(errs, fmt.Errorf("%s: user %s has licence %s the tenant does not own", where, u.UserPrincipalName, id))
				}
			}
			for _, id := range u.MemberOf {
				if !objects[id] {
					errs = append(errs, fmt.Errorf("%s: user %s is a member of %s, which is neither a group nor a directory role of the tenant", where, u.UserPrincipalName, id))
				}
			}
			if u.UserType != "" && u.UserType != "Member" && u.UserType != "Guest" {
				errs = append(errs, fmt.Errorf("%s: user %s has userType %q (want Member or Guest)", where, u.UserPrincipalName, u.UserType))
			}
		}
		subs := map[string]bool{}
		for _, sub := range t.Subscriptions {
			if !skus[sub.SkuID] {
				errs = append(errs, fmt.Errorf("%s: subscription %s is for unknown sku %s", where, sub.ID, sub.SkuID))
			}
			if subs[strings.ToLower(sub.ID)] || sub.ID == "" {
				errs = append(errs, fmt.Errorf("%s: subscription id %q empty or used twice", where, sub.ID))
			}
			subs[strings.ToLower(sub.ID)] = true
			if err := checkSubscription(sub); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", where, err))
			}
		}
	}
	return errors.Join(errs...)
}
