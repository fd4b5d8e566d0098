package control

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/store"
)

// UserLicence is one licence a PSA user holds, as Graph said in the last users round.
type UserLicence struct {
	SkuID       string     `json:"sku_id"`
	PartNumber  string     `json:"part_number"`
	ProductName string     `json:"product_name"`
	Pending     bool       `json:"pending"` // the customer has no licence row for the SKU yet
	AssignedAt  time.Time  `json:"assigned_at"`
	RemovedAt   *time.Time `json:"removed_at"` // null while he holds it
}

func userLicenceOf(l store.UserLicenceLink) UserLicence {
	part := l.PartNumber
	if part == "" {
		part = licensing.PartNumber(l.SkuID)
	}
	return UserLicence{SkuID: l.SkuID, PartNumber: part, ProductName: licensing.ProductName(l.SkuID, part),
		Pending: l.Pending, AssignedAt: l.AssignedAt.UTC(), RemovedAt: utcPtr(l.RemovedAt)}
}

// withLicences adds to a customer's users their service flags and licences (userID 0: all
// users; history: the removed licences too).
func withLicences(ctx context.Context, st *store.Store, customerID, userID int64, history bool, us []PSAUser) error {
	flags, err := st.UserBillingStates(ctx, customerID)
	if err != nil {
		return err
	}
	links, err := st.UserLicenceLinks(ctx, customerID, userID, history)
	if err != nil {
		return err
	}
	byUser := map[int64][]UserLicence{}
	for _, l := range links {
		byUser[l.PSAUserID] = append(byUser[l.PSAUserID], userLicenceOf(l))
	}
	for i := range us {
		f := flags[us[i].ID]
		us[i].ServiceUser, us[i].ServiceReason = f.Service, f.Reason
		us[i].Licences = orEmpty(byUser[us[i].ID])
	}
	return nil
}

// User is one PSA user of a customer with his licences, removed ones included.
func (c *Control) User(ctx context.Context, userID string) (PSAUser, error) {
	id, err := customerNumber(userID)
	if err != nil {
		return PSAUser{}, fmt.Errorf("user id %q is not a number: take it from the ID column of `cspsync users list`", userID)
	}
	st, err := c.db(ctx)
	if err != nil {
		return PSAUser{}, err
	}
	customerID, err := st.UserCustomer(ctx, id)
	if err != nil {
		return PSAUser{}, err
	}
	us, err := st.ListUsers(ctx, customerID)
	if err != nil {
		return PSAUser{}, err
	}
	i := slices.IndexFunc(us, func(u domain.PSAUser) bool { return u.ID == id })
	if i < 0 {
		return PSAUser{}, fmt.Errorf("user %d does not exist: take the id from the ID column of `cspsync users list`", id)
	}
	out := []PSAUser{psaUserOf(us[i])}
	return out[0], withLicences(ctx, st, customerID, id, true, out)
}

// billingSettings adds a partner's service group and billable SKUs to its settings.
func billingSettings(ctx context.Context, st *store.Store, partnerID string, s *UserSettings) error {
	b, err := st.BillingSettings(ctx, partnerID)
	if err != nil {
		return err
	}
	s.ServiceGroup = b.ServiceGroup
	s.BillableSkus = []string{}
	for _, id := range b.BillableSkus {
		part := licensing.PartNumber(id)
		if part == "" {
			part = id
		}
		if !slices.Contains(s.BillableSkus, part) {
			s.BillableSkus = append(s.BillableSkus, part)
		}
	}
	return nil
}

// ServiceUserChange changes the service-user rules; nil fields stay as they are.
type ServiceUserChange struct {
	// ServiceGroup is the group name; "" removes the rule. With a customer it is that
	// customer's override ("" : no group for it), and ClearOverride returns it to the partner's.
	ServiceGroup  *string
	ClearOverride bool
	CustomerID    string
	// BillableSkus are part numbers, product names or SKU ids, each checked against Microsoft's
	// product reference; an empty list removes the rule. Partner-wide only.
	BillableSkus []string
}

// ChangeServiceUsers saves a change of the service-user rules and returns the partner's
// settings then in force. A licence the product reference does not know is refused and
// nothing is saved. The next users round applies the rules to every user it reads; a new
// group name reads the tenant's groups in full.
func (c *Control) ChangeServiceUsers(ctx context.Context, partnerID string, ch ServiceUserChange) (UserSettings, error) {
	partner, customerID, err := c.partnerFor(ctx, partnerID, ch.CustomerID)
	if err != nil {
		return UserSettings{}, err
	}
	var skuIDs []string
	if ch.BillableSkus != nil {
		if customerID != 0 {
			return UserSettings{}, fmt.Errorf("billable licences are the partner's: leave out --customer")
		}
		skuIDs = []string{}
		for _, s := range ch.BillableSkus {
			if strings.TrimSpace(s) == "" {
				continue
			}
			ps, err := licensing.LookUp(s)
			if err != nil {
				return UserSettings{}, err
			}
			for _, p := range ps {
				if !slices.Contains(skuIDs, p.SkuID) {
					skuIDs = append(skuIDs, p.SkuID)
				}
			}
		}
	}
	if ch.ServiceGroup != nil {
		// Entra ID group display names are at most 256 characters.
		name, err := operatorText("service group name", *ch.ServiceGroup, 256)
		if err != nil {
			return UserSettings{}, err
		}
		ch.ServiceGroup = &name
	}
	st, err := c.db(ctx)
	if err != nil {
		return UserSettings{}, err
	}
	if skuIDs != nil {
		if err := st.SetBillableSkus(ctx, partner, skuIDs); err != nil {
			return UserSettings{}, err
		}
	}
	switch {
	case ch.ClearOverride && customerID != 0:
		err = st.SetServiceGroup(ctx, partner, customerID, nil)
	case ch.ServiceGroup != nil:
		err = st.SetServiceGroup(ctx, partner, customerID, ch.ServiceGroup)
	}
	if err != nil {
		return UserSettings{}, err
	}
	// A delta round reads only the users Microsoft changed: for a new rule to reach every
	// user, the next rounds read them all.
	tenant := ""
	if customerID != 0 {
		_, cu, err := c.customerByID(ctx, ch.CustomerID)
		if err != nil {
			return UserSettings{}, err
		}
		if tenant = cu.TenantID; tenant == "" {
			return c.UserSettings(ctx, partner)
		}
	}
	if _, err := st.ResetDelta(ctx, partner, tenant); err != nil {
		return UserSettings{}, err
	}
	return c.UserSettings(ctx, partner)
}

// BillingCounts are users by billable state.
type BillingCounts struct {
	Billable int `json:"billable"` // active and not service users
	Service  int `json:"service"`  // active service users
	Inactive int `json:"inactive"`
}

// SkuBilling is a customer's seats of one SKU: paid for (Partner Center's active units) and
// assigned (the customer's users holding it, as cspsync saw them).
type SkuBilling struct {
	SkuID       string `json:"sku_id"`
	PartNumber  string `json:"part_number"`
	ProductName string `json:"product_name"`
	Paid        int    `json:"paid"`
	Assigned    int    `json:"assigned"`
}

// CustomerBilling is one customer's billing counts.
type CustomerBilling struct {
	CustomerID int64  `json:"customer_id"`
	Customer   string `json:"customer"`
	TenantID   string `json:"tenant_id"`
	BillingCounts
	Skus []SkuBilling `json:"skus"`
}

// BillingReport is what a partner bills its customers for at one time.
type BillingReport struct {
	At        time.Time         `json:"at"`
	Customers []CustomerBilling `json:"customers"`
	Total     BillingCounts     `json:"total"`
}

// ParseBillingTime reads --at: an RFC 3339 time, or a date (YYYY-MM-DD), meaning the end of
// that day in UTC, so `--at 2026-11-30` answers for month-end.
func ParseBillingTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("--at %q is neither a date (2026-11-30, meaning the end of that day in UTC) nor an RFC 3339 time (2026-11-30T18:00:00Z)", s)
	}
	return d.AddDate(0, 0, 1).Add(-time.Microsecond), nil
}

// Billing counts, per customer of the partner (one when customerID is set), the billable,
// service and inactive users and the seats paid for and assigned per SKU, as they stood at
// `at` (nil: now), from the histories kept of every user's state and every licence's seats.
func (c *Control) Billing(ctx context.Context, partnerID, customerID string, at *time.Time) (BillingReport, error) {
	st, err := c.db(ctx)
	if err != nil {
		return BillingReport{}, err
	}
	var only int64
	if customerID != "" {
		_, cu, err := c.customerByID(ctx, customerID)
		if err != nil {
			return BillingReport{}, err
		}
		only, partnerID = cu.ID, cu.PartnerID
	}
	rep := BillingReport{At: time.Now().UTC(), Customers: []CustomerBilling{}}
	if at != nil {
		rep.At = at.UTC()
	}
	users, seats, err := st.Billing(ctx, partnerID, only, rep.At)
	if err != nil {
		return rep, err
	}
	customers, err := st.ListCustomers(ctx, partnerID)
	if err != nil {
		return rep, err
	}
	for _, cu := range customers {
		if only != 0 && cu.ID != only {
			continue
		}
		cb := CustomerBilling{CustomerID: cu.ID, Customer: cu.Name, TenantID: cu.TenantID, Skus: []SkuBilling{}}
		for _, u := range users {
			if u.CustomerID == cu.ID {
				cb.BillingCounts = BillingCounts{Billable: u.Billable, Service: u.Service, Inactive: u.Inactive}
			}
		}
		for _, s := range seats {
			if s.CustomerID == cu.ID {
				part := s.PartNumber
				if part == "" {
					part = licensing.PartNumber(s.SkuID)
				}
				cb.Skus = append(cb.Skus, SkuBilling{SkuID: s.SkuID, PartNumber: part, ProductName: licensing.ProductName(s.SkuID, part),
					Paid: s.Paid, Assigned: s.Assigned})
			}
		}
		if cb.BillingCounts == (BillingCounts{}) && len(cb.Skus) == 0 {
			continue
		}
		rep.Total.Billable += cb.Billable
		rep.Total.Service += cb.Service
		rep.Total.Inactive += cb.Inactive
		rep.Customers = append(rep.Customers, cb)
	}
	return rep, nil
}
