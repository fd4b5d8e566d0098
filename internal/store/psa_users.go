package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cspsync/cspsync/internal/domain"
)

// UserKeys name the PSA users a page of decisions needs: the customer's users
// with one of AzureIDs, and those without an Azure object id whose email,
// name or network login, trimmed and in lower case, is one of the values.
type UserKeys struct {
	AzureIDs                     []string
	Emails, Names, NetworkLogins []string
}

// FindPSAUsers reads the customer's PSA users with one of keys, in one query.
func (s *Store) FindPSAUsers(ctx context.Context, customerID int64, keys UserKeys) ([]domain.PSAUser, error) {
	orEmpty := func(v []string) []string {
		if v == nil {
			return []string{}
		}
		return v
	}
	rows, err := s.pool.Query(ctx, `SELECT `+psaUserColumns+` FROM psa_users WHERE customer_id = $1 AND (
			azure_object_id = ANY ($2::uuid[])
			OR azure_object_id IS NULL AND (lower(btrim(email)) = ANY ($3) OR lower(btrim(name)) = ANY ($4)
				OR lower(btrim(network_login)) = ANY ($5)))`,
		customerID, uuidsArg(orEmpty(keys.AzureIDs)), orEmpty(keys.Emails), orEmpty(keys.Names), orEmpty(keys.NetworkLogins))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanPSAUser)
}

// UnseenUsers returns the customer's users from Microsoft that the full
// round r has not seen in its saved pages nor in seen (the page being saved):
// the active ones, and the inactive ones still holding licence links (a user
// disabled first and deleted later is gone with his licences too).
func (s *Store) UnseenUsers(ctx context.Context, r UserRound, seen []string) ([]domain.PSAUser, error) {
	if seen == nil {
		seen = []string{}
	}
	// Who is unseen is a set difference, which EXCEPT always hashes (or sorts): the anti-join
	// it replaces was planned as a nested loop on stale statistics, and testing the page
	// being saved as azure_object_id <> ALL (its 200 ids) cost a comparison per user and id
	// (90 to 360 ms a tenant at 2,000 users, auto_explain on the rules benchmark). The few
	// unseen are then looked up one index probe each.
	rows, err := s.pool.Query(ctx, `WITH unseen (unseen_id) AS MATERIALIZED (
			SELECT azure_object_id FROM psa_users WHERE customer_id = $1 AND azure_object_id IS NOT NULL
			EXCEPT SELECT unnest(s.azure_object_ids) FROM user_round_seen_pages s WHERE s.round_id = $2
			EXCEPT SELECT unnest($3::uuid[]))
		SELECT `+psaUserColumns+` FROM unseen u CROSS JOIN LATERAL (SELECT * FROM psa_users
				WHERE customer_id = $1 AND azure_object_id = u.unseen_id LIMIT 1) p
		WHERE p.active OR EXISTS (SELECT 1 FROM user_licences l WHERE l.customer_id = $1 AND l.psa_user_id = p.id AND l.removed_at IS NULL)
		ORDER BY p.id`, r.CustomerID, r.ID, uuidsArg(seen))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanPSAUser)
}

const psaUserColumns = `id, customer_id, coalesce(azure_object_id::text, ''), site_id, active, inactive_reason, source, name, email,
	network_login, phone, mobile, job_title, department, last_sign_in, custom_fields`

func scanPSAUser(row pgx.CollectableRow) (domain.PSAUser, error) {
	var u domain.PSAUser
	var last *time.Time
	err := row.Scan(&u.ID, &u.CustomerID, &u.AzureObjectID, &u.SiteID, &u.Active, &u.InactiveReason, &u.Source, &u.Name,
		&u.Email, &u.NetworkLogin, &u.Phone, &u.Mobile, &u.JobTitle, &u.Department, &last, &u.Custom)
	if last != nil {
		u.LastSignIn = *last
	}
	return u, err
}

// ListUsers returns a customer's PSA users by name, with their sites' names.
func (s *Store) ListUsers(ctx context.Context, customerID int64) ([]domain.PSAUser, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.customer_id, coalesce(u.azure_object_id::text, ''), u.site_id, u.active,
			u.inactive_reason, u.source, u.name, u.email, u.network_login, u.phone, u.mobile, u.job_title, u.department,
			u.last_sign_in, u.custom_fields, s.name
		FROM psa_users u JOIN sites s ON s.id = u.site_id WHERE u.customer_id = $1 ORDER BY lower(u.name), u.id`, customerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (domain.PSAUser, error) {
		var u domain.PSAUser
		var last *time.Time
		err := row.Scan(&u.ID, &u.CustomerID, &u.AzureObjectID, &u.SiteID, &u.Active, &u.InactiveReason, &u.Source, &u.Name,
			&u.Email, &u.NetworkLogin, &u.Phone, &u.Mobile, &u.JobTitle, &u.Department, &last, &u.Custom, &u.Site)
		if last != nil {
			u.LastSignIn = *last
		}
		return u, err
	})
}

// AddUser creates a PSA user by hand, in the customer's default site (no
// Azure object id: the next round matches him by the partner's rules).
func (s *Store) AddUser(ctx context.Context, customerID int64, name, email, login string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO psa_users (customer_id, site_id, name, email, network_login, source)
		SELECT $1, id, $2, $3, $4, $5 FROM sites WHERE customer_id = $1 AND is_default RETURNING id`,
		customerID, name, email, login, domain.UserSourceManual).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("customer %d: %w (see `cspsync customers list`)", customerID, ErrNotFound)
	}
	return id, err
}
