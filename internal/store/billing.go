package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// UserBillingState is a PSA user's service flag.
type UserBillingState struct {
	Service bool
	Reason  string
}

// UserBillingStates returns the service flags of a customer's users by PSA user id.
func (s *Store) UserBillingStates(ctx context.Context, customerID int64) (map[int64]UserBillingState, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, service_user, service_reason FROM psa_users WHERE customer_id = $1`, customerID)
	if err != nil {
		return nil, err
	}
	out := map[int64]UserBillingState{}
	var id int64
	var st UserBillingState
	_, err = pgx.ForEachRow(rows, []any{&id, &st.Service, &st.Reason}, func() error {
		out[id] = st
		return nil
	})
	return out, err
}

// BillingUsers are a customer's users counted by billable state at one time.
type BillingUsers struct {
	CustomerID int64
	Billable   int // active and not a service user
	Service    int // active service users
	Inactive   int
}

// BillingSeats are a customer's seats of one SKU at one time.
type BillingSeats struct {
	CustomerID int64
	SkuID      string
	PartNumber string
	Paid       int // the licence's active units (0 once it ended)
	Assigned   int // users holding it as cspsync saw them
}

// Billing counts the partner's customers' users by billable state and their seats per SKU as
// they were at `at`, from the histories the triggers of migration 012 keep; customers with
// neither are left out. customerID 0 means every customer of the partner.
func (s *Store) Billing(ctx context.Context, partnerID string, customerID int64, at time.Time) ([]BillingUsers, []BillingSeats, error) {
	rows, err := s.pool.Query(ctx, `WITH last AS (
			SELECT DISTINCT ON (h.psa_user_id) h.customer_id, h.active, h.service_user
			FROM psa_user_states h JOIN customers c ON c.id = h.customer_id
			WHERE h.at <= $3 AND c.partner_id = $1 AND ($2 = 0 OR c.id = $2)
			ORDER BY h.psa_user_id, h.at DESC, h.id DESC)
		SELECT customer_id, count(*) FILTER (WHERE active AND NOT service_user), count(*) FILTER (WHERE active AND service_user),
			count(*) FILTER (WHERE NOT active)
		FROM last GROUP BY customer_id`, partnerID, customerID, at)
	if err != nil {
		return nil, nil, err
	}
	users, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BillingUsers, error) {
		var b BillingUsers
		return b, r.Scan(&b.CustomerID, &b.Billable, &b.Service, &b.Inactive)
	})
	if err != nil {
		return nil, nil, err
	}
	rows, err = s.pool.Query(ctx, `WITH paid AS (
			SELECT DISTINCT ON (h.customer_id, h.sku_id) h.customer_id, h.sku_id, CASE WHEN h.ended THEN 0 ELSE h.active_units END AS paid
			FROM licence_states h JOIN customers c ON c.id = h.customer_id
			WHERE h.at <= $3 AND c.partner_id = $1 AND ($2 = 0 OR c.id = $2)
			ORDER BY h.customer_id, h.sku_id, h.at DESC, h.id DESC),
		assigned AS (
			SELECT l.customer_id, l.sku_id, count(*) AS n
			FROM user_licences l JOIN customers c ON c.id = l.customer_id
			WHERE l.assigned_at <= $3 AND (l.removed_at IS NULL OR l.removed_at > $3) AND c.partner_id = $1 AND ($2 = 0 OR c.id = $2)
			GROUP BY 1, 2)
		SELECT coalesce(p.customer_id, a.customer_id), coalesce(p.sku_id, a.sku_id)::text, coalesce(lc.part_number, ''),
			coalesce(p.paid, 0), coalesce(a.n, 0)::int
		FROM paid p FULL JOIN assigned a ON a.customer_id = p.customer_id AND a.sku_id = p.sku_id
			LEFT JOIN licences lc ON lc.customer_id = coalesce(p.customer_id, a.customer_id) AND lc.sku_id = coalesce(p.sku_id, a.sku_id)
		WHERE coalesce(p.paid, 0) > 0 OR coalesce(a.n, 0) > 0
		ORDER BY 1, 3, 2`, partnerID, customerID, at)
	if err != nil {
		return nil, nil, err
	}
	seats, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BillingSeats, error) {
		var b BillingSeats
		return b, r.Scan(&b.CustomerID, &b.SkuID, &b.PartNumber, &b.Paid, &b.Assigned)
	})
	return users, seats, err
}

// UserCustomer returns the customer of a PSA user.
func (s *Store) UserCustomer(ctx context.Context, userID int64) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `SELECT customer_id FROM psa_users WHERE id = $1`, userID).Scan(&id)
	if err == pgx.ErrNoRows {
		err = fmt.Errorf("user %d does not exist: take the id from the ID column of `cspsync users list`: %w", userID, ErrNotFound)
	}
	return id, err
}
