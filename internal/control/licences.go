package control

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/temporal"

	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/parallel"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/workflows"
)

// importFanOut is how many tenants are asked at once.
const importFanOut = 8

// ImportLicences asks one tenant (tenantID) or every tenant of the partner
// to import its licences now. With wait it returns once each import that
// started after the request has finished, with the counts; a tenant that
// fails is reported and the others go on.
func (c *Control) ImportLicences(ctx context.Context, partnerID, tenantID string, wait bool, timeout time.Duration) (LicenceImport, error) {
	tc, err := c.client(ctx)
	if err != nil {
		return LicenceImport{}, err
	}
	var tenants []Customer
	if tenantID != "" {
		_, cu, err := c.customer(ctx, tenantID)
		if err == nil {
			err = stillListed(cu)
		}
		if err != nil {
			return LicenceImport{}, err
		}
		tenants = []Customer{cu}
	} else if tenants, err = c.workingTenants(ctx, partnerID); err != nil {
		return LicenceImport{}, err
	}
	if len(tenants) == 0 {
		return LicenceImport{}, fmt.Errorf("partner %s has no tenants yet: run `cspsync sync --wait` first", partnerID)
	}
	res := LicenceImport{Tenants: len(tenants)}
	res.Failed = askTenants(ctx, tenants, timeout, func(ctx context.Context, id string) (r workflows.LicenceImportResult, err error) {
		if !wait {
			return r, workflows.SignalImportLicences.Send(ctx, tc, id, struct{}{})
		}
		return workflows.UpdateImportLicences.Execute(ctx, tc, id, struct{}{})
	}, func(r workflows.LicenceImportResult) {
		res.Licences += r.Licences
		res.Subscriptions += r.Subscriptions
		res.Events += r.Events
	})
	if tenantID != "" && len(res.Failed) == 1 {
		return res, errors.New(res.Failed[0].Error)
	}
	return res, nil
}

// askTenants asks each tenant's workflow (importFanOut at a time, all within
// timeout) and hands each answer to add, one at a time; a tenant that fails
// is returned with the reason and the others go on.
func askTenants[R any](ctx context.Context, tenants []Customer, timeout time.Duration,
	ask func(ctx context.Context, workflowID string) (R, error), add func(R)) []TenantFailure {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var mu sync.Mutex
	failed := []TenantFailure{}
	_ = parallel.Each(ctx, tenants, importFanOut, func(ctx context.Context, cu Customer) error {
		r, err := ask(ctx, workflows.TenantWorkflowID(cu.PartnerID, cu.TenantID))
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			failed = append(failed, TenantFailure{TenantID: cu.TenantID, Customer: cu.Name, Error: describeUpdateError(ctx, err, timeout)})
		} else {
			add(r)
		}
		return nil
	})
	return failed
}

// describeUpdateError phrases why a tenant did not answer.
func describeUpdateError(ctx context.Context, err error, timeout time.Duration) string {
	var nf *serviceerror.NotFound
	var app *temporal.ApplicationError
	switch {
	case errors.As(err, &nf):
		return "the tenant's workflow is not running (is the worker running? `cspsync sync` restarts tenants)"
	case errors.As(err, &app):
		return app.Message()
	case ctx.Err() != nil:
		return "no answer within " + timeout.String() + " (is the worker running? see `cspsync status`)"
	}
	return err.Error()
}

// Licences reconciles the seats of a partner's customers ("" for all):
// paid for, assigned, unused, and those suspended or about to lapse.
func (c *Control) Licences(ctx context.Context, partnerID string) (LicenceReport, error) {
	st, err := c.db(ctx)
	if err != nil {
		return LicenceReport{}, err
	}
	all, err := st.ListLicences(ctx, partnerID)
	if err != nil {
		return LicenceReport{}, err
	}
	assigned, err := st.AssignedSeats(ctx, partnerID)
	if err != nil {
		return LicenceReport{}, err
	}
	rep := LicenceReport{Customers: []CustomerSeats{}}
	var total licensing.Seats
	for _, cl := range all {
		cs := CustomerSeats{CustomerID: cl.Customer.ID, Customer: cl.Customer.Name, TenantID: cl.Customer.TenantID,
			TopLevel: cl.Customer.TopLevel, ImportedAt: utcPtr(cl.ImportedAt), Licences: []LicenceSeats{}}
		var sum licensing.Seats
		for _, l := range cl.Licences {
			seats := licensing.SeatsOf(l)
			ls := LicenceSeats{SkuID: l.SkuID, PartNumber: l.PartNumber, ProductName: l.ProductName, CapabilityStatus: l.CapabilityStatus,
				TotalUnits: l.Total, ActiveUnits: l.Active, ConsumedUnits: l.Consumed, SuspendedUnits: l.Suspended, WarningUnits: l.Warning,
				Seats: seatsOf(seats), Subscriptions: []Subscription{}, UsersAssigned: assigned[cl.Customer.ID][strings.ToLower(l.SkuID)]}
			ls.UsersDiffer = ls.UsersAssigned != l.Consumed
			for _, s := range cl.Subscriptions {
				if s.SkuID == l.SkuID {
					ls.Subscriptions = append(ls.Subscriptions, subscriptionOf(s))
				}
			}
			cs.Licences = append(cs.Licences, ls)
			sum.Add(seats)
		}
		cs.Total = seatsOf(sum)
		total.Add(sum)
		rep.Customers = append(rep.Customers, cs)
	}
	rep.Total = seatsOf(total)
	return rep, nil
}

// LicenceHistory is a customer's licence changes, oldest first.
func (c *Control) LicenceHistory(ctx context.Context, customerID string) ([]LicenceEvent, error) {
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return nil, err
	}
	evs, err := st.LicenceEvents(ctx, id)
	return mapAll(evs, func(e store.LicenceEvent) LicenceEvent {
		return LicenceEvent{At: e.At.UTC(), SkuID: e.SkuID, SubscriptionID: e.SubscriptionID, Field: e.Field, Old: e.Old, New: e.New}
	}), err
}

// TopLevels lists the top levels with their customer counts; never nil.
func (c *Control) TopLevels(ctx context.Context) ([]TopLevel, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	tls, err := st.ListTopLevels(ctx)
	return mapAll(tls, func(t store.TopLevel) TopLevel { return TopLevel{Name: t.Name, Customers: t.Customers} }), err
}

// SetCustomerTopLevel puts a customer in a top level (created when new; ""
// takes it out of any).
func (c *Control) SetCustomerTopLevel(ctx context.Context, customerID, name string) error {
	name, err := operatorText("the top level's name", name, maxName)
	if err != nil {
		return err
	}
	st, id, err := c.forCustomer(ctx, customerID)
	if err != nil {
		return err
	}
	return st.SetCustomerTopLevel(ctx, id, name)
}

// SSOAllowedTenants is the allowed-tenants list of a self-service portal's
// multi-tenant sign-in: the imported tenants of partners that keep it.
func (c *Control) SSOAllowedTenants(ctx context.Context) ([]SSOAllowedTenant, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	ts, err := st.SSOAllowedTenants(ctx)
	return mapAll(ts, func(t store.SSOAllowedTenant) SSOAllowedTenant {
		return SSOAllowedTenant{TenantID: t.TenantID, Customer: t.Customer, Partner: t.Partner}
	}), err
}
