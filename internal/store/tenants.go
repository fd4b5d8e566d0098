package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// Consent states of a customer tenant.
const (
	ConsentNotRequired = "not_required"
	ConsentPending     = "pending"
	ConsentGranted     = "granted"
	ConsentRevoked     = "revoked"
)

// consentFor is the consent state a tenant starts with under a relationship:
// DAP needs no per-tenant consent, GDAP keeps a grant it already has.
const consentFor = `CASE WHEN $2 = 'DAP' THEN 'not_required'
	WHEN consent_state IN ('granted', 'revoked') THEN consent_state ELSE 'pending' END`

// GetCustomerByTenant returns the customer linked to a tenant id.
func (s *Store) GetCustomerByTenant(ctx context.Context, tenantID string) (Customer, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+customerColumns+` FROM customers WHERE azure_tenant_id::text = lower($1)`, tenantID)
	if err != nil {
		return Customer{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCustomer)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("tenant %s: %w (see `cspsync customers list`; discovery imports tenants)", tenantID, ErrNotFound)
	}
	return c, err
}

// SetRelationship overrides a tenant's relationship by hand; later
// discoveries keep it.
func (s *Store) SetRelationship(ctx context.Context, tenantID, relationship string) (Customer, error) {
	if relationship != "DAP" && relationship != "GDAP" {
		return Customer{}, fmt.Errorf("relationship %q: use DAP or GDAP", relationship)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE customers SET relationship = $2, relationship_source = 'manual',
		consent_state = `+consentFor+`, updated_at = now() WHERE azure_tenant_id::text = lower($1)`, tenantID, relationship)
	if err != nil {
		return Customer{}, err
	}
	if tag.RowsAffected() == 0 {
		return Customer{}, fmt.Errorf("tenant %s: %w (see `cspsync customers list`)", tenantID, ErrNotFound)
	}
	return s.GetCustomerByTenant(ctx, tenantID)
}

// SetConsentState records a tenant's admin consent state.
func (s *Store) SetConsentState(ctx context.Context, tenantID, state string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE customers SET consent_state = $2, consent_changed_at = now(), updated_at = now()
		WHERE azure_tenant_id::text = lower($1)`, tenantID, state)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("tenant %s: %w", tenantID, ErrNotFound)
	}
	return err
}

// RecordTenantState mirrors a tenant workflow's state.
func (s *Store) RecordTenantState(ctx context.Context, tenantID, syncState, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE customers SET sync_state = $2, sync_reason = $3, updated_at = now()
		WHERE azure_tenant_id::text = lower($1)`, tenantID, syncState, reason)
	return err
}

// MarkTenantSynced stamps a successful sync.
func (s *Store) MarkTenantSynced(ctx context.Context, tenantID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE customers SET last_sync_at = now(), updated_at = now()
		WHERE azure_tenant_id::text = lower($1)`, tenantID)
	return err
}
