package activities

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/parallel"
	"github.com/cspsync/cspsync/internal/store"
)

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
	// RetireTenant ends the workflow of a tenant that left Partner Center;
	// false when none was running.
	RetireTenant(ctx context.Context, partnerID, tenantID string, leftAt time.Time) (bool, error)
	// TellRelationship gives a running tenant workflow its relationship and
	// GDAP relationship as discovery found them.
	TellRelationship(ctx context.Context, partnerID string, t TenantInfo) error
}

// TenantInfo is what a new tenant workflow starts from.
type TenantInfo struct {
	TenantID     string
	CustomerName string
	Relationship domain.Relationship
	Consent      domain.Consent
	GDAP         domain.GDAPState // without its roles: the workflow needs its status
}

func tenantInfo(c store.Customer) TenantInfo {
	g := c.GDAP
	g.Roles = nil
	return TenantInfo{TenantID: c.TenantID, CustomerName: c.Name, Relationship: c.Relationship, Consent: c.ConsentState, GDAP: g}
}

// TenantSyncResult is what one tenant sync found.
type TenantSyncResult struct {
	Organization string
}

// SyncTenant reads the tenant through Graph as the multi-tenant app. Failures
// are classified: missing consent sends the tenant back to AwaitingConsent,
// unusable credentials pause the partner's tenants.
func (a *Activities) SyncTenant(ctx context.Context, partnerID, tenantID string) (TenantSyncResult, error) {
	creds, err := a.credentials(ctx, partnerID, tenantID, domain.OpSync)
	if err != nil {
		return TenantSyncResult{}, err
	}
	org, err := a.Auth.Organization(ctx, creds, tenantID)
	if err != nil {
		return TenantSyncResult{}, a.fail(ctx, partnerID, tenantID, domain.OpSync, err)
	}
	if err := a.Store.MarkTenantSynced(ctx, tenantID); err != nil {
		return TenantSyncResult{}, err
	}
	if err := a.Store.ResolveErrors(ctx, partnerID, tenantID, domain.OpSync); err != nil {
		return TenantSyncResult{}, err
	}
	return TenantSyncResult{Organization: org}, nil
}

// RecordTenantState mirrors a tenant workflow's state into the store, for the
// CLI, the consent page and `cspsync check`. Run as a local activity.
func (a *Activities) RecordTenantState(ctx context.Context, tenantID string, state domain.TenantState, reason string) error {
	return a.Store.RecordTenantState(ctx, tenantID, state, reason)
}

// EnsureTenants makes sure every discovered tenant of the partner has its
// running workflow, which knows the tenant's relationship as discovery found
// it, and that the workflow of every tenant that left Partner Center has
// ended. The tenant list stays here, out of workflow
// history.
func (a *Activities) EnsureTenants(ctx context.Context, partnerID string, settings TenantSettings) (int, error) {
	return a.eachTenant(ctx, partnerID, func(c store.Customer) error {
		if c.LeftAt != nil {
			return a.retire(ctx, partnerID, c)
		}
		if err := a.Tenants.EnsureTenant(ctx, partnerID, tenantInfo(c), settings); err != nil || !c.RelationshipChanged {
			return err
		}
		// A workflow already running learns of the change. Discoveries of a
		// partner run one at a time, so no newer change is cleared here.
		if err := a.Tenants.TellRelationship(ctx, partnerID, tenantInfo(c)); err != nil {
			return err
		}
		return a.Store.ClearRelationshipChanged(ctx, c.TenantID)
	})
}

// retire ends the workflow of a tenant that left Partner Center, once: the
// workflow records the Left state as it ends. A tenant without a running
// workflow is recorded as Left here.
func (a *Activities) retire(ctx context.Context, partnerID string, c store.Customer) error {
	if c.SyncState == domain.TenantLeft {
		return nil
	}
	running, err := a.Tenants.RetireTenant(ctx, partnerID, c.TenantID, *c.LeftAt)
	if err != nil || running {
		return err
	}
	return a.Store.RecordTenantState(ctx, c.TenantID, domain.TenantLeft, domain.LeftReason(*c.LeftAt))
}

// PauseTenants pauses every tenant workflow of the partner.
func (a *Activities) PauseTenants(ctx context.Context, partnerID, reason string) (int, error) {
	return a.eachTenant(ctx, partnerID, func(c store.Customer) error {
		if c.LeftAt != nil {
			return nil // its workflow has ended
		}
		return a.Tenants.PauseTenant(ctx, partnerID, c.TenantID, reason)
	})
}

// ResumeTenants resumes every tenant workflow of the partner.
func (a *Activities) ResumeTenants(ctx context.Context, partnerID string) (int, error) {
	return a.eachTenant(ctx, partnerID, func(c store.Customer) error {
		if c.LeftAt != nil {
			return nil
		}
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
	linked := customers[:0]
	for _, c := range customers {
		if c.TenantID != "" {
			linked = append(linked, c)
		}
	}
	var done atomic.Int64
	err = parallel.Each(ctx, linked, fanOut, func(_ context.Context, c store.Customer) error {
		if err := fn(c); err != nil {
			return fmt.Errorf("tenant %s: %w", c.TenantID, err)
		}
		if n := done.Add(1); n%100 == 0 {
			activity.RecordHeartbeat(ctx, n)
		}
		return nil
	})
	return int(done.Load()), err
}
