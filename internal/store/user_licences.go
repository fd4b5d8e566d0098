package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ServiceSettings are what a customer's service-user rules are made of.
type ServiceSettings struct {
	Group        string   // the customer's service group, else the partner's ("" none)
	GroupFound   bool     // the last groups/delta read of the tenant found a group of that name
	GroupRead    bool     // the tenant's groups were read for that name
	BillableSkus []string // the partner's billable SKU ids, lower-case
}

// ServiceSettings reads a customer's service-user settings.
func (s *Store) ServiceSettings(ctx context.Context, customerID int64) (ServiceSettings, error) {
	var ss ServiceSettings
	err := s.pool.QueryRow(ctx, `SELECT coalesce(c.service_group, p.service_group), p.billable_skus::text[],
			c.group_delta_group IS NOT DISTINCT FROM coalesce(c.service_group, p.service_group) AND c.group_delta_at IS NOT NULL,
			EXISTS (SELECT 1 FROM service_groups g WHERE g.customer_id = c.id)
		FROM customers c JOIN partners p ON p.id = c.partner_id WHERE c.id = $1`, customerID).
		Scan(&ss.Group, &ss.BillableSkus, &ss.GroupRead, &ss.GroupFound)
	if err != nil {
		return ss, fmt.Errorf("service settings of customer %d: %w", customerID, err)
	}
	ss.GroupFound = ss.GroupFound && ss.GroupRead
	return ss, nil
}

// PartnerBillingSettings are a partner's service-user settings.
type PartnerBillingSettings struct {
	ServiceGroup string
	BillableSkus []string
}

// BillingSettings reads a partner's service group and billable SKU ids.
func (s *Store) BillingSettings(ctx context.Context, partnerID string) (PartnerBillingSettings, error) {
	var b PartnerBillingSettings
	err := s.pool.QueryRow(ctx, `SELECT service_group, billable_skus::text[] FROM partners WHERE id = $1`, partnerID).
		Scan(&b.ServiceGroup, &b.BillableSkus)
	if err == pgx.ErrNoRows {
		err = fmt.Errorf("partner %q: %w", partnerID, ErrNotFound)
	}
	return b, err
}

// SetBillableSkus replaces a partner's billable SKU ids (validated by the caller).
func (s *Store) SetBillableSkus(ctx context.Context, partnerID string, skuIDs []string) error {
	tag, err := s.pool.Exec(ctx, `UPDATE partners SET billable_skus = $2::uuid[], updated_at = now() WHERE id = $1`, partnerID, skuIDs)
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("partner %q: %w", partnerID, ErrNotFound)
	}
	return err
}

// SetServiceGroup sets a partner's service group (customerID 0), or a customer's override
// (nil name: follow the partner's again; "": no group for that customer).
func (s *Store) SetServiceGroup(ctx context.Context, partnerID string, customerID int64, name *string) error {
	var tag interface{ RowsAffected() int64 }
	var err error
	if customerID == 0 {
		n := ""
		if name != nil {
			n = *name
		}
		tag, err = s.pool.Exec(ctx, `UPDATE partners SET service_group = $2, updated_at = now() WHERE id = $1`, partnerID, n)
	} else {
		tag, err = s.pool.Exec(ctx, `UPDATE customers SET service_group = $3, updated_at = now() WHERE id = $2 AND partner_id = $1`,
			partnerID, customerID, name)
	}
	if err == nil && tag.RowsAffected() == 0 {
		err = fmt.Errorf("partner %q customer %d: %w", partnerID, customerID, ErrNotFound)
	}
	return err
}

// CustomerServiceGroup is a customer's own service-group setting (nil: the partner's).
func (s *Store) CustomerServiceGroup(ctx context.Context, customerID int64) (*string, error) {
	var g *string
	err := s.pool.QueryRow(ctx, `SELECT service_group FROM customers WHERE id = $1`, customerID).Scan(&g)
	if err == pgx.ErrNoRows {
		err = fmt.Errorf("customer %d: %w", customerID, ErrNotFound)
	}
	return g, err
}

// UserServiceState is what a round needs to know of a PSA user to decide his service flag.
type UserServiceState struct {
	Service bool
	Reason  string
	InGroup bool
}

// UserServiceStates reads, for each of the given Azure object ids of a customer's users (keyed
// lower-case), his service state in the PSA (the zero state for a user the PSA does not hold
// yet) and whether he is a member of the customer's service group(s): one query a page.
func (s *Store) UserServiceStates(ctx context.Context, customerID int64, azureIDs []string) (map[string]UserServiceState, error) {
	// Planned afresh at every call (an unnamed statement), never from the connection's
	// cached generic plan: service_group_members fills by whole tenants at once, and a plan
	// cached while it was empty scanned it whole for each user (a membership read in full
	// then took 100 s instead of 8 on the rules benchmark: 50 tenants, 90,000 members).
	rows, err := s.pool.Query(ctx, `SELECT p.id::text, coalesce(u.service_user, false), coalesce(u.service_reason, ''),
			EXISTS (SELECT 1 FROM service_group_members m WHERE m.customer_id = $1 AND m.azure_object_id = p.id)
		FROM unnest($2::uuid[]) p (id) LEFT JOIN psa_users u ON u.customer_id = $1 AND u.azure_object_id = p.id`,
		pgx.QueryExecModeDescribeExec, customerID, uuidsArg(azureIDs))
	if err != nil {
		return nil, err
	}
	out := make(map[string]UserServiceState, len(azureIDs))
	var id string
	var st UserServiceState
	_, err = pgx.ForEachRow(rows, []any{&id, &st.Service, &st.Reason, &st.InGroup}, func() error {
		out[id] = st
		return nil
	})
	return out, err
}

// UserLicences is what a page says of one user's licences and service flag.
type UserLicences struct {
	AzureObjectID string
	Skus          []string // lower-case SKU ids; nil when unknown (links are left as they are)
	Service       *ServiceFlag
}

// ServiceFlag is a service state to write.
type ServiceFlag struct {
	Service bool
	Reason  string
}

// writeUserLicences brings the page users' licence links and service flags to what the page
// decided, in the page's transaction (after its users are written, so new users have ids).
// A SKU the customer has no licence row for is linked pending; a removed SKU ends its link.
func writeUserLicences(ctx context.Context, tx pgx.Tx, customerID int64, us []UserLicences) error {
	// The page goes as arrays, not temporary tables: PostgreSQL knows an
	// array's length when it plans, so it looks the page's users up by index
	// instead of joining the customer's every user and link (and the page
	// costs one round trip, not seven).
	var known, linkUsers, linkSkus, flagUsers, flagReasons []string
	var flags []bool
	for _, u := range us {
		id := strings.ToLower(u.AzureObjectID)
		if u.Skus != nil {
			known = append(known, id)
			for _, sku := range u.Skus {
				linkUsers, linkSkus = append(linkUsers, id), append(linkSkus, sku)
			}
		}
		if u.Service != nil {
			flagUsers, flags, flagReasons = append(flagUsers, id), append(flags, u.Service.Service), append(flagReasons, u.Service.Reason)
		}
	}
	batch := &pgx.Batch{}
	if len(known) > 0 {
		batch.Queue(`UPDATE user_licences l SET removed_at = now()
			FROM unnest($2::uuid[]) k (azure_object_id) CROSS JOIN LATERAL (`+pageUserID("k.azure_object_id")+`) u
			WHERE l.psa_user_id = u.id AND l.removed_at IS NULL
				AND NOT EXISTS (SELECT 1 FROM unnest($3::uuid[], $4::uuid[]) p (azure_object_id, sku_id)
					WHERE p.azure_object_id = k.azure_object_id AND p.sku_id = l.sku_id)`, customerID, uuidsArg(known), uuidsArg(linkUsers), uuidsArg(linkSkus))
	}
	if len(linkUsers) > 0 {
		batch.Queue(`INSERT INTO user_licences (psa_user_id, customer_id, sku_id, licence_sku_id)
			SELECT u.id, $1, p.sku_id, lc.sku_id
			FROM unnest($2::uuid[], $3::uuid[]) p (azure_object_id, sku_id)
				CROSS JOIN LATERAL (`+pageUserID("p.azure_object_id", ` AND NOT EXISTS (SELECT 1 FROM user_licences l
					WHERE l.psa_user_id = psa_users.id AND l.sku_id = p.sku_id AND l.removed_at IS NULL)`)+`) u
				LEFT JOIN licences lc ON lc.customer_id = $1 AND lc.sku_id = p.sku_id`,
			customerID, uuidsArg(linkUsers), uuidsArg(linkSkus))
	}
	if len(flagUsers) > 0 {
		batch.Queue(`UPDATE psa_users u SET service_user = t.service_user, service_reason = t.service_reason, updated_at = now()
			FROM unnest($2::uuid[], $3::boolean[], $4::text[]) t (azure_object_id, service_user, service_reason)
			WHERE u.customer_id = $1 AND u.azure_object_id = t.azure_object_id
				AND (u.service_user, u.service_reason) IS DISTINCT FROM (t.service_user, t.service_reason)`,
			customerID, uuidsArg(flagUsers), flags, flagReasons)
	}
	if batch.Len() == 0 {
		return nil
	}
	return tx.SendBatch(ctx, batch).Close()
}

// pageUserID finds the PSA user of the page's Azure object id azure (and what more
// conditions follow), one index probe each: joined instead, PostgreSQL hashed every user
// (or link) of the customer to find the page's 200 (11.8 of 13.3 ms at 12,400 users,
// EXPLAIN ANALYZE, growing with the customer). LIMIT 1 (the id is unique per customer)
// keeps the subquery per row.
func pageUserID(azure string, more ...string) string {
	return `SELECT id FROM psa_users WHERE customer_id = $1 AND azure_object_id = ` + azure + strings.Join(more, "") + ` LIMIT 1`
}

// resolvePendingLinks links a customer's pending licence links to the licence rows its
// import brought.
const resolvePendingLinks = `UPDATE user_licences l SET licence_sku_id = l.sku_id
	FROM licences lc WHERE l.customer_id = $1 AND l.licence_sku_id IS NULL AND lc.customer_id = l.customer_id AND lc.sku_id = l.sku_id`

// UserLicenceLink is one of a user's licences.
type UserLicenceLink struct {
	PSAUserID  int64
	SkuID      string
	PartNumber string // from the customer's licence row; "" while pending
	Pending    bool   // the customer has no licence row for the SKU yet
	AssignedAt time.Time
	RemovedAt  *time.Time
}

// UserLicenceLinks returns the current licence links of a customer's users (userID 0: all),
// and with history also the removed ones, by user then SKU.
func (s *Store) UserLicenceLinks(ctx context.Context, customerID, userID int64, history bool) ([]UserLicenceLink, error) {
	rows, err := s.pool.Query(ctx, `SELECT l.psa_user_id, l.sku_id::text, coalesce(lc.part_number, ''), l.licence_sku_id IS NULL,
			l.assigned_at, l.removed_at
		FROM user_licences l LEFT JOIN licences lc ON lc.customer_id = l.customer_id AND lc.sku_id = l.licence_sku_id
		WHERE l.customer_id = $1 AND ($2 = 0 OR l.psa_user_id = $2) AND ($3 OR l.removed_at IS NULL)
		ORDER BY l.psa_user_id, l.sku_id, l.assigned_at`, customerID, userID, history)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (UserLicenceLink, error) {
		var l UserLicenceLink
		err := row.Scan(&l.PSAUserID, &l.SkuID, &l.PartNumber, &l.Pending, &l.AssignedAt, &l.RemovedAt)
		return l, err
	})
}

// AssignedSeats counts, per customer and SKU, the current licence links of the partner's
// users ("" all partners): the seats assigned as cspsync counted them from users. Inactive
// users count too, as Microsoft counts their seats until the licence is removed.
func (s *Store) AssignedSeats(ctx context.Context, partnerID string) (map[int64]map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT l.customer_id, l.sku_id::text, count(*)
		FROM user_licences l JOIN customers c ON c.id = l.customer_id
		WHERE l.removed_at IS NULL AND ($1 = '' OR c.partner_id = $1) GROUP BY 1, 2`, partnerID)
	if err != nil {
		return nil, err
	}
	out := map[int64]map[string]int{}
	var c int64
	var sku string
	var n int
	_, err = pgx.ForEachRow(rows, []any{&c, &sku, &n}, func() error {
		if out[c] == nil {
			out[c] = map[string]int{}
		}
		out[c][sku] = n
		return nil
	})
	return out, err
}
