package sim

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Licences have one source of truth, the tenant's subscriptions (plus Sku.NonPartnerUnits),
// from which both Graph's /subscribedSkus and Partner Center's /subscribedskus are derived,
// so the two agree unit for unit. A subscription's status decides how its quantity counts,
// following Microsoft 365's subscription life cycle (Graph licenseUnitsDetail; Partner
// Center SubscribedSku):
//
//	active    → enabled units (Graph prepaidUnits.enabled, Partner Center activeUnits).
//	expired   → warning units: the grace period after a subscription ends, when users keep
//	            their licences and the units still count towards totalUnits.
//	suspended → suspended units: the subscription was cancelled or suspended; its units can't
//	            be assigned but come back if it is reactivated. They are not part of totalUnits.
//	deleted   → no units; Partner Center still lists the subscription, with status deleted.
//
// lockedOut is always 0: Partner Center has no status that maps to it. Partner Center's
// totalUnits = activeUnits + warningUnits and availableUnits = totalUnits − consumedUnits, as
// documented (negative when a suspension leaves users holding more licences than remain).
// consumedUnits is the number of users holding the SKU. The SKU's capabilityStatus is Enabled
// while any unit is enabled, else Warning, else Suspended, else Deleted.
type licenceUnits struct {
	Enabled, Warning, Suspended, LockedOut, Consumed int
}

func (u licenceUnits) total() int     { return u.Enabled + u.Warning }
func (u licenceUnits) available() int { return u.total() - u.Consumed }

func (u licenceUnits) capabilityStatus() string {
	switch {
	case u.Enabled > 0:
		return "Enabled"
	case u.Warning > 0:
		return "Warning"
	case u.Suspended > 0:
		return "Suspended"
	}
	return "Deleted"
}

// units counts a SKU's units; the caller holds Server.mu.
func (o *org) units(k *Sku) licenceUnits {
	u := licenceUnits{Enabled: k.NonPartnerUnits, Consumed: o.consumed(k.SkuID)}
	for _, s := range o.Subscriptions {
		if !strings.EqualFold(s.SkuID, k.SkuID) {
			continue
		}
		switch s.Status {
		case SubscriptionActive:
			u.Enabled += s.Quantity
		case SubscriptionExpired:
			u.Warning += s.Quantity
		case SubscriptionSuspended:
			u.Suspended += s.Quantity
		}
	}
	return u
}

// subscriptionIDs lists the SKU's subscriptions that still provide units, as Graph's
// subscribedSku.subscriptionIds does; the caller holds Server.mu.
func (o *org) subscriptionIDs(skuID string) []string {
	ids := []string{}
	for _, s := range o.Subscriptions {
		if strings.EqualFold(s.SkuID, skuID) && s.Status != SubscriptionDeleted {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

func (o *org) subscription(id string) *Subscription {
	for i := range o.Subscriptions {
		if strings.EqualFold(o.Subscriptions[i].ID, id) {
			return &o.Subscriptions[i]
		}
	}
	return nil
}

// checkSubscription reports what makes a subscription impossible in Partner Center.
func checkSubscription(sub Subscription) error {
	switch sub.Status {
	case SubscriptionActive, SubscriptionSuspended, SubscriptionExpired, SubscriptionDeleted:
	default:
		return fmt.Errorf("subscription %s: status %q is not one of %s, %s, %s, %s", sub.ID, sub.Status,
			SubscriptionActive, SubscriptionSuspended, SubscriptionExpired, SubscriptionDeleted)
	}
	if sub.Quantity < 1 {
		return fmt.Errorf("subscription %s: quantity %d is below 1, the least Partner Center sells (suspend or remove the subscription instead)", sub.ID, sub.Quantity)
	}
	return nil
}

// licenceState is a tenant's licences after runtime changes, kept whole so a replay after a
// restart is exact.
type licenceState struct {
	Skus          []Sku          `json:"skus"`
	Subscriptions []Subscription `json:"subscriptions"`
}

// applyLicences replays recorded licence changes and settings onto a fresh directory.
func (st persistedState) applyLicences(d *directory, sc *Scenario) {
	if st.MembershipRefused != nil {
		sc.MembershipRefused = *st.MembershipRefused
	}
	for tid, missing := range st.MissingGDAPRole {
		if o := d.customer(tid); o != nil && o.Relationship == RelationshipGDAP {
			o.MissingGDAPRole = missing
		}
	}
	for tid, l := range st.Licences {
		if o := d.customer(tid); o != nil {
			o.Skus, o.Subscriptions = l.Skus, l.Subscriptions
		}
	}
}

// entraPremium tells whether a SKU's service plans include Entra ID P1 or P2, which Graph's
// sign-in activity needs.
func entraPremium(k *Sku) bool {
	return slices.ContainsFunc(k.ServicePlans, func(p ServicePlan) bool { return p.ID == planEntraP1.ID || p.ID == planEntraP2.ID })
}

// changeLicences runs change on a customer's licences and records the result. Slices are
// replaced, never edited in place, so snapshots handed out earlier stay unchanged.
func (s *Server) changeLicences(tenantID string, change func(o *org) error) error {
	o := s.dir.customer(tenantID)
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	skus, subs := o.Skus, o.Subscriptions
	o.Skus, o.Subscriptions = slices.Clone(skus), slices.Clone(subs)
	if err := change(o); err != nil {
		o.Skus, o.Subscriptions = skus, subs
		return err
	}
	if s.state.Licences == nil {
		s.state.Licences = map[string]*licenceState{}
	}
	s.state.Licences[o.ID] = &licenceState{Skus: o.Skus, Subscriptions: o.Subscriptions}
	return s.persistLocked()
}

// AddSubscription adds a subscription to a customer tenant, as a purchase through the partner
// does, and returns it as stored. SkuID is required; a SKU the tenant does not own yet is
// taken from the generator's catalogue. Empty fields get defaults: a new ID, the catalogue's
// offer, status active, created now, billed monthly for a one-year term (one month for
// trials), auto-renewing unless a trial.
func (s *Server) AddSubscription(tenantID string, sub Subscription) (Subscription, error) {
	err := s.changeLicences(tenantID, func(o *org) error {
		k := o.sku(sub.SkuID)
		if k == nil {
			c := catalogSku(sub.SkuID)
			if c == nil {
				return fmt.Errorf("sim: sku %q is neither owned by tenant %s nor in the simulator's catalogue; use one of the tenant's skuIds or a catalogue SKU", sub.SkuID, o.ID)
			}
			o.Skus = append(o.Skus, *c)
			k = c
		}
		sub.SkuID = k.SkuID
		if sub.ID == "" {
			sub.ID = newUUID()
		}
		if o.subscription(sub.ID) != nil {
			return fmt.Errorf("sim: tenant %s already has a subscription %s", o.ID, sub.ID)
		}
		sub.OfferID = orDefault(sub.OfferID, offerFor(k.SkuID))
		sub.OfferName = orDefault(sub.OfferName, k.Name)
		sub.FriendlyName = orDefault(sub.FriendlyName, sub.OfferName)
		sub.Status = orDefault(sub.Status, SubscriptionActive)
		if sub.CreationDate.IsZero() {
			sub.CreationDate = s.now().UTC().Truncate(time.Second)
		}
		sub.BillingCycle = orDefault(sub.BillingCycle, "monthly")
		term := "P1Y"
		if sub.IsTrial {
			term = "P1M"
		}
		sub.TermDuration = orDefault(sub.TermDuration, term)
		if sub.CommitmentEndDate.IsZero() {
			sub.CommitmentEndDate = termEnd(sub.CreationDate, sub.TermDuration, sub.CreationDate)
		}
		if err := checkSubscription(sub); err != nil {
			return fmt.Errorf("sim: %w", err)
		}
		o.Subscriptions = append(o.Subscriptions, sub)
		if entraPremium(k) {
			o.PremiumLicence = true // buying Entra ID P1/P2, alone or in a suite, makes the tenant premium
		}
		return nil
	})
	return sub, err
}

// SetSubscriptionStatus moves a subscription to status (active, suspended or expired), e.g.
// suspends it or reactivates it. Like Partner Center, it refuses to revive a deleted one.
func (s *Server) SetSubscriptionStatus(tenantID, subscriptionID, status string) (Subscription, error) {
	switch status {
	case SubscriptionActive, SubscriptionSuspended, SubscriptionExpired:
	default:
		return Subscription{}, fmt.Errorf("sim: status %q cannot be set; use %s, %s or %s (RemoveSubscription takes a subscription away)", status, SubscriptionActive, SubscriptionSuspended, SubscriptionExpired)
	}
	return s.updateSubscription(tenantID, subscriptionID, func(sub *Subscription) error {
		sub.Status = status
		return nil
	})
}

// SetSubscriptionQuantity changes a subscription's seat count. Like Partner Center, it refuses
// while the subscription is suspended or deleted.
func (s *Server) SetSubscriptionQuantity(tenantID, subscriptionID string, quantity int) (Subscription, error) {
	return s.updateSubscription(tenantID, subscriptionID, func(sub *Subscription) error {
		if sub.Status == SubscriptionSuspended {
			return fmt.Errorf("sim: subscription %s is suspended and its quantity cannot change (Partner Center error 800091); reactivate it first", sub.ID)
		}
		sub.Quantity = quantity
		return nil
	})
}

func (s *Server) updateSubscription(tenantID, subscriptionID string, update func(*Subscription) error) (Subscription, error) {
	var out Subscription
	err := s.changeLicences(tenantID, func(o *org) error {
		sub := o.subscription(subscriptionID)
		switch {
		case sub == nil:
			return errUnknownSubscription(o.ID, subscriptionID)
		case sub.Status == SubscriptionDeleted:
			return fmt.Errorf("sim: subscription %s is deleted and cannot be updated (Partner Center error 2011); add a new subscription instead", sub.ID)
		}
		if err := update(sub); err != nil {
			return err
		}
		out = *sub
		return checkSubscription(*sub)
	})
	return out, err
}

// RemoveSubscription takes a subscription away entirely: Partner Center no longer lists it and
// its units leave the subscribed SKUs. (Set status deleted through a scenario to keep it
// listed as cancelled.)
func (s *Server) RemoveSubscription(tenantID, subscriptionID string) error {
	return s.changeLicences(tenantID, func(o *org) error {
		i := slices.IndexFunc(o.Subscriptions, func(sub Subscription) bool { return strings.EqualFold(sub.ID, subscriptionID) })
		if i < 0 {
			return errUnknownSubscription(o.ID, subscriptionID)
		}
		o.Subscriptions = slices.Delete(o.Subscriptions, i, i+1)
		return nil
	})
}

func errUnknownSubscription(tenantID, id string) error {
	return &notFoundError{"subscription " + strconv.Quote(id) + " in tenant " + tenantID}
}

// SetMembershipRefused switches Scenario.MembershipRefused at runtime.
func (s *Server) SetMembershipRefused(refused bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sc.MembershipRefused = refused
	s.state.MembershipRefused = &refused
	return s.persistLocked()
}

// SetMissingGDAPRole switches Tenant.MissingGDAPRole for a GDAP customer at runtime.
func (s *Server) SetMissingGDAPRole(tenantID string, missing bool) error {
	o := s.dir.customer(tenantID)
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	if o.Relationship != RelationshipGDAP {
		return errors.New("sim: tenant " + o.ID + " has a DAP relationship, which grants every role; only GDAP tenants can miss one")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	o.MissingGDAPRole = missing
	if s.state.MissingGDAPRole == nil {
		s.state.MissingGDAPRole = map[string]bool{}
	}
	s.state.MissingGDAPRole[o.ID] = missing
	return s.persistLocked()
}

// termEnd is the end of the subscription term running at now for a subscription created at
// start (terms renew back to back), or the first term's end when now is before it ends.
func termEnd(start time.Time, term string, now time.Time) time.Time {
	months := 12
	switch term {
	case "P1M":
		months = 1
	case "P3Y":
		months = 36
	}
	end := start.AddDate(0, months, 0)
	for n := 2; !end.After(now); n++ {
		end = start.AddDate(0, months*n, 0)
	}
	return end
}

// subscriptionPatch is the body of PATCH /_sim/tenants/{tenant}/subscriptions/{id}: exactly
// one of the fields.
type subscriptionPatch struct {
	Status   *string `json:"status,omitempty"`
	Quantity *int    `json:"quantity,omitempty"`
}

type membershipSetting struct {
	Refused bool `json:"refused"`
}

type gdapRoleSetting struct {
	Missing bool `json:"missing"`
}

func (s *Server) licenceRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sim/tenants/{tenant}/subscriptions", func(w http.ResponseWriter, r *http.Request) {
		var sub Subscription
		if err := decodeStrict(r, &sub); err != nil {
			adminReply(w, err, nil)
			return
		}
		sub, err := s.AddSubscription(r.PathValue("tenant"), sub)
		adminReply(w, err, sub)
	})
	mux.HandleFunc("PATCH /_sim/tenants/{tenant}/subscriptions/{subscription}", func(w http.ResponseWriter, r *http.Request) {
		var p subscriptionPatch
		if err := decodeStrict(r, &p); err != nil {
			adminReply(w, err, nil)
			return
		}
		tenant, id := r.PathValue("tenant"), r.PathValue("subscription")
		var sub Subscription
		var err error
		switch {
		case (p.Status == nil) == (p.Quantity == nil):
			err = errors.New(`sim: send exactly one of {"status": "active|suspended|expired"} and {"quantity": n}`)
		case p.Status != nil:
			sub, err = s.SetSubscriptionStatus(tenant, id, *p.Status)
		default:
			sub, err = s.SetSubscriptionQuantity(tenant, id, *p.Quantity)
		}
		adminReply(w, err, sub)
	})
	mux.HandleFunc("DELETE /_sim/tenants/{tenant}/subscriptions/{subscription}", func(w http.ResponseWriter, r *http.Request) {
		adminReply(w, s.RemoveSubscription(r.PathValue("tenant"), r.PathValue("subscription")), nil)
	})
	mux.HandleFunc("PUT /_sim/membership-refused", func(w http.ResponseWriter, r *http.Request) {
		var m membershipSetting
		err := decodeStrict(r, &m)
		if err == nil {
			err = s.SetMembershipRefused(m.Refused)
		}
		adminReply(w, err, nil)
	})
	mux.HandleFunc("PUT /_sim/tenants/{tenant}/missing-gdap-role", func(w http.ResponseWriter, r *http.Request) {
		var g gdapRoleSetting
		err := decodeStrict(r, &g)
		if err == nil {
			err = s.SetMissingGDAPRole(r.PathValue("tenant"), g.Missing)
		}
		adminReply(w, err, nil)
	})
}
