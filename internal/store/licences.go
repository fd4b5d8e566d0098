package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
)

// querier is a pool or a transaction.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// ensureTopLevel returns the id of the named top level, creating it; nil
// for the empty name.
func (s *Store) ensureTopLevel(ctx context.Context, q querier, name string) (*int64, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, nil
	}
	var id int64
	err := q.QueryRow(ctx, `INSERT INTO top_levels (name) VALUES ($1)
		ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING id`, name).Scan(&id)
	if err != nil {
		return nil, fmt.Errorf("top level %q: %w", name, err)
	}
	return &id, nil
}

// TopLevel is a named group of customers.
type TopLevel struct {
	Name      string
	Customers int
}

// ListTopLevels returns every top level with its number of customers.
func (s *Store) ListTopLevels(ctx context.Context) ([]TopLevel, error) {
	rows, err := s.pool.Query(ctx, `SELECT t.name, count(c.id) FROM top_levels t
		LEFT JOIN customers c ON c.top_level_id = t.id GROUP BY t.name ORDER BY lower(t.name)`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[TopLevel])
}

// SetCustomerTopLevel puts a customer in the named top level (created if
// new); an empty name takes it out of any.
func (s *Store) SetCustomerTopLevel(ctx context.Context, customerID int64, name string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		id, err := s.ensureTopLevel(ctx, tx, name)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE customers SET top_level_id = $2, updated_at = now() WHERE id = $1`, customerID, id)
		if err == nil && tag.RowsAffected() == 0 {
			err = fmt.Errorf("customer %d: %w (see `cspsync customers list`)", customerID, ErrNotFound)
		}
		return err
	})
}

// LicenceSettings are what a partner's licence import follows.
type LicenceSettings struct {
	Source    domain.LicenceSource
	RefusedAt *time.Time // Partner Center refused the subscriptions API to the partner
}

// LicenceSettings reads a partner's licence settings.
func (s *Store) LicenceSettings(ctx context.Context, partnerID string) (LicenceSettings, error) {
	var l LicenceSettings
	err := s.pool.QueryRow(ctx, `SELECT licence_source, licence_source_refused_at FROM partners WHERE id = $1`,
		partnerID).Scan(&l.Source, &l.RefusedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, fmt.Errorf("partner %q: %w", partnerID, ErrNotFound)
	}
	return l, err
}

// RefuseLicenceSource remembers that Partner Center refused the partner's
// licence source, so imports stop asking until `connect` changes it.
func (s *Store) RefuseLicenceSource(ctx context.Context, partnerID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE partners SET licence_source_refused_at = coalesce(licence_source_refused_at, now()),
		updated_at = now() WHERE id = $1`, partnerID)
	return err
}

// LicenceCounts says what one import did.
type LicenceCounts struct {
	Licences      int
	Subscriptions int
	Events        int
}

// SaveLicences makes a customer's licences and subscriptions what Microsoft
// lists now, in one transaction: rows are upserted, those no longer listed
// are marked ended (never deleted) and every change appends an event. A
// retry after a crash repeats the whole customer and duplicates nothing.
func (s *Store) SaveLicences(ctx context.Context, customerID int64, ls []licensing.Licence, subs []licensing.Subscription) (LicenceCounts, error) {
	counts := LicenceCounts{Licences: len(ls), Subscriptions: len(subs)}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One import of a customer at a time.
		if _, err := tx.Exec(ctx, `SELECT 1 FROM customers WHERE id = $1 FOR UPDATE`, customerID); err != nil {
			return err
		}
		old, oldSubs, err := currentLicences(ctx, tx, customerID)
		if err != nil {
			return err
		}
		events := licensing.Changes(old, ls, oldSubs, subs)
		counts.Events = len(events)
		batch := &pgx.Batch{}
		for _, l := range ls {
			batch.Queue(`INSERT INTO licences (customer_id, sku_id, part_number, product_name, total_units, active_units,
					consumed_units, suspended_units, warning_units, capability_status)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
				ON CONFLICT (customer_id, sku_id) DO UPDATE SET part_number = EXCLUDED.part_number,
					product_name = EXCLUDED.product_name, total_units = EXCLUDED.total_units,
					active_units = EXCLUDED.active_units, consumed_units = EXCLUDED.consumed_units,
					suspended_units = EXCLUDED.suspended_units, warning_units = EXCLUDED.warning_units,
					capability_status = EXCLUDED.capability_status, updated_at = now(), ended_at = NULL`,
				customerID, l.SkuID, l.PartNumber, l.ProductName, l.Total, l.Active, l.Consumed, l.Suspended, l.Warning, l.CapabilityStatus)
		}
		skus := make([]string, 0, len(ls))
		for _, l := range ls {
			skus = append(skus, l.SkuID)
		}
		batch.Queue(`UPDATE licences SET ended_at = now(), updated_at = now()
			WHERE customer_id = $1 AND ended_at IS NULL AND NOT (sku_id = ANY ($2::uuid[]))`, customerID, skus)
		ids := make([]string, 0, len(subs))
		for _, sub := range subs {
			ids = append(ids, sub.ID)
			batch.Queue(`INSERT INTO licence_subscriptions (customer_id, subscription_id, sku_id, offer_id, offer_name,
					friendly_name, quantity, status, billing_cycle, term_duration, commitment_end_date, auto_renew, is_trial)
				VALUES ($1, $2, nullif($3, '')::uuid, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
				ON CONFLICT (customer_id, subscription_id) DO UPDATE SET sku_id = EXCLUDED.sku_id,
					offer_id = EXCLUDED.offer_id, offer_name = EXCLUDED.offer_name, friendly_name = EXCLUDED.friendly_name,
					quantity = EXCLUDED.quantity, status = EXCLUDED.status, billing_cycle = EXCLUDED.billing_cycle,
					term_duration = EXCLUDED.term_duration, commitment_end_date = EXCLUDED.commitment_end_date,
					auto_renew = EXCLUDED.auto_renew, is_trial = EXCLUDED.is_trial, updated_at = now(), ended_at = NULL`,
				customerID, sub.ID, sub.SkuID, sub.OfferID, sub.OfferName, sub.FriendlyName, sub.Quantity, sub.Status,
				sub.BillingCycle, sub.TermDuration, nullTime(sub.CommitmentEndDate), sub.AutoRenew, sub.Trial)
		}
		batch.Queue(`UPDATE licence_subscriptions SET ended_at = now(), updated_at = now()
			WHERE customer_id = $1 AND ended_at IS NULL AND NOT (subscription_id = ANY ($2::text[]))`, customerID, ids)
		for _, e := range events {
			batch.Queue(`INSERT INTO licence_events (customer_id, sku_id, subscription_id, field, old_value, new_value)
				VALUES ($1, nullif($2, '')::uuid, nullif($3, ''), $4, $5, $6)`, customerID, e.SkuID, e.SubscriptionID, e.Field, e.Old, e.New)
		}
		batch.Queue(`UPDATE customers SET licences_at = now(), updated_at = now() WHERE id = $1`, customerID)
		batch.Queue(resolvePendingLinks, customerID)
		return tx.SendBatch(ctx, batch).Close()
	})
	return counts, err
}

func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// currentLicences reads a customer's licences and subscriptions not ended.
func currentLicences(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, customerID int64) ([]licensing.Licence, []licensing.Subscription, error) {
	rows, err := q.Query(ctx, `SELECT `+licenceColumns+` FROM licences WHERE customer_id = $1 AND ended_at IS NULL`, customerID)
	if err != nil {
		return nil, nil, err
	}
	ls, err := pgx.CollectRows(rows, scanLicence)
	if err != nil {
		return nil, nil, err
	}
	rows, err = q.Query(ctx, `SELECT `+subscriptionColumns+` FROM licence_subscriptions WHERE customer_id = $1 AND ended_at IS NULL`, customerID)
	if err != nil {
		return nil, nil, err
	}
	subs, err := pgx.CollectRows(rows, scanSubscription)
	return ls, subs, err
}

const licenceColumns = `sku_id::text, part_number, product_name, total_units, active_units, consumed_units,
	suspended_units, warning_units, capability_status`

func scanLicence(row pgx.CollectableRow) (licensing.Licence, error) {
	var l licensing.Licence
	err := row.Scan(&l.SkuID, &l.PartNumber, &l.ProductName, &l.Total, &l.Active, &l.Consumed, &l.Suspended, &l.Warning, &l.CapabilityStatus)
	return l, err
}

const subscriptionColumns = `subscription_id, coalesce(sku_id::text, ''), offer_id, offer_name, friendly_name, quantity, status,
	billing_cycle, term_duration, coalesce(commitment_end_date, 'epoch'), auto_renew, is_trial`

func scanSubscription(row pgx.CollectableRow) (licensing.Subscription, error) {
	var s licensing.Subscription
	err := row.Scan(&s.ID, &s.SkuID, &s.OfferID, &s.OfferName, &s.FriendlyName, &s.Quantity, &s.Status,
		&s.BillingCycle, &s.TermDuration, &s.CommitmentEndDate, &s.AutoRenew, &s.Trial)
	if s.CommitmentEndDate.Equal(time.Unix(0, 0)) {
		s.CommitmentEndDate = time.Time{}
	}
	return s, err
}

// CustomerLicences are one customer's current licences and subscriptions.
type CustomerLicences struct {
	Customer      Customer
	Licences      []licensing.Licence
	Subscriptions []licensing.Subscription
	ImportedAt    *time.Time
}

// ListLicences returns the current licences of a partner's customers ("" for
// all partners), by customer name; customers without a tenant are left out.
func (s *Store) ListLicences(ctx context.Context, partnerID string) ([]CustomerLicences, error) {
	customers, err := s.ListCustomers(ctx, partnerID)
	if err != nil {
		return nil, err
	}
	// Three queries for all customers, not three per customer: the
	// console's licences page lists thousands.
	var ids []int64
	for _, c := range customers {
		if c.TenantID != "" {
			ids = append(ids, c.ID)
		}
	}
	ls := map[int64][]licensing.Licence{}
	subs := map[int64][]licensing.Subscription{}
	imported := map[int64]*time.Time{}
	rows, err := s.pool.Query(ctx, `SELECT customer_id, `+licenceColumns+` FROM licences WHERE customer_id = ANY($1) AND ended_at IS NULL`, ids)
	if err != nil {
		return nil, err
	}
	var id int64
	var l licensing.Licence
	if _, err := pgx.ForEachRow(rows, []any{&id, &l.SkuID, &l.PartNumber, &l.ProductName, &l.Total, &l.Active, &l.Consumed, &l.Suspended,
		&l.Warning, &l.CapabilityStatus}, func() error {
		ls[id] = append(ls[id], l)
		return nil
	}); err != nil {
		return nil, err
	}
	rows, err = s.pool.Query(ctx, `SELECT customer_id, `+subscriptionColumns+` FROM licence_subscriptions WHERE customer_id = ANY($1) AND ended_at IS NULL`, ids)
	if err != nil {
		return nil, err
	}
	if _, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (struct{}, error) {
		var sub licensing.Subscription
		err := row.Scan(&id, &sub.ID, &sub.SkuID, &sub.OfferID, &sub.OfferName, &sub.FriendlyName, &sub.Quantity, &sub.Status,
			&sub.BillingCycle, &sub.TermDuration, &sub.CommitmentEndDate, &sub.AutoRenew, &sub.Trial)
		if sub.CommitmentEndDate.Equal(time.Unix(0, 0)) {
			sub.CommitmentEndDate = time.Time{}
		}
		subs[id] = append(subs[id], sub)
		return struct{}{}, err
	}); err != nil {
		return nil, err
	}
	rows, err = s.pool.Query(ctx, `SELECT id, licences_at FROM customers WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, err
	}
	var at *time.Time
	if _, err := pgx.ForEachRow(rows, []any{&id, &at}, func() error {
		if at != nil {
			t := *at // the scan may reuse at's target
			imported[id] = &t
		}
		return nil
	}); err != nil {
		return nil, err
	}
	var out []CustomerLicences
	for _, c := range customers {
		if c.TenantID == "" {
			continue
		}
		licensing.SortLicences(ls[c.ID])
		out = append(out, CustomerLicences{Customer: c, Licences: ls[c.ID], Subscriptions: subs[c.ID], ImportedAt: imported[c.ID]})
	}
	return out, nil
}

// LicenceEvent is one recorded change.
type LicenceEvent struct {
	At             time.Time
	SkuID          string
	SubscriptionID string
	Field          string
	Old            string
	New            string
}

// LicenceEvents returns a customer's licence history, oldest first.
func (s *Store) LicenceEvents(ctx context.Context, customerID int64) ([]LicenceEvent, error) {
	rows, err := s.pool.Query(ctx, `SELECT at, coalesce(sku_id::text, ''), coalesce(subscription_id, ''), field, old_value, new_value
		FROM licence_events WHERE customer_id = $1 ORDER BY at, id`, customerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[LicenceEvent])
}

// SSOAllowedTenant is a tenant a self-service portal's multi-tenant sign-in accepts.
type SSOAllowedTenant struct {
	TenantID string
	Customer string
	Partner  string
}

// SSOAllowedTenants lists the imported tenants of every partner that keeps
// the allowed-tenants list, so it is in step with discovery by construction
// (a tenant that left Partner Center drops off until it comes back).
func (s *Store) SSOAllowedTenants(ctx context.Context) ([]SSOAllowedTenant, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.azure_tenant_id::text, c.name, c.partner_id FROM customers c
		JOIN partners p ON p.id = c.partner_id
		WHERE p.sso_allowed_tenants AND c.azure_tenant_id IS NOT NULL AND c.left_at IS NULL ORDER BY lower(c.name), c.id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[SSOAllowedTenant])
}

// NewestHeldLicence is when cspsync first saw the newest of the customer's
// held licences (not ended, with active units) among skuIDs; nil when it
// holds none of them.
func (s *Store) NewestHeldLicence(ctx context.Context, customerID int64, skuIDs []string) (*time.Time, error) {
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT max(first_seen_at) FROM licences
		WHERE customer_id = $1 AND sku_id = ANY ($2::uuid[]) AND ended_at IS NULL AND active_units > 0`, customerID, skuIDs).Scan(&at)
	return at, err
}
