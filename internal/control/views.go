package control

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/workflows"
)

// The records the CLI and the pages render. Their JSON is the CLI's --json
// contract (README, "JSON output contract"; golden files in
// internal/cli/testdata/json guard it): snake_case keys, every key always
// present, times in RFC 3339 (UTC) or null when unknown, durations as Go
// duration strings ("720h0m0s", as the flags take them), lists never null,
// and ids as the CLI prints them (customer, user, site and round ids are
// numbers, tenant and Azure object ids GUID strings). A record is one shape
// in every command that prints it; other records name a customer by
// customer_id and customer (its name), a partner by its id as partner.

// Customer is a PSA customer and, once linked, its Microsoft tenant.
type Customer struct {
	ID                 int64               `json:"id"`
	PartnerID          string              `json:"partner"`
	Name               string              `json:"name"`
	TenantID           string              `json:"tenant_id"`
	TenantIDSource     string              `json:"tenant_id_source"` // discovered, manual or ""
	Domain             string              `json:"domain"`
	TopLevel           string              `json:"top_level"`
	Relationship       domain.Relationship `json:"relationship"`
	RelationshipSource string              `json:"relationship_source"` // microsoft, override or default
	// GDAP is what the partner's GDAP relationships with the tenant came to
	// at the last discovery that read them.
	GDAP         GDAP               `json:"gdap"`
	ConsentState domain.Consent     `json:"consent_state"`
	SyncState    domain.TenantState `json:"sync_state"`
	SyncReason   string             `json:"sync_reason"`
	LastSyncAt   *time.Time         `json:"last_sync_at"`
	DiscoveredAt *time.Time         `json:"discovered_at"`
	// LeftAt is when a complete discovery found the tenant gone from Partner
	// Center (null while it is listed); the customer and its data are kept.
	LeftAt *time.Time `json:"left_at"`
}

// GDAP is a tenant's GDAP relationships as Microsoft reports them.
type GDAP struct {
	Status string     `json:"status"` // active, expired, terminated, ... or "" when none is known
	EndAt  *time.Time `json:"end_at"`
	Name   string     `json:"name"`
	Roles  []string   `json:"roles"` // role definition ids its active access assignments give
}

// Summary is the relationship in a few words: "active until 2027-01-15".
func (g GDAP) Summary() string {
	return domain.GDAPState{Status: g.Status, EndAt: g.EndAt}.Summary()
}

func customerOf(c store.Customer) Customer {
	return Customer{ID: c.ID, PartnerID: c.PartnerID, Name: c.Name, TenantID: c.TenantID, TenantIDSource: c.TenantIDSource,
		Domain: c.Domain, TopLevel: c.TopLevel, Relationship: c.Relationship, RelationshipSource: string(c.RelationshipSource),
		GDAP:         GDAP{Status: c.GDAP.Status, EndAt: utcPtr(c.GDAP.EndAt), Name: c.GDAP.Name, Roles: orEmpty(c.GDAP.Roles)},
		ConsentState: c.ConsentState, SyncState: c.SyncState, SyncReason: c.SyncReason,
		LastSyncAt: utcPtr(c.LastSyncAt), DiscoveredAt: utcPtr(c.DiscoveredAt), LeftAt: utcPtr(c.LeftAt)}
}

// IntegrationError is one classified Microsoft failure with its fix, one
// row while it persists.
type IntegrationError struct {
	ID          int64            `json:"id"`
	PartnerID   string           `json:"partner"`
	TenantID    string           `json:"tenant_id"` // "" for the partner's own failures
	Operation   domain.Operation `json:"operation"`
	Code        string           `json:"code"`
	Message     string           `json:"message"`
	Remediation string           `json:"remediation"`
	Occurrences int              `json:"occurrences"`
	FirstSeenAt time.Time        `json:"first_seen_at"`
	LastSeenAt  time.Time        `json:"last_seen_at"`
	ResolvedAt  *time.Time       `json:"resolved_at"` // null while open
}

func integrationErrorOf(e store.IntegrationError) IntegrationError {
	return IntegrationError{ID: e.ID, PartnerID: e.PartnerID, TenantID: e.TenantID, Operation: e.Operation, Code: e.Code,
		Message: e.Message, Remediation: e.Remediation, Occurrences: e.Occurrences,
		FirstSeenAt: e.FirstSeenAt.UTC(), LastSeenAt: e.LastSeenAt.UTC(), ResolvedAt: utcPtr(e.ResolvedAt)}
}

// Seats reconciles licences: what is paid for against what is used.
type Seats struct {
	Paid      int `json:"paid"`      // active units
	Assigned  int `json:"assigned"`  // consumed units
	Unused    int `json:"unused"`    // paid for, not assigned
	Over      int `json:"over"`      // assigned beyond what is paid for
	Suspended int `json:"suspended"` // units of suspended subscriptions
	Warning   int `json:"warning"`   // units in their grace period
}

func seatsOf(s licensing.Seats) Seats {
	return Seats{Paid: s.Paid, Assigned: s.Assigned, Unused: s.Unused, Over: s.Over, Suspended: s.Suspended, Warning: s.Warning}
}

// Subscription is one of the partner's Partner Center subscriptions.
type Subscription struct {
	ID                string     `json:"id"`
	SkuID             string     `json:"sku_id"` // "" when it cannot be told
	OfferID           string     `json:"offer_id"`
	OfferName         string     `json:"offer_name"`
	FriendlyName      string     `json:"friendly_name"`
	Quantity          int        `json:"quantity"`
	Status            string     `json:"status"`
	BillingCycle      string     `json:"billing_cycle"`
	TermDuration      string     `json:"term_duration"`
	CommitmentEndDate *time.Time `json:"commitment_end_date"`
	AutoRenew         bool       `json:"auto_renew"`
	Trial             bool       `json:"trial"`
}

func subscriptionOf(s licensing.Subscription) Subscription {
	var end *time.Time
	if !s.CommitmentEndDate.IsZero() {
		end = utcPtr(&s.CommitmentEndDate)
	}
	return Subscription{ID: s.ID, SkuID: s.SkuID, OfferID: s.OfferID, OfferName: s.OfferName, FriendlyName: s.FriendlyName,
		Quantity: s.Quantity, Status: s.Status, BillingCycle: s.BillingCycle, TermDuration: s.TermDuration,
		CommitmentEndDate: end, AutoRenew: s.AutoRenew, Trial: s.Trial}
}

// LicenceSeats is one licence (SKU) of a customer, reconciled.
type LicenceSeats struct {
	SkuID            string         `json:"sku_id"`
	PartNumber       string         `json:"part_number"`
	ProductName      string         `json:"product_name"`
	CapabilityStatus string         `json:"capability_status"` // Microsoft's: Enabled, Warning, Suspended, ...
	TotalUnits       int            `json:"total_units"`
	ActiveUnits      int            `json:"active_units"`
	ConsumedUnits    int            `json:"consumed_units"`
	SuspendedUnits   int            `json:"suspended_units"`
	WarningUnits     int            `json:"warning_units"`
	Seats            Seats          `json:"seats"`
	Subscriptions    []Subscription `json:"subscriptions"` // those providing its seats
	// UsersAssigned is the seats assigned as cspsync counted them from its users' licence
	// links, next to Partner Center's consumed units; UsersDiffer flags a difference.
	UsersAssigned int  `json:"users_assigned"`
	UsersDiffer   bool `json:"users_differ"`
}

// CustomerSeats is one customer's licences, reconciled.
type CustomerSeats struct {
	CustomerID int64          `json:"customer_id"`
	Customer   string         `json:"customer"`
	TenantID   string         `json:"tenant_id"`
	TopLevel   string         `json:"top_level"`
	ImportedAt *time.Time     `json:"imported_at"`
	Licences   []LicenceSeats `json:"licences"`
	Total      Seats          `json:"total"`
}

// LicenceReport is the seat reconciliation of a partner's customers.
type LicenceReport struct {
	Customers []CustomerSeats `json:"customers"`
	Total     Seats           `json:"total"`
}

// LicenceEvent is one recorded change of a licence or subscription.
type LicenceEvent struct {
	At             time.Time `json:"at"`
	SkuID          string    `json:"sku_id"`
	SubscriptionID string    `json:"subscription_id"` // "" for a change of the licence itself
	Field          string    `json:"field"`
	Old            string    `json:"old"`
	New            string    `json:"new"`
}

// TopLevel is a named group of customers.
type TopLevel struct {
	Name      string `json:"name"`
	Customers int    `json:"customers"`
}

// SSOAllowedTenant is a tenant a self-service portal's multi-tenant sign-in accepts.
type SSOAllowedTenant struct {
	TenantID string `json:"tenant_id"`
	Customer string `json:"customer"`
	Partner  string `json:"partner"`
}

// TenantFailure is one tenant an operation could not do, with why.
type TenantFailure struct {
	TenantID string `json:"tenant_id"`
	Customer string `json:"customer"`
	Error    string `json:"error"`
}

// LicenceImport is what an on-demand licence import did.
type LicenceImport struct {
	Tenants       int             `json:"tenants"`
	Licences      int             `json:"licences"`
	Subscriptions int             `json:"subscriptions"`
	Events        int             `json:"events"`
	Failed        []TenantFailure `json:"failed"`
}

// PSAUser is a user in the PSA.
type PSAUser struct {
	ID             int64      `json:"id"`
	CustomerID     int64      `json:"customer_id"`
	Site           string     `json:"site"`
	AzureObjectID  string     `json:"azure_object_id"` // "" for a user created by hand and not yet matched
	Name           string     `json:"name"`
	Email          string     `json:"email"`
	NetworkLogin   string     `json:"network_login"`
	Phone          string     `json:"phone"`
	Mobile         string     `json:"mobile"`
	JobTitle       string     `json:"job_title"`
	Department     string     `json:"department"`
	LastSignIn     *time.Time `json:"last_sign_in"`
	Active         bool       `json:"active"`
	InactiveReason string     `json:"inactive_reason"`
	Source         string     `json:"source"` // azure or manual
	// Custom holds the custom.<name> fields field mappings write, by name.
	Custom map[string]string `json:"custom"`
	// ServiceUser: cannot log tickets, never billed; ServiceReason names the rules that
	// decided (group, licences).
	ServiceUser   bool          `json:"service_user"`
	ServiceReason string        `json:"service_reason"`
	Licences      []UserLicence `json:"licences"`
}

func psaUserOf(u domain.PSAUser) PSAUser {
	var last *time.Time
	if !u.LastSignIn.IsZero() {
		last = &u.LastSignIn
	}
	custom := u.Custom
	if custom == nil {
		custom = map[string]string{}
	}
	return PSAUser{ID: u.ID, CustomerID: u.CustomerID, Site: u.Site, AzureObjectID: u.AzureObjectID, Name: u.Name,
		Email: u.Email, NetworkLogin: u.NetworkLogin, Phone: u.Phone, Mobile: u.Mobile, JobTitle: u.JobTitle,
		Department: u.Department, LastSignIn: utcPtr(last), Active: u.Active, InactiveReason: u.InactiveReason,
		Source: u.Source, Custom: custom, Licences: []UserLicence{}}
}

// Site is one of a customer's sites.
type Site struct {
	ID         int64  `json:"id"`
	CustomerID int64  `json:"customer_id"`
	Name       string `json:"name"`
	Default    bool   `json:"default"`
}

func siteOf(s store.Site) Site {
	return Site{ID: s.ID, CustomerID: s.CustomerID, Name: s.Name, Default: s.Default}
}

// SiteMapping is one (filter, site) pair as people write it: 'FILTER => SITE'.
type SiteMapping struct {
	Filter string `json:"filter"`
	Site   string `json:"site"`
}

// FieldMapping maps a PSA user field to a CEL expression over the Graph user.
type FieldMapping struct {
	Field      string `json:"field"`
	Expression string `json:"expression"` // "" leaves the field alone
}

// UserSettings are a partner's choices for users sync.
type UserSettings struct {
	MatchRules           []string `json:"match_rules"` // ordered: name, email, network_login
	IgnoreAccountEnabled bool     `json:"ignore_account_enabled"`
	AutoSiteMappings     bool     `json:"auto_site_mappings"`
	LogRetention         Duration `json:"log_retention"`
	// MaxInactivateShare is the safety brake: the largest share (percent) of
	// a customer's active users a round makes inactive at once.
	MaxInactivateShare int      `json:"max_inactivate_share"`
	ServiceGroup       string   `json:"service_group"` // "" none
	BillableSkus       []string `json:"billable_skus"` // part numbers; [] none
}

func userSettingsOf(s store.UserSettings) UserSettings {
	return UserSettings{MatchRules: orEmpty(s.MatchRules), IgnoreAccountEnabled: s.IgnoreAccountEnabled,
		AutoSiteMappings: s.AutoSiteMappings, LogRetention: Duration(s.LogRetention), MaxInactivateShare: s.MaxInactivateShare,
		BillableSkus: []string{}}
}

// Change is one PSA field a users round changed.
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// LogEntry is one row of the inbound log: one user a round processed.
type LogEntry struct {
	At            time.Time `json:"at"`
	RoundID       int64     `json:"round_id"`
	AzureObjectID string    `json:"azure_object_id"`
	PSAUserID     *int64    `json:"psa_user_id"` // null when no PSA user was involved
	Mapping       string    `json:"mapping"`     // the site mapping that placed the user
	MatchRule     string    `json:"match_rule"`
	Result        string    `json:"result"`
	Changes       []Change  `json:"changes"`
	Reason        string    `json:"reason"`
}

func logEntryOf(l store.LogEntry) LogEntry {
	e := LogEntry{At: l.At.UTC(), RoundID: l.RoundID, AzureObjectID: l.AzureObjectID, PSAUserID: l.PSAUserID,
		Mapping: l.Mapping, MatchRule: l.MatchRule, Result: l.Result, Changes: []Change{}, Reason: l.Reason}
	for _, c := range l.Changes {
		e.Changes = append(e.Changes, changeOf(c))
	}
	return e
}

func changeOf(c domain.Change) Change { return Change{Field: c.Field, Old: c.Old, New: c.New} }

// RoundCounts counts what users rounds did.
type RoundCounts struct {
	Pages       int `json:"pages"`
	Users       int `json:"users"`
	Created     int `json:"created"`
	Updated     int `json:"updated"`
	Moved       int `json:"moved"`
	Inactivated int `json:"inactivated"`
	Reactivated int `json:"reactivated"`
	Excluded    int `json:"excluded"`
	Ambiguous   int `json:"ambiguous"`
	Invalid     int `json:"invalid"`
	// MappingErrors counts users a field mapping failed for: that field was left as it was.
	MappingErrors int `json:"mapping_errors"`
}

func (c *RoundCounts) add(o domain.RoundCounts) {
	c.Pages += o.Pages
	c.Users += o.Users
	c.Created += o.Created
	c.Updated += o.Updated
	c.Moved += o.Moved
	c.Inactivated += o.Inactivated
	c.Reactivated += o.Reactivated
	c.Excluded += o.Excluded
	c.Ambiguous += o.Ambiguous
	c.Invalid += o.Invalid
	c.MappingErrors += o.MappingErrors
}

// UsersRound is one tenant's users round.
type UsersRound struct {
	Kind     string   `json:"kind"`     // full or delta
	Resumed  bool     `json:"resumed"`  // continued a round a crashed attempt left
	Restarts int      `json:"restarts"` // times Graph's delta state was gone and the round began again in full
	SignIns  bool     `json:"sign_ins"` // last sign-in dates were read too
	Duration Duration `json:"duration"`
	RoundCounts
}

func usersRoundOf(r workflows.UserRoundResult) UsersRound {
	u := UsersRound{Kind: string(r.Kind), Resumed: r.Resumed, Restarts: r.Restarts, SignIns: r.SignIns, Duration: Duration(r.Duration)}
	u.add(r.RoundCounts)
	return u
}

// UsersRounds is what the users rounds of many tenants did.
type UsersRounds struct {
	Tenants int             `json:"tenants"`
	Total   RoundCounts     `json:"total"`
	Failed  []TenantFailure `json:"failed"`
}

// Discovered counts what a discovery did to the customers.
type Discovered struct {
	Pages    int  `json:"pages"`
	Tenants  int  `json:"tenants"`
	Inserted int  `json:"inserted"` // new customers
	Linked   int  `json:"linked"`   // existing customers matched by name
	Updated  int  `json:"updated"`  // customers already linked to their tenant
	Resumed  bool `json:"resumed"`  // continued from a cursor a crashed attempt left
	Returned int  `json:"returned"` // customers that had left Partner Center and are listed again
	Left     int  `json:"left"`     // customers this discovery found gone from Partner Center
}

func discoveredOf(r activities.DiscoveryResult) Discovered {
	return Discovered{Pages: r.Pages, Tenants: r.Tenants, Inserted: r.Inserted, Linked: r.Linked, Updated: r.Updated,
		Resumed: r.Resumed, Returned: r.Returned, Left: r.Left}
}

// Duration is a time.Duration written as Go writes it ("1h30m0s").
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration %q: %w", s, err)
	}
	*d = Duration(v)
	return nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// orEmpty makes a nil list empty, so JSON shows [] rather than null.
func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// mapAll converts every item of a list; never nil.
func mapAll[S, T any](xs []S, f func(S) T) []T {
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		out = append(out, f(x))
	}
	return out
}

// LicenceManagement is whether cspsync manages a customer's licences.
type LicenceManagement struct {
	CustomerID int64  `json:"customer_id"`
	Customer   string `json:"customer"`
	Managed    bool   `json:"managed"`
	// ManagedBy is the integration recorded as managing them: "" none, "cspsync", or another.
	ManagedBy string `json:"managed_by"`
}

// LicenceChange is one licence change asked of cspsync, with its outcome.
type LicenceChange struct {
	ID          string     `json:"id"`
	WorkflowID  string     `json:"workflow_id"`
	CustomerID  int64      `json:"customer_id"`
	Customer    string     `json:"customer"`
	UserID      int64      `json:"user_id"`
	User        string     `json:"user"`
	SkuID       string     `json:"sku_id"`
	Sku         string     `json:"sku"`
	Action      string     `json:"action"`
	RequestedBy string     `json:"requested_by"`
	State       string     `json:"state"`
	Applied     bool       `json:"applied"`
	Holds       *bool      `json:"holds"`
	ErrorCode   string     `json:"error_code"`
	Error       string     `json:"error"`
	Remediation string     `json:"remediation"`
	RequestedAt time.Time  `json:"requested_at"`
	FinishedAt  *time.Time `json:"finished_at"`
}

func licenceChangeOf(c store.LicenceChange) LicenceChange {
	return LicenceChange{ID: c.ID, WorkflowID: c.WorkflowID, CustomerID: c.CustomerID, Customer: c.Customer, UserID: c.PSAUserID,
		User: c.UserName, SkuID: c.SkuID, Sku: c.SkuName, Action: c.Action, RequestedBy: c.RequestedBy, State: c.State,
		Applied: c.Applied, Holds: c.Holds, ErrorCode: c.ErrorCode, Error: c.ErrorMessage, Remediation: c.Remediation,
		RequestedAt: c.RequestedAt.UTC(), FinishedAt: utcPtr(c.FinishedAt)}
}
