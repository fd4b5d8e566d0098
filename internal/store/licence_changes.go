package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cspsync/cspsync/internal/domain"
)

// ErrChangeRunning: the same licence change is already running for the user.
var ErrChangeRunning = errors.New("the same licence change is already running for this user")

// SetManagedBy records who manages a customer's licences: "" nobody,
// licensing.Manager cspsync, anything else another integration.
func (s *Store) SetManagedBy(ctx context.Context, customerID int64, managedBy string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE customers SET managed_by = $2, updated_at = now() WHERE id = $1`, customerID, managedBy)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("customer %d: %w", customerID, ErrNotFound)
	}
	return err
}

// ManagedBy reads who manages a customer's licences.
func (s *Store) ManagedBy(ctx context.Context, customerID int64) (string, error) {
	var by string
	err := s.pool.QueryRow(ctx, `SELECT managed_by FROM customers WHERE id = $1`, customerID).Scan(&by)
	if errors.Is(err, pgx.ErrNoRows) {
		err = fmt.Errorf("customer %d: %w", customerID, ErrNotFound)
	}
	return by, err
}

// LicenceUser is a PSA user as a licence change needs him, with his customer.
type LicenceUser struct {
	ID            int64
	CustomerID    int64
	Name          string
	Email         string
	Active        bool
	AzureObjectID string
	PartnerID     string
	TenantID      string
	Customer      string
	ManagedBy     string
}

// FindLicenceUsers finds PSA users by their PSA id, Azure object id or email.
func (s *Store) FindLicenceUsers(ctx context.Context, ref string) ([]LicenceUser, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.customer_id, u.name, u.email, u.active, coalesce(u.azure_object_id::text, ''),
			coalesce(c.partner_id, ''), coalesce(c.azure_tenant_id::text, ''), c.name, c.managed_by
		FROM psa_users u JOIN customers c ON c.id = u.customer_id
		WHERE u.id::text = $1 OR u.azure_object_id::text = lower($1) OR (u.email <> '' AND lower(u.email) = lower($1))
		ORDER BY u.id`, ref)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[LicenceUser])
}

// CustomerLicence is one licence row of a customer, as a licence change reads it.
type CustomerLicence struct {
	SkuID       string
	PartNumber  string
	ProductName string
	Active      int
	Consumed    int
	Ended       bool
}

// FindCustomerLicence finds a customer's licence by SKU id, part number or product name,
// a current one before an ended one.
func (s *Store) FindCustomerLicence(ctx context.Context, customerID int64, ref string) (CustomerLicence, bool, error) {
	rows, err := s.pool.Query(ctx, `SELECT sku_id::text, part_number, product_name, active_units, consumed_units, ended_at IS NOT NULL
		FROM licences WHERE customer_id = $1
			AND (sku_id::text = lower($2) OR lower(part_number) = lower($2) OR lower(product_name) = lower($2))
		ORDER BY ended_at NULLS FIRST, sku_id LIMIT 1`, customerID, ref)
	if err != nil {
		return CustomerLicence{}, false, err
	}
	l, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[CustomerLicence])
	if errors.Is(err, pgx.ErrNoRows) {
		return l, false, nil
	}
	return l, err == nil, err
}

// LicenceChange is one requested licence change.
type LicenceChange struct {
	ID            string
	PartnerID     string
	CustomerID    int64
	Customer      string
	PSAUserID     int64
	AzureObjectID string
	UserName      string
	SkuID         string
	SkuName       string
	Action        string
	RequestedBy   string
	WorkflowID    string
	State         string
	Applied       bool
	Holds         *bool
	ErrorCode     string
	ErrorMessage  string
	Remediation   string
	RequestedAt   time.Time
	FinishedAt    *time.Time
}

// ChangeRunning tells whether the same change is running for a user.
func (s *Store) ChangeRunning(ctx context.Context, customerID int64, azureObjectID, skuID string) (bool, error) {
	var running bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM licence_changes WHERE customer_id = $1
		AND azure_object_id = $2::uuid AND sku_id = $3::uuid AND state = 'running')`, customerID, azureObjectID, skuID).Scan(&running)
	return running, err
}

// BeginLicenceChange records a change as running; recording it again does nothing. A
// different change of the same user and SKU still running is ErrChangeRunning.
func (s *Store) BeginLicenceChange(ctx context.Context, c LicenceChange) error {
	var psaUser *int64
	if c.PSAUserID != 0 {
		psaUser = &c.PSAUserID
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO licence_changes (id, partner_id, customer_id, psa_user_id, azure_object_id, user_name,
			sku_id, sku_name, action, requested_by, workflow_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (id) DO NOTHING`,
		c.ID, c.PartnerID, c.CustomerID, psaUser, c.AzureObjectID, c.UserName, c.SkuID, c.SkuName, c.Action, c.RequestedBy, c.WorkflowID)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return ErrChangeRunning
	}
	return err
}

// ChangeOutcome is how a licence change ended: what Microsoft holds, as read back, and the
// failure if it failed.
type ChangeOutcome struct {
	Applied bool
	// Holds is whether the user holds the SKU in Microsoft now; nil when it could not be
	// read (the user was deleted, or Graph refused), which leaves the PSA's links as they are.
	Holds *bool
	// Consumed is Graph's consumed units of the SKU now, when read.
	Consumed *int
	Failure  *domain.ErrorInfo
}

// FinishLicenceChange ends a running change in one transaction: the user's licence link is
// made to agree with what Microsoft holds, the licence's consumed units with Graph's count,
// an event names who asked for what and the result, and the change gets its outcome.
// Finishing a change again does nothing.
func (s *Store) FinishLicenceChange(ctx context.Context, id string, o ChangeOutcome) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var c LicenceChange
		var psaUser *int64
		err := tx.QueryRow(ctx, `SELECT customer_id, psa_user_id, user_name, sku_id::text, sku_name, action, requested_by
			FROM licence_changes WHERE id = $1 AND state = 'running' FOR UPDATE`, id).
			Scan(&c.CustomerID, &psaUser, &c.UserName, &c.SkuID, &c.SkuName, &c.Action, &c.RequestedBy)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if psaUser != nil && o.Holds != nil {
			if err := linkUserLicence(ctx, tx, *psaUser, c.CustomerID, c.SkuID, *o.Holds); err != nil {
				return err
			}
		}
		if o.Consumed != nil {
			if _, err := tx.Exec(ctx, `UPDATE licences SET consumed_units = $3, updated_at = now()
				WHERE customer_id = $1 AND sku_id = $2::uuid AND consumed_units <> $3`, c.CustomerID, c.SkuID, *o.Consumed); err != nil {
				return err
			}
		}
		state, result := "done", "done"
		var code, msg, fix string
		if o.Failure != nil {
			state, code, msg, fix = "failed", o.Failure.Code, o.Failure.Cause, o.Failure.Remediation
			result = "failed: " + code
		}
		if _, err := tx.Exec(ctx, `INSERT INTO licence_events (customer_id, sku_id, field, old_value, new_value)
			VALUES ($1, $2::uuid, 'licence_change', $3, $4)`, c.CustomerID, c.SkuID,
			c.Action+" "+c.SkuName+" for "+c.UserName+", asked by "+c.RequestedBy, result); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE licence_changes SET state = $2, applied = $3, holds = $4, error_code = $5,
			error_message = $6, remediation = $7, finished_at = now() WHERE id = $1`, id, state, o.Applied, o.Holds, code, msg, fix)
		return err
	})
}

// linkUserLicence makes the user's current link to the SKU exist exactly when he holds it.
// A removed link keeps its row, with removed_at.
func linkUserLicence(ctx context.Context, tx pgx.Tx, psaUserID, customerID int64, skuID string, holds bool) error {
	if !holds {
		_, err := tx.Exec(ctx, `UPDATE user_licences SET removed_at = now() WHERE psa_user_id = $1 AND sku_id = $2::uuid AND removed_at IS NULL`, psaUserID, skuID)
		return err
	}
	_, err := tx.Exec(ctx, `INSERT INTO user_licences (psa_user_id, customer_id, sku_id, licence_sku_id)
		SELECT $1, $2, $3::uuid, (SELECT sku_id FROM licences WHERE customer_id = $2 AND sku_id = $3::uuid)
		WHERE NOT EXISTS (SELECT 1 FROM user_licences WHERE psa_user_id = $1 AND sku_id = $3::uuid AND removed_at IS NULL)`,
		psaUserID, customerID, skuID)
	return err
}

// ListLicenceChanges lists a partner's licence changes (one customer's when customerID is
// not 0), newest first.
func (s *Store) ListLicenceChanges(ctx context.Context, partnerID string, customerID int64) ([]LicenceChange, error) {
	rows, err := s.pool.Query(ctx, `SELECT l.id::text, l.partner_id, l.customer_id, c.name, coalesce(l.psa_user_id, 0), l.azure_object_id::text,
			l.user_name, l.sku_id::text, l.sku_name, l.action, l.requested_by, l.workflow_id, l.state, l.applied, l.holds,
			l.error_code, l.error_message, l.remediation, l.requested_at, l.finished_at
		FROM licence_changes l JOIN customers c ON c.id = l.customer_id
		WHERE ($1 = '' OR l.partner_id = $1) AND ($2 = 0 OR l.customer_id = $2)
		ORDER BY l.requested_at DESC, l.id`, partnerID, customerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[LicenceChange])
}
