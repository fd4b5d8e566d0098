package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/cspsync/cspsync/internal/domain"
)

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

// GetCustomer returns a customer by its id.
func (s *Store) GetCustomer(ctx context.Context, id int64) (Customer, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+customerColumns+` FROM customers WHERE id = $1`, id)
	if err != nil {
		return Customer{}, err
	}
	c, err := pgx.CollectExactlyOneRow(rows, scanCustomer)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("customer %d: %w", id, ErrNotFound)
	}
	return c, err
}

// SetRelationship overrides a tenant's relationship by hand; later
// discoveries keep it, whatever Microsoft says. The consent follows
// domain.ConsentFor.
func (s *Store) SetRelationship(ctx context.Context, tenantID string, rel domain.Relationship) (Customer, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var consent domain.Consent
		err := tx.QueryRow(ctx, `SELECT consent_state FROM customers WHERE azure_tenant_id::text = lower($1) FOR UPDATE`,
			tenantID).Scan(&consent)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("tenant %s: %w (see `cspsync customers list`)", tenantID, ErrNotFound)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE customers SET relationship = $2, relationship_source = 'override',
			consent_state = $3, updated_at = now() WHERE azure_tenant_id::text = lower($1)`,
			tenantID, rel, domain.ConsentFor(rel, consent))
		return err
	})
	if err != nil {
		return Customer{}, err
	}
	return s.GetCustomerByTenant(ctx, tenantID)
}

// SetConsentState records a tenant's admin consent state.
func (s *Store) SetConsentState(ctx context.Context, tenantID string, state domain.Consent) error {
	tag, err := s.pool.Exec(ctx, `UPDATE customers SET consent_state = $2, consent_changed_at = now(), updated_at = now()
		WHERE azure_tenant_id::text = lower($1)`, tenantID, state)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("tenant %s: %w", tenantID, ErrNotFound)
	}
	return err
}

// RecordTenantState mirrors a tenant workflow's state.
func (s *Store) RecordTenantState(ctx context.Context, tenantID string, syncState domain.TenantState, reason string) error {
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
