package activities

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"golang.org/x/sync/errgroup"

	"github.com/cspsync/cspsync/internal/store"
)

// OpSync names a tenant sync in integration_errors.
const OpSync = "sync"

// TenantSettings tune every tenant workflow of a partner.
type TenantSettings struct {
	// SyncInterval is how often a Ready tenant syncs without being asked.
	SyncInterval time.Duration
}

// TenantControl starts and signals tenant workflows. The workflows package
// implements it; activities only know this interface, so dependencies point
// one way.
type TenantControl interface {
	EnsureTenant(ctx context.Context, partnerID string, t TenantInfo, settings TenantSettings) error
	PauseTenant(ctx context.Context, partnerID, tenantID, reason string) error
	ResumeTenant(ctx context.Context, partnerID, tenantID string) error
}

// TenantInfo is what a new tenant workflow starts from.
type TenantInfo struct {
	TenantID     string
	CustomerName string
	Relationship string
	Consent      string
}

// TenantSyncResult is what one tenant sync found.
type TenantSyncResult struct {
	Organization string
}

// SyncTenant reads the tenant through Graph as the multi-tenant app. Failures
// are classified: missing consent sends the tenant back to AwaitingConsent,
// unusable credentials pause the partner's tenants.
func (a *Activities) SyncTenant(ctx context.Context, partnerID, tenantID string) (TenantSyncResult, error) {
	p, err := a.Store.GetPartner(ctx, partnerID)
	if err != nil {
		return TenantSyncResult{}, err
	}
	org, err := a.Auth.Organization(ctx, partnerID, tenantID, p.GraphURL)
	if err != nil {
		return TenantSyncResult{}, a.fail(ctx, partnerID, tenantID, OpSync, err)
	}
	if err := a.Store.MarkTenantSynced(ctx, tenantID); err != nil {
		return TenantSyncResult{}, err
	}
	if err := a.Store.ResolveErrors(ctx, partnerID, tenantID, OpSync); err != nil {
		return TenantSyncResult{}, err
	}
	return TenantSyncResult{Organization: org}, nil
}

// RecordTenantState mirrors a tenant workflow's state into the store, for the
// CLI, the consent page and `cspsync check`. Run as a local activity.
func (a *Activities) RecordTenantState(ctx context.Context, tenantID, state, reason string) error {
	return a.Store.RecordTenantState(ctx, tenantID, state, reason)
}

// EnsureTenants makes sure every discovered tenant of the partner has its
// running workflow. The tenant list stays here, out of workflow history.
func (a *Activities) EnsureTenants(ctx context.Context, partnerID string, settings TenantSettings) (int, error) {
	return a.eachTenant(ctx, partnerID, func(c store.Customer) error {
		return a.Tenants.EnsureTenant(ctx, partnerID, TenantInfo{TenantID: c.TenantID, CustomerName: c.Name,
			Relationship: c.Relationship, Consent: c.ConsentState}, settings)
	})
}

// PauseTenants pauses every tenant workflow of the partner.
func (a *Activities) PauseTenants(ctx context.Context, partnerID, reason string) (int, error) {
	return a.eachTenant(ctx, partnerID, func(c store.Customer) error {
		return a.Tenants.PauseTenant(ctx, partnerID, c.TenantID, reason)
	})
}

// ResumeTenants resumes every tenant workflow of the partner.
func (a *Activities) ResumeTenants(ctx context.Context, partnerID string) (int, error) {
	return a.eachTenant(ctx, partnerID, func(c store.Customer) error {
		return a.Tenants.ResumeTenant(ctx, partnerID, c.TenantID)
	})
}

// fanOut is how many tenant workflows are started or signalled at once.
const fanOut = 16

func (a *Activities) eachTenant(ctx context.Context, partnerID string, fn func(store.Customer) error) (int, error) {
	customers, err := a.Store.ListCustomers(ctx, partnerID)
	if err != nil {
		return 0, err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(fanOut)
	var done atomic.Int64
	for _, c := range customers {
		if c.TenantID == "" {
			continue
		}
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error {
			if err := fn(c); err != nil {
				return fmt.Errorf("tenant %s: %w", c.TenantID, err)
			}
			if n := done.Add(1); n%100 == 0 {
				activity.RecordHeartbeat(ctx, n)
			}
			return nil
		})
	}
	err = g.Wait()
	return int(done.Load()), err
}
