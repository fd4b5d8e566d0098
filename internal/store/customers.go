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
	RelationshipSource domain.RelationshipSource `json:"relationship_source"`
	SyncState          domain.TenantState
	SyncReason         string
	LastSyncAt         *time.Time
	// LeftAt is when a complete discovery found the customer gone from
	// Partner Center; nil while Partner Center lists it.
	LeftAt *time.Time `json:"left_at"`
	// GDAP is what the partner's GDAP relationships with the tenant came to
	// at the last discovery that could read them.
	GDAP domain.GDAPState `json:"gdap"`
	// RelationshipChanged: the tenant's running workflow has yet to hear of a
	// change of its relationship, consent or GDAP relationship.
	RelationshipChanged bool `json:"-"`
}

// DiscoveredTenant is one customer tenant as Partner Center lists it.
type DiscoveredTenant struct {
	TenantID string
	Name     string
	Domain   string
	// Relationship is what Microsoft says of it ("" when it says neither);
	// GDAP what the partner's GDAP relationships with it come to, nil when
	// they could not be read (the stored value stays).
	Relationship domain.Relationship
	GDAP         *domain.GDAPState
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
// assigned by hand is never changed. Its relationship becomes what Microsoft
// says unless it was overridden by hand, else it stays as it is (the
// partner's default for a new one); its consent follows domain.ConsentFor.
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
		known, err := lockKnownTenants(ctx, tx, tenants)
		if err != nil {
			return err
		}
		c, err := saveTenants(ctx, tx, partnerID, defaultRel, topLevel, known, tenants)
		if err != nil {
			return err
		}
		counts = c
		_, err = tx.Exec(ctx, `UPDATE partners SET discovery_cursor = $2,
			discovery_started_at = coalesce(discovery_started_at, now()), updated_at = now() WHERE id = $1`,
			partnerID, next)
		return err
	})
	return counts, err
}

// knownTenant is what a page's update of a linked customer starts from.
type knownTenant struct {
	relationship domain.Relationship
	source       domain.RelationshipSource
	consent      domain.Consent
	gdap         domain.GDAPState
	left         bool
}

// lockKnownTenants locks the customers already linked to a page's tenants,
// by lower-case tenant id, in one statement.
func lockKnownTenants(ctx context.Context, tx pgx.Tx, tenants []DiscoveredTenant) (map[string]knownTenant, error) {
	ids := make([]string, len(tenants))
	for i, t := range tenants {
		ids[i] = t.TenantID
	}
	rows, err := tx.Query(ctx, `SELECT azure_tenant_id::text, coalesce(relationship, ''), relationship_source, consent_state,
			gdap_status, gdap_end_at, gdap_name, gdap_roles, left_at IS NOT NULL
		FROM customers WHERE azure_tenant_id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, ids)
	if err != nil {
		return nil, err
	}
	known := map[string]knownTenant{}
	var id string
	var k knownTenant
	_, err = pgx.ForEachRow(rows, []any{&id, &k.relationship, &k.source, &k.consent, &k.gdap.Status, &k.gdap.EndAt, &k.gdap.Name,
		&k.gdap.Roles, &k.left}, func() error {
		known[id] = k
		return nil
	})
	return known, err
}

// saveTenants writes a page's tenants in two round trips, not one or two
// per tenant: the updates of known tenants and the links by name of new
// ones in one batch, then the inserts of the new tenants no customer's name
// matched. A batch runs its statements in order, so two tenants of a page
// with one name link two customers, as one statement each would.
func saveTenants(ctx context.Context, tx pgx.Tx, partnerID string, defaultRel domain.Relationship, topLevel *int64,
	known map[string]knownTenant, tenants []DiscoveredTenant) (PageCounts, error) {
	var counts PageCounts
	var batch pgx.Batch
	var order, fresh []int // the tenant of each statement; the new tenants, queued after the known ones
	for i, t := range tenants {
		if k, ok := known[strings.ToLower(t.TenantID)]; ok {
			counts.Add(updateTenant(&batch, partnerID, defaultRel, k, t))
			order = append(order, i)
		} else {
			fresh = append(fresh, i)
		}
	}
	updates := batch.Len()
	for _, i := range fresh {
		linkTenant(&batch, partnerID, defaultRel, topLevel, tenants[i])
	}
	order = append(order, fresh...)
	failed := func(t DiscoveredTenant, err error) error {
		return fmt.Errorf("saving tenant %s (%q): %w", t.TenantID, t.Name, err)
	}
	var unlinked []int
	err := func() error {
		res := tx.SendBatch(ctx, &batch)
		defer res.Close()
		for n := 0; n < batch.Len(); n++ {
			tag, err := res.Exec()
			i := order[n]
			switch {
			case err != nil:
				return failed(tenants[i], err)
			case n < updates: // a known tenant's update
			case tag.RowsAffected() == 1:
				counts.Linked++
			default:
				unlinked = append(unlinked, i)
			}
		}
		return res.Close()
	}()
	if err != nil || len(unlinked) == 0 {
		return counts, err
	}
	var inserts pgx.Batch
	for _, i := range unlinked {
		insertTenant(&inserts, partnerID, defaultRel, topLevel, tenants[i])
	}
	res := tx.SendBatch(ctx, &inserts)
	defer res.Close()
	for _, i := range unlinked {
		if _, err := res.Exec(); err != nil {
			return counts, failed(tenants[i], err)
		}
		counts.Inserted++
	}
	return counts, res.Close()
}

// updateTenant refreshes a customer already linked to the tenant. One that
// had left Partner Center comes back as itself: same row, users and
// licences. A change its running workflow must hear of is marked.
func updateTenant(b *pgx.Batch, partnerID string, defaultRel domain.Relationship, k knownTenant, t DiscoveredTenant) PageCounts {
	rel, source, consent := k.relationship, k.source, k.consent
	switch {
	case source != domain.SourceOverride && t.Relationship != "":
		rel, source = t.Relationship, domain.SourceMicrosoft
	case rel == "": // linked by hand (`customers set-tenant`), never discovered
		rel, source = defaultRel, domain.SourceDefault
	}
	if rel != k.relationship {
		consent = domain.ConsentFor(rel, consent)
	}
	g := k.gdap
	if t.GDAP != nil {
		g = *t.GDAP
	}
	changed := rel != k.relationship || consent != k.consent || g.Status != k.gdap.Status || !sameTime(g.EndAt, k.gdap.EndAt)
	b.Queue(`UPDATE customers SET partner_id = $2, domain = $3, discovered_at = now(), left_at = NULL,
			relationship = $4, relationship_source = $5, consent_state = $6, gdap_status = $7, gdap_end_at = $8, gdap_name = $9,
			gdap_roles = $10, relationship_changed = relationship_changed OR $11, updated_at = now()
		WHERE azure_tenant_id = $1`, t.TenantID, partnerID, t.Domain, rel, source, consent, g.Status, g.EndAt, g.Name,
		orNone(g.Roles), changed)
	if k.left {
		return PageCounts{Updated: 1, Returned: 1}
	}
	return PageCounts{Updated: 1}
}

// newTenant is what a new tenant's customer starts with.
func newTenant(defaultRel domain.Relationship, t DiscoveredTenant) (domain.Relationship, domain.RelationshipSource, domain.Consent, domain.GDAPState) {
	rel, source := defaultRel, domain.SourceDefault
	if t.Relationship != "" {
		rel, source = t.Relationship, domain.SourceMicrosoft
	}
	var g domain.GDAPState
	if t.GDAP != nil {
		g = *t.GDAP
	}
	return rel, source, domain.ConsentFor(rel, domain.ConsentUnknown), g
}

// linkTenant gives a new tenant to the first customer without a tenant id
// of its name, if any.
func linkTenant(b *pgx.Batch, partnerID string, defaultRel domain.Relationship, topLevel *int64, t DiscoveredTenant) {
	rel, source, consent, g := newTenant(defaultRel, t)
	b.Queue(`UPDATE customers SET azure_tenant_id = $1, tenant_id_source = 'discovered', partner_id = $2,
			domain = $3, relationship = $5, relationship_source = $6, consent_state = $7, top_level_id = coalesce(top_level_id, $8),
			gdap_status = $9, gdap_end_at = $10, gdap_name = $11, gdap_roles = $12, discovered_at = now(), updated_at = now()
		WHERE id = (SELECT id FROM customers WHERE lower(name) = lower($4) AND azure_tenant_id IS NULL ORDER BY id LIMIT 1 FOR UPDATE)`,
		t.TenantID, partnerID, t.Domain, t.Name, rel, source, consent, topLevel, g.Status, g.EndAt, g.Name, orNone(g.Roles))
}

// insertTenant creates the customer of a new tenant no customer's name matched.
func insertTenant(b *pgx.Batch, partnerID string, defaultRel domain.Relationship, topLevel *int64, t DiscoveredTenant) {
	rel, source, consent, g := newTenant(defaultRel, t)
	b.Queue(`INSERT INTO customers (partner_id, name, azure_tenant_id, tenant_id_source, domain, relationship,
			relationship_source, consent_state, top_level_id, gdap_status, gdap_end_at, gdap_name, gdap_roles, discovered_at)
		VALUES ($1, $2, $3, 'discovered', $4, $5, $6, $7, $8, $9, $10, $11, $12, now())`, partnerID, t.Name, t.TenantID, t.Domain,
		rel, source, consent, topLevel, g.Status, g.EndAt, g.Name, orNone(g.Roles))
}

func sameTime(a, b *time.Time) bool {
	return a == nil && b == nil || a != nil && b != nil && a.Equal(*b)
}

// orNone keeps a NOT NULL array column from a nil slice.
func orNone(xs []string) []string {
	if xs == nil {
		return []string{}
	}
	return xs
}

// ClearRelationshipChanged records that the tenant's running workflow has
// heard of its relationship's last change.
func (s *Store) ClearRelationshipChanged(ctx context.Context, tenantID string) error {
	_, err := s.pool.Exec(ctx, `UPDATE customers SET relationship_changed = false WHERE azure_tenant_id::text = lower($1)`, tenantID)
	return err
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
	relationship_source, sync_state, sync_reason, last_sync_at, left_at, gdap_status, gdap_end_at, gdap_name, gdap_roles,
	relationship_changed`

func scanCustomer(row pgx.CollectableRow) (Customer, error) {
	var c Customer
	err := row.Scan(&c.ID, &c.PartnerID, &c.Name, &c.TenantID, &c.TenantIDSource, &c.Domain, &c.TopLevel,
		&c.Relationship, &c.ConsentState, &c.DiscoveredAt, &c.RelationshipSource, &c.SyncState, &c.SyncReason, &c.LastSyncAt, &c.LeftAt,
		&c.GDAP.Status, &c.GDAP.EndAt, &c.GDAP.Name, &c.GDAP.Roles, &c.RelationshipChanged)
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
