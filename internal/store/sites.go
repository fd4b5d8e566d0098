package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Site is one of a customer's sites.
type Site struct {
	ID         int64
	CustomerID int64
	Name       string
	Default    bool
}

// ListSites returns a customer's sites, the default first.
func (s *Store) ListSites(ctx context.Context, customerID int64) ([]Site, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, customer_id, name, is_default FROM sites WHERE customer_id = $1
		ORDER BY is_default DESC, lower(name)`, customerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[Site])
}

// AddSite adds a site to a customer.
func (s *Store) AddSite(ctx context.Context, customerID int64, name string) (Site, error) {
	name = strings.TrimSpace(name)
	st := Site{CustomerID: customerID, Name: name}
	err := s.pool.QueryRow(ctx, `INSERT INTO sites (customer_id, name) VALUES ($1, $2) RETURNING id`, customerID, name).Scan(&st.ID)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return st, fmt.Errorf("customer %d already has a site named %q (see `cspsync sites list --customer %d`)", customerID, name, customerID)
	case errors.As(err, &pgErr) && pgErr.Code == "23503":
		return st, fmt.Errorf("customer %d: %w (see `cspsync customers list`)", customerID, ErrNotFound)
	case errors.As(err, &pgErr) && pgErr.Code == "23514":
		return st, errors.New("a site needs a name")
	}
	return st, err
}

// SiteByName finds a customer's site by name, case-insensitively.
func (s *Store) SiteByName(ctx context.Context, customerID int64, name string) (Site, error) {
	var st Site
	err := s.pool.QueryRow(ctx, `SELECT id, customer_id, name, is_default FROM sites WHERE customer_id = $1 AND lower(name) = lower($2)`,
		customerID, strings.TrimSpace(name)).Scan(&st.ID, &st.CustomerID, &st.Name, &st.Default)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("customer %d has no site named %q: add it with `cspsync sites add --customer %d %q` (or see `cspsync sites list --customer %d`): %w",
			customerID, name, customerID, name, customerID, ErrNotFound)
	}
	return st, err
}

// SiteMapping places users matching Filter (a CEL expression over the
// Graph user) in a site; the first matching mapping of a customer wins.
type SiteMapping struct {
	Position int
	Filter   string
	SiteID   int64
	Site     string
}

// SiteMappings returns a customer's site mappings in order.
func (s *Store) SiteMappings(ctx context.Context, customerID int64) ([]SiteMapping, error) {
	rows, err := s.pool.Query(ctx, `SELECT m.position, m.filter, m.site_id, s.name FROM site_mappings m
		JOIN sites s ON s.id = m.site_id WHERE m.customer_id = $1 ORDER BY m.position`, customerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[SiteMapping])
}

// SetSiteMappings replaces a customer's site mappings with ms, in order
// (positions are renumbered 1..n), in one transaction. Filters are checked
// by the caller; sites must be the customer's.
func (s *Store) SetSiteMappings(ctx context.Context, customerID int64, ms []SiteMapping) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM site_mappings WHERE customer_id = $1`, customerID); err != nil {
			return err
		}
		for i, m := range ms {
			tag, err := tx.Exec(ctx, `INSERT INTO site_mappings (customer_id, position, filter, site_id)
				SELECT $1, $2, $3, id FROM sites WHERE id = $4 AND customer_id = $1`, customerID, i+1, m.Filter, m.SiteID)
			if err != nil {
				return err
			}
			if tag.RowsAffected() == 0 {
				return fmt.Errorf("site %d is not a site of customer %d (see `cspsync sites list --customer %d`)", m.SiteID, customerID, customerID)
			}
		}
		return nil
	})
}

// ActiveImportedUsers counts a customer's active PSA users that came from
// Microsoft: those a round makes inactive when no site mapping places them.
func (s *Store) ActiveImportedUsers(ctx context.Context, customerID int64) (int, error) {
	var n int
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// At 100,000 users PostgreSQL counts them in parallel, and starting its workers
		// took longer than the count (120 ms against 25 ms alone, auto_explain on the
		// users benchmark): one process counts faster.
		if _, err := tx.Exec(ctx, `SET LOCAL max_parallel_workers_per_gather = 0`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT count(*) FROM psa_users WHERE customer_id = $1 AND active AND azure_object_id IS NOT NULL`,
			customerID).Scan(&n)
	})
	return n, err
}

// ConfirmInactivation records an operator's confirmation that the
// customer's users may be made inactive beyond the safety brake's share: it
// lets the customer's next users round through, which clears it as it ends
// (RoundEnd.Confirmation).
func (s *Store) ConfirmInactivation(ctx context.Context, customerID int64) error {
	_, err := s.pool.Exec(ctx, `UPDATE customers SET inactivation_confirmed_at = now() WHERE id = $1`, customerID)
	return err
}

// InactivationConfirmed returns when an operator last confirmed
// inactivations beyond the brake for the customer, nil when none waits.
func (s *Store) InactivationConfirmed(ctx context.Context, customerID int64) (*time.Time, error) {
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT inactivation_confirmed_at FROM customers WHERE id = $1`, customerID).Scan(&at)
	if errors.Is(err, pgx.ErrNoRows) {
		err = fmt.Errorf("customer %d: %w", customerID, ErrNotFound)
	}
	return at, err
}

// GenerateSiteMappings gives every customer of the partner ("" for all)
// that has a tenant and no site mapping one unfiltered mapping to its
// default site, and returns how many it created.
func (s *Store) GenerateSiteMappings(ctx context.Context, partnerID string) (int, error) {
	tag, err := s.pool.Exec(ctx, `INSERT INTO site_mappings (customer_id, position, filter, site_id)
		SELECT c.id, 1, 'true', st.id FROM customers c JOIN sites st ON st.customer_id = c.id AND st.is_default
		WHERE c.azure_tenant_id IS NOT NULL AND ($1 = '' OR c.partner_id = $1)
			AND NOT EXISTS (SELECT 1 FROM site_mappings m WHERE m.customer_id = c.id)`, partnerID)
	return int(tag.RowsAffected()), err
}

// FieldMapping maps a PSA user field to an expression over the Graph user;
// CustomerID 0 is the partner-wide mapping, others override it.
type FieldMapping struct {
	CustomerID int64
	Field      string
	Expression string
}

// FieldMappings returns the partner's mappings and every customer override.
func (s *Store) FieldMappings(ctx context.Context, partnerID string) ([]FieldMapping, error) {
	return fieldMappings(ctx, s.pool, partnerID)
}

func fieldMappings(ctx context.Context, q querier, partnerID string) ([]FieldMapping, error) {
	rows, err := q.Query(ctx, `SELECT customer_id, psa_field, expression FROM field_mappings
		WHERE partner_id = $1 ORDER BY customer_id, psa_field`, partnerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[FieldMapping])
}

// ChangeFieldMapping stores one mapping once check has accepted the
// partner's settings and mappings with it in place; an empty expression
// removes the mapping, so the default (or the partner's) applies again. It
// holds the partner's row while it reads, checks and writes, so a
// concurrent change of its settings or mappings waits (ChangeUserSettings).
func (s *Store) ChangeFieldMapping(ctx context.Context, partnerID string, m FieldMapping,
	check func(UserSettings, []FieldMapping) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		u, err := userSettings(ctx, tx, partnerID, true)
		if err != nil {
			return err
		}
		all, err := fieldMappings(ctx, tx, partnerID)
		if err != nil {
			return err
		}
		all = slices.DeleteFunc(all, func(f FieldMapping) bool { return f.CustomerID == m.CustomerID && f.Field == m.Field })
		if m.Expression != "" {
			all = append(all, m)
		}
		if err := check(u, all); err != nil {
			return err
		}
		if m.Expression == "" {
			_, err := tx.Exec(ctx, `DELETE FROM field_mappings WHERE partner_id = $1 AND customer_id = $2 AND psa_field = $3`,
				partnerID, m.CustomerID, m.Field)
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO field_mappings (partner_id, customer_id, psa_field, expression) VALUES ($1, $2, $3, $4)
			ON CONFLICT (partner_id, customer_id, psa_field) DO UPDATE SET expression = EXCLUDED.expression`,
			partnerID, m.CustomerID, m.Field, m.Expression)
		return err
	})
}

// UserSettings are a partner's choices for user sync.
type UserSettings struct {
	MatchRules           []string // ordered: name, email, network_login
	IgnoreAccountEnabled bool
	AutoSiteMappings     bool
	LogRetention         time.Duration
	// MaxInactivateShare is the safety brake: the largest share (percent)
	// of a customer's active users a round may make inactive at once.
	MaxInactivateShare int
}

// UserSettings reads a partner's user sync settings.
func (s *Store) UserSettings(ctx context.Context, partnerID string) (UserSettings, error) {
	return userSettings(ctx, s.pool, partnerID, false)
}

// userSettings reads a partner's settings; lock holds its row until the
// transaction q ends.
func userSettings(ctx context.Context, q querier, partnerID string, lock bool) (UserSettings, error) {
	var u UserSettings
	sql := `SELECT user_match_rules, ignore_account_enabled, auto_site_mappings, inbound_log_retention, max_inactivate_share
		FROM partners WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	err := q.QueryRow(ctx, sql, partnerID).Scan(&u.MatchRules, &u.IgnoreAccountEnabled, &u.AutoSiteMappings, &u.LogRetention, &u.MaxInactivateShare)
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("partner %q: %w", partnerID, ErrNotFound)
	}
	return u, err
}

// ChangeUserSettings reads a partner's user sync settings and field
// mappings, lets edit change the settings (or refuse, leaving them as they
// were) and stores them, holding the partner's row throughout: two changes
// of different settings at once both land. It returns the settings stored.
func (s *Store) ChangeUserSettings(ctx context.Context, partnerID string,
	edit func(*UserSettings, []FieldMapping) error) (UserSettings, error) {
	var u UserSettings
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		if u, err = userSettings(ctx, tx, partnerID, true); err != nil {
			return err
		}
		all, err := fieldMappings(ctx, tx, partnerID)
		if err != nil {
			return err
		}
		if err := edit(&u, all); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE partners SET user_match_rules = $2, ignore_account_enabled = $3,
			auto_site_mappings = $4, inbound_log_retention = $5, max_inactivate_share = $6, updated_at = now() WHERE id = $1`,
			partnerID, u.MatchRules, u.IgnoreAccountEnabled, u.AutoSiteMappings, u.LogRetention, u.MaxInactivateShare)
		return err
	})
	return u, err
}
