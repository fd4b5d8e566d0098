// Package domain is cspsync's vocabulary: the states, relationships, operation
// names and error information that the store, the workflows, the application
// layer, the web pages and the CLI share. Each fact is declared here once;
// the migrations' CHECK lists mirror these declarations (a store test proves it).
package domain

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Relationship is how the partner administers a customer tenant.
type Relationship string

const (
	DAP  Relationship = "DAP"
	GDAP Relationship = "GDAP"
)

// Relationships lists every relationship.
func Relationships() []Relationship { return []Relationship{DAP, GDAP} }

// ParseRelationship reads DAP or GDAP in any case.
func ParseRelationship(s string) (Relationship, error) {
	r := Relationship(strings.ToUpper(strings.TrimSpace(s)))
	if r != DAP && r != GDAP {
		return "", fmt.Errorf("relationship %q: use DAP or GDAP", s)
	}
	return r, nil
}

// Consent is the state of the Graph app's admin consent in a customer tenant.
type Consent string

const (
	// ConsentUnknown: a customer not linked to a tenant yet.
	ConsentUnknown     Consent = "unknown"
	ConsentNotRequired Consent = "not_required"
	ConsentPending     Consent = "pending"
	ConsentGranted     Consent = "granted"
	ConsentRevoked     Consent = "revoked"
)

// Consents lists every consent state.
func Consents() []Consent {
	return []Consent{ConsentUnknown, ConsentNotRequired, ConsentPending, ConsentGranted, ConsentRevoked}
}

// Missing is true when the tenant waits for an admin consent: a GDAP tenant
// not consented yet, or any tenant whose consent Microsoft says is gone.
func (c Consent) Missing() bool { return c == ConsentPending || c == ConsentRevoked }

// ConsentFor is the rule that relates relationship and consent: DAP needs no
// per-tenant consent (a grant it already has is kept), GDAP needs one and
// keeps whatever it already knows about it.
func ConsentFor(r Relationship, current Consent) Consent {
	switch {
	case r == DAP && current != ConsentGranted:
		return ConsentNotRequired
	case r == GDAP && (current == ConsentNotRequired || current == ConsentUnknown || current == ""):
		return ConsentPending
	}
	return current
}

// AuthState is a partner's authorisation.
type AuthState string

const (
	AuthPending              AuthState = "pending"
	AuthAuthorised           AuthState = "authorised"
	AuthNeedsReauthorisation AuthState = "needs_reauthorisation"
)

// AuthStates lists every authorisation state.
func AuthStates() []AuthState {
	return []AuthState{AuthPending, AuthAuthorised, AuthNeedsReauthorisation}
}

// legacyAuth maps the names partner workflows carried before the vocabulary
// was unified, so running workflows continue on the new code.
var legacyAuth = map[string]AuthState{
	"AwaitingAuthorisation": AuthPending,
	"Authorised":            AuthAuthorised,
	"NeedsReauthorisation":  AuthNeedsReauthorisation,
}

// UnmarshalJSON accepts the current and the legacy names.
func (a *AuthState) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	if l, ok := legacyAuth[s]; ok {
		*a = l
		return nil
	}
	*a = AuthState(s)
	return nil
}

// TenantState is where a tenant's lifecycle stands.
type TenantState string

const (
	// TenantNew: imported, its workflow has not reported yet.
	TenantNew             TenantState = "New"
	TenantAwaitingConsent TenantState = "AwaitingConsent"
	TenantReady           TenantState = "Ready"
	TenantSyncing         TenantState = "Syncing"
	TenantBlocked         TenantState = "Blocked"
	TenantPaused          TenantState = "Paused"
	// TenantLeft: Partner Center no longer lists the customer. Its workflow
	// has ended; the customer, its users and licences are kept, and it
	// resumes as the same customer if Partner Center lists it again.
	TenantLeft TenantState = "Left"
)

// TenantStates lists every tenant state, in the order reports show them.
func TenantStates() []TenantState {
	return []TenantState{TenantReady, TenantSyncing, TenantAwaitingConsent, TenantBlocked, TenantPaused, TenantNew, TenantLeft}
}

// Settled is false while the tenant's workflow has yet to report or is mid-sync.
func (s TenantState) Settled() bool { return s != TenantNew && s != TenantSyncing }

// Tone groups states for display: "ok", "waiting", "attention" or "gone".
func (s TenantState) Tone() string {
	switch s {
	case TenantBlocked, TenantPaused:
		return "attention"
	case TenantAwaitingConsent, TenantNew, TenantSyncing:
		return "waiting"
	case TenantLeft:
		return "gone"
	}
	return "ok"
}

// LeftReason says why a tenant is Left, and what brings it back.
func LeftReason(at time.Time) string {
	return "Partner Center no longer lists this customer (found at the discovery of " + at.UTC().Format("2006-01-02 15:04 UTC") +
		"): its workflow ended; the customer, its users and licences are kept, and it resumes as the same customer when a discovery finds it again"
}

// LicenceSource is how a partner's licences are imported from Partner Center.
type LicenceSource string

const (
	// FromSubscriptions imports the partner's own subscriptions ("Your
	// subscriptions"), attached to the SKUs they provide seats of.
	FromSubscriptions LicenceSource = "subscriptions"
	// FromSubscribedSkus imports every SKU the customer holds ("All subscribed SKUs").
	FromSubscribedSkus LicenceSource = "subscribed-skus"
)

// LicenceSources lists every licence source.
func LicenceSources() []LicenceSource { return []LicenceSource{FromSubscriptions, FromSubscribedSkus} }

// ParseLicenceSource reads a licence source.
func ParseLicenceSource(s string) (LicenceSource, error) {
	for _, l := range LicenceSources() {
		if strings.EqualFold(strings.TrimSpace(s), string(l)) {
			return l, nil
		}
	}
	return "", fmt.Errorf("licence source %q: use subscriptions or subscribed-skus", s)
}

// Operation names what cspsync was doing when a failure was recorded.
type Operation string

const (
	OpAuthorise Operation = "authorise"
	// OpOperatorSignIn is an operator signing in to the worker's pages.
	OpOperatorSignIn Operation = "operator-sign-in"
	OpConsent        Operation = "consent"
	OpDiscovery      Operation = "discovery"
	OpSync           Operation = "sync"
	OpLicences       Operation = "licences"
	OpUsers          Operation = "users"
	// OpSignIns is a users round's sign-in pass (last sign-in dates), which
	// needs an Entra ID P1/P2 tenant.
	OpSignIns Operation = "sign-ins"
	// OpRelationships: reading the partner's GDAP relationships, and what
	// they say of each tenant.
	OpRelationships Operation = "relationships"
	// OpServiceGroup: finding a tenant's service group by name for the group rule (a
	// missing group is the tenant's standing error until it exists; the round goes on).
	OpServiceGroup Operation = "service-group"
	// OpLicenceChange: assigning or removing a user's licence from the PSA.
	OpLicenceChange Operation = "licence-change"
)

// Reaction is what cspsync does about a classified failure. The values
// double as the Temporal application-error types the workflows switch on.
type Reaction string

const (
	// Retry: transient (throttling, 5xx, network); retried with backoff,
	// honouring Retry-After.
	Retry Reaction = "Transient"
	// AwaitConsent: the customer tenant lacks admin consent for the Graph
	// app; the tenant waits for consent.
	AwaitConsent Reaction = "AwaitConsent"
	// Reauthorise: the partner's credentials or grant are unusable; every
	// tenant pauses until the partner is authorised again.
	Reauthorise Reaction = "Reauthorise"
	// NeedsFix: a configuration mistake a person must correct; not retried.
	NeedsFix Reaction = "NeedsFix"
	// Degrade: the feature is unavailable for this tenant (e.g. no premium
	// licence); carry on without it.
	Degrade Reaction = "Degrade"
	// Resync: Graph no longer has the tenant's change-tracking state (an
	// expired or reset delta token); the tenant's round starts again in full.
	// Not a failure of the partner's setup.
	Resync Reaction = "Resync"
)

// Permanent lists the reactions that are never retried in a loop.
func Permanent() []string {
	return []string{string(AwaitConsent), string(Reauthorise), string(NeedsFix), string(Degrade), string(Resync)}
}

// ErrorInfo is a classified failure as the errors table, workflows and
// pages show it: Microsoft's code, the cause (cspsync's words, then
// Microsoft's own), cspsync's fix and reaction; never a secret. A Microsoft
// failure becomes one in one place (microsoft.Failure.Info), any other
// failure through Internal; errors.go holds the rules that read it.
type ErrorInfo struct {
	Code        string
	Cause       string
	Remediation string
	Reaction    Reaction
	At          time.Time
}
