package store

import (
	"context"
	"time"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/text"
)

// IntegrationError is one classified Microsoft failure, with its fix.
type IntegrationError struct {
	ID          int64
	PartnerID   string
	TenantID    string // "" for partner-level failures
	Operation   domain.Operation
	Code        string
	Message     string
	Remediation string
	Occurrences int
	FirstSeenAt time.Time
	LastSeenAt  time.Time
	ResolvedAt  *time.Time
}

// RecordError stores a failure of op that partnerID's tenant tenantID ("" for
// the partner itself) met; while the same cause stays open it only bumps the
// count and last-seen time, so a persisting failure is one row. A failure
// that concerns the partner (domain's rule, ErrorInfo.ConcernsPartner) is
// one row for the partner, not one per tenant that met it. Its text may come
// from a browser or from Microsoft: it is cleaned and bounded here too, so
// no caller can store control characters or a code too long for the
// open-errors index.
func (s *Store) RecordError(ctx context.Context, partnerID, tenantID string, op domain.Operation, info domain.ErrorInfo) error {
	if info.ConcernsPartner() {
		tenantID = ""
	}
	_, err := s.pool.Exec(ctx, `
		INSERT INTO integration_errors (partner_id, tenant_id, operation, code, message, remediation)
		VALUES ($1, nullif($2, '')::uuid, $3, $4, $5, $6)
		ON CONFLICT (partner_id, coalesce(tenant_id::text, ''), operation, code) WHERE resolved_at IS NULL
		DO UPDATE SET occurrences = integration_errors.occurrences + 1, last_seen_at = now(),
			message = EXCLUDED.message, remediation = EXCLUDED.remediation`,
		partnerID, tenantID, op, text.Clean(info.Code, text.MaxCode), text.Clean(info.Cause, text.MaxMessage),
		text.Clean(info.Remediation, text.MaxMessage))
	return err
}

// ResolveErrors closes the open errors of an operation after it succeeded.
func (s *Store) ResolveErrors(ctx context.Context, partnerID, tenantID string, operation domain.Operation) error {
	_, err := s.pool.Exec(ctx, `UPDATE integration_errors SET resolved_at = now()
		WHERE partner_id = $1 AND coalesce(tenant_id::text, '') = $2 AND operation = $3 AND resolved_at IS NULL`,
		partnerID, tenantID, operation)
	return err
}

// ListErrors returns errors newest first; open only unless all is set.
func (s *Store) ListErrors(ctx context.Context, partnerID string, all bool) ([]IntegrationError, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, partner_id, coalesce(tenant_id::text, ''), operation, code, message, remediation,
			occurrences, first_seen_at, last_seen_at, resolved_at
		FROM integration_errors WHERE ($1 = '' OR partner_id = $1) AND ($2 OR resolved_at IS NULL)
		ORDER BY last_seen_at DESC, id DESC`, partnerID, all)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []IntegrationError
	for rows.Next() {
		var e IntegrationError
		if err := rows.Scan(&e.ID, &e.PartnerID, &e.TenantID, &e.Operation, &e.Code, &e.Message, &e.Remediation,
			&e.Occurrences, &e.FirstSeenAt, &e.LastSeenAt, &e.ResolvedAt); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ResolvePartnerErrors closes every open partner-level error (those without
// a tenant): a successful authorisation settles them; what still fails
// records a fresh row.
func (s *Store) ResolvePartnerErrors(ctx context.Context, partnerID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE integration_errors SET resolved_at = now()
		WHERE partner_id = $1 AND tenant_id IS NULL AND resolved_at IS NULL`, partnerID)
	return err
}

// ResolveTenantErrors closes the open errors of an operation for each of
// the tenants, in one statement.
func (s *Store) ResolveTenantErrors(ctx context.Context, partnerID string, operation domain.Operation, tenantIDs []string) error {
	if len(tenantIDs) == 0 {
		return nil
	}
	_, err := s.pool.Exec(ctx, `UPDATE integration_errors SET resolved_at = now()
		WHERE partner_id = $1 AND operation = $2 AND tenant_id = ANY($3::uuid[]) AND resolved_at IS NULL`,
		partnerID, operation, tenantIDs)
	return err
}
