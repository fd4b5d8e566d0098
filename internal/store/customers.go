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

// Customer is a PSA customer, possibly linked to a Microsoft tenant.
type Customer struct {
	ID             int64
	PartnerID      string
	Name           string
	TenantID       string
	TenantIDSource string
	Domain         string
	TopLevel       string // the name of its top level, "" for none
	Relationship   domain.Relationship
	ConsentState   domain.Consent
	DiscoveredAt   *time.Time
	// Lifecycle, mirrored from the tenant's workflow.
	RelationshipSource string
	SyncState          domain.TenantState
	SyncReason         string
	LastSyncAt         *time.Time
	// LeftAt is when a complete discovery found the customer gone from
	// Partner Center; nil while Partner Center lists it.
	LeftAt *time.Time `json:"left_at"`
}

// DiscoveredTenant is one customer tenant as Partner Center lists it.
type DiscoveredTenant struct {
	TenantID string
	Name     string
	Domain   string
}

// PageCounts says what one discovery page did to the customers table.
type PageCounts struct {
	Inserted int // new customers
	Linked   int // existing customers matched by name and given the tenant id
	Updated  int // customers already linked to the tenant id
	Returned int // of those, customers that had left Partner Center and are listed again
}

// Add accumulates counts.
func (c *PageCounts) Add(o PageCounts) {
	c.Inserted += o.Inserted
	c.Linked += o.Linked
	c.Updated += o.Updated
	c.Returned += o.Returned
}

// ErrCursorMoved means another attempt of the same discovery advanced the
// cursor first; the caller must restart from the stored cursor.
var ErrCursorMoved = errors.New("discovery cursor moved: another attempt of this discovery is running")

// DiscoveryCursor returns the continuation token of an unfinished discovery
// ("" when a discovery should start from the first page).
func (s *Store) DiscoveryCursor(ctx context.Context, partnerID string) (string, error) {
	var cursor *string
	err := s.pool.QueryRow(ctx, `SELECT discovery_cursor FROM partners WHERE id = $1`, partnerID).Scan(&cursor)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("partner %q: %w", partnerID, ErrNotFound)
	}
	if err != nil || cursor == nil {
		return "", err
	}
	return *cursor, nil
}

// SaveDiscoveryPage upserts one page of tenants and advances the cursor from
// `from` to `next` in one transaction, so a crash between pages repeats at
// most one page and never duplicates a customer. A customer is matched by
// tenant id, else by name among customers without a tenant id; a tenant id
// assigned by hand is never changed.
func (s *Store) SaveDiscoveryPage(ctx context.Context, partnerID, from, next string, tenants []DiscoveredTenant) (PageCounts, error) {
	var counts PageCounts
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var cur *string
		var defaultRel domain.Relationship
		var topLevel *int64
		if err := tx.QueryRow(ctx, `SELECT discovery_cursor, default_relationship, default_top_level_id FROM partners WHERE id = $1 FOR UPDATE`,
			partnerID).Scan(&cur, &defaultRel, &topLevel); err != nil {
			return err
		}
		if (cur == nil && from != "") || (cur != nil && *cur != from) {
			return ErrCursorMoved
		}
		consent := domain.ConsentFor(defaultRel, domain.ConsentUnknown)
		for _, t := range tenants {
			c, err := upsertTenant(ctx, tx, partnerID, defaultRel, consent, topLevel, t)
			if err != nil {
				return fmt.Errorf("saving tenant %s (%q): %w", t.TenantID, t.Name, err)
			}
			counts.Add(c)
		}
		_, err := tx.Exec(ctx, `UPDATE partners SET discovery_cursor = $2,
			discovery_started_at = coalesce(discovery_started_at, now()), updated_at = now() WHERE id = $1`,
			partnerID, next)
		return err
	})
	return counts, err
}

func upsertTenant(ctx context.Context, tx pgx.Tx, partnerID string, rel domain.Relationship, consent domain.Consent, topLevel *int64, t DiscoveredTenant) (PageCounts, error) {
	// A customer that had left Partner Center comes back as itself: same
	// row, users and licences.
	var returned bool
	err := tx.QueryRow(ctx, `UPDATE customers c SET partner_id = $2, domain = $3, discovered_at = now(), left_at = NULL, updated_at = now()
		FROM (SELECT id, left_at FROM customers WHERE azure_tenant_id = $1 FOR UPDATE) old
		WHERE c.id = old.id RETURNING old.left_at IS NOT NULL`, t.TenantID, partnerID, t.Domain).Scan(&returned)
	switch {
	case err == nil && returned:
		return PageCounts{Updated: 1, Returned: 1}, nil
	case err == nil:
		return PageCounts{Updated: 1}, nil
	case !errors.Is(err, pgx.ErrNoRows):
		return PageCounts{}, err
	}
	tag, err := tx.Exec(ctx, `UPDATE customers SET azure_tenant_id = $1, tenant_id_source = 'discovered', partner_id = $2,
			domain = $3, relationship = coalesce(relationship, $5), consent_state = $6, top_level_id = coalesce(top_level_id, $7),
			discovered_at = now(), updated_at = now()
		WHERE id = (SELECT id FROM customers WHERE lower(name) = lower($4) AND azure_tenant_id IS NULL ORDER BY id LIMIT 1 FOR UPDATE)`,
		t.TenantID, partnerID, t.Domain, t.Name, rel, consent, topLevel)
	if err != nil {
		return PageCounts{}, err
	}
	if tag.RowsAffected() == 1 {
		return PageCounts{Linked: 1}, nil
	}
	_, err = tx.Exec(ctx, `INSERT INTO customers (partner_id, name, azure_tenant_id, tenant_id_source, domain, relationship, consent_state,
			top_level_id, discovered_at)
		VALUES ($1, $2, $3, 'discovered', $4, $5, $6, $7, now())`, partnerID, t.Name, t.TenantID, t.Domain, rel, consent, topLevel)
	if err != nil {
		return PageCounts{}, err
	}
	return PageCounts{Inserted: 1}, nil
}

// FinishDiscovery clears the cursor and stamps the partner's last discovery.
// With complete (the discovery read every page itself, from the first), the
// partner's customers it did not list are marked as having left Partner
// Center, in the same transaction; it returns how many. A discovery resumed
// from a cursor retires no one: Partner Center's continuation tokens are
// offsets, so a customer removed meanwhile shifts the later pages, and a
// customer read by the crashed attempt only is no proof of the rest.
func (s *Store) FinishDiscovery(ctx context.Context, partnerID string, complete bool) (left int, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if complete {
			// The first page stamped discovery_started_at and every customer it
			// listed in the same transaction; later pages stamp later.
			tag, err := tx.Exec(ctx, `UPDATE customers SET left_at = now(), updated_at = now()
				WHERE partner_id = $1 AND azure_tenant_id IS NOT NULL AND left_at IS NULL
				AND (discovered_at IS NULL OR discovered_at < (SELECT discovery_started_at FROM partners WHERE id = $1))`, partnerID)
			if err != nil {
				return err
			}
			left = int(tag.RowsAffected())
		}
		_, err := tx.Exec(ctx, `UPDATE partners SET discovery_cursor = NULL, discovery_started_at = NULL,
			last_discovery_at = now(), updated_at = now() WHERE id = $1`, partnerID)
		return err
	})
	return left, err
}

const customerColumns = `id, coalesce(partner_id, ''), name, coalesce(azure_tenant_id::text, ''), coalesce(tenant_id_source, ''),
	coalesce(domain, ''), coalesce((SELECT name FROM top_levels WHERE id = top_level_id), ''), coalesce(relationship, ''), consent_state, discovered_at,
	relationship_source, sync_state, sync_reason, last_sync_at, left_at`

func scanCustomer(row pgx.CollectableRow) (Customer, error) {
	var c Customer
	err := row.Scan(&c.ID, &c.PartnerID, &c.Name, &c.TenantID, &c.TenantIDSource, &c.Domain, &c.TopLevel,
		&c.Relationship, &c.ConsentState, &c.DiscoveredAt, &c.RelationshipSource, &c.SyncState, &c.SyncReason, &c.LastSyncAt, &c.LeftAt)
	return c, err
}

// ListCustomers returns customers by name; partnerID "" lists all.
func (s *Store) ListCustomers(ctx context.Context, partnerID string) ([]Customer, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+customerColumns+` FROM customers
		WHERE $1 = '' OR partner_id = $1 ORDER BY lower(name), id`, partnerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanCustomer)
}

// CountCustomers counts a partner's customers linked to a tenant.
func (s *Store) CountCustomers(ctx context.Context, partnerID string) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM customers WHERE partner_id = $1 AND azure_tenant_id IS NOT NULL`, partnerID).Scan(&n)
	return n, err
}

// CreateCustomer adds a PSA customer by hand (no tenant yet).
func (s *Store) CreateCustomer(ctx context.Context, name string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO customers (name) VALUES ($1) RETURNING id`, name).Scan(&id)
	return id, err
}

// SetCustomerTenant assigns a tenant id by hand; discovery will then match
// this customer by tenant id and never reassign it.
func (s *Store) SetCustomerTenant(ctx context.Context, customerID int64, tenantID string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE customers SET azure_tenant_id = $2, tenant_id_source = 'manual', updated_at = now()
		WHERE id = $1`, customerID, tenantID)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505":
		return fmt.Errorf("tenant %s already belongs to another customer (see `cspsync customers list`)", tenantID)
	case errors.As(err, &pgErr) && pgErr.Code == "22P02":
		return fmt.Errorf("%q is not a tenant id: expected a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47", tenantID)
	case err != nil:
		return err
	case tag.RowsAffected() == 0:
		return fmt.Errorf("customer %d: %w (see `cspsync customers list`)", customerID, ErrNotFound)
	}
	return nil
}
