package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cspsync/cspsync/internal/domain"
)

// A tenant's users rounds and the pages they write. What a round is (full or
// delta), what each user becomes and who is absent are decided by
// internal/usersync and the activity; this file writes what they decided.

// UserRound is a tenant's users round: where it stands and what it did.
type UserRound struct {
	ID         int64
	CustomerID int64
	TenantID   string
	Kind       domain.RoundKind
	// NextLink is the page to read next; "" before the first page (a full
	// round then starts users/delta afresh, a delta round at DeltaLink).
	NextLink   string
	DeltaLink  string // the tenant's delta link a delta round starts from
	StartedAt  time.Time
	FinishedAt *time.Time
	domain.RoundCounts
}

// DeltaState is what a tenant keeps between users rounds: Graph's delta link
// and the $select it was made with ("" when it has none).
type DeltaState struct {
	Link   string
	Select string
}

const roundColumns = `r.id, r.customer_id, c.azure_tenant_id::text, r.kind, coalesce(r.next_link, ''), coalesce(c.delta_link, ''),
	r.started_at, r.finished_at, r.pages, r.users, r.created, r.updated, r.moved, r.inactivated, r.reactivated, r.excluded,
	r.ambiguous, r.invalid, r.mapping_errors`

func scanRound(row pgx.Row) (UserRound, error) {
	var r UserRound
	err := row.Scan(&r.ID, &r.CustomerID, &r.TenantID, &r.Kind, &r.NextLink, &r.DeltaLink, &r.StartedAt, &r.FinishedAt,
		&r.Pages, &r.Users, &r.Created, &r.Updated, &r.Moved, &r.Inactivated, &r.Reactivated, &r.Excluded, &r.Ambiguous, &r.Invalid, &r.MappingErrors)
	return r, err
}

// RunningUserRound returns the customer's unfinished round (one a crashed
// attempt left), if any, and the tenant's delta state.
func (s *Store) RunningUserRound(ctx context.Context, customerID int64) (*UserRound, DeltaState, error) {
	var d DeltaState
	if err := s.pool.QueryRow(ctx, `SELECT coalesce(delta_link, ''), coalesce(delta_select, '') FROM customers WHERE id = $1`,
		customerID).Scan(&d.Link, &d.Select); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = fmt.Errorf("customer %d: %w", customerID, ErrNotFound)
		}
		return nil, d, err
	}
	r, err := scanRound(s.pool.QueryRow(ctx, `SELECT `+roundColumns+` FROM user_rounds r JOIN customers c ON c.id = r.customer_id
		WHERE r.customer_id = $1 AND r.finished_at IS NULL`, customerID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, d, nil
	}
	if err != nil {
		return nil, d, err
	}
	return &r, d, nil
}

// StartUserRound starts a round of kind for the customer. A customer has at
// most one unfinished round: when another attempt started one first, that
// one is returned.
func (s *Store) StartUserRound(ctx context.Context, customerID int64, kind domain.RoundKind) (UserRound, error) {
	if _, err := s.pool.Exec(ctx, `INSERT INTO user_rounds (customer_id, kind) VALUES ($1, $2)
		ON CONFLICT (customer_id) WHERE finished_at IS NULL DO NOTHING`, customerID, kind); err != nil {
		return UserRound{}, err
	}
	return scanRound(s.pool.QueryRow(ctx, `SELECT `+roundColumns+` FROM user_rounds r JOIN customers c ON c.id = r.customer_id
		WHERE r.customer_id = $1 AND r.finished_at IS NULL`, customerID))
}

// RestartFull turns a round into a full one from the first page, forgetting
// the tenant's delta link and what the round had seen.
func (s *Store) RestartFull(ctx context.Context, r UserRound) (UserRound, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE customers SET delta_link = NULL, delta_select = NULL WHERE id = $1`, r.CustomerID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM user_round_seen_pages WHERE round_id = $1`, r.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE user_rounds SET kind = $2, next_link = NULL WHERE id = $1`, r.ID, domain.RoundFull)
		return err
	})
	r.Kind, r.NextLink, r.DeltaLink = domain.RoundFull, "", ""
	return r, err
}

// UserPage is one page of a round as decided: the users to write and log,
// and where the round goes next.
type UserPage struct {
	From  string // the page read: the round's NextLink when it started
	Next  string // the page after it ("" on the last page)
	Users []PageUser
	// Licences are the page users' licence links and service flags (user_licences.go).
	Licences []UserLicences
	// Seen lists the Graph users of a full round's page, so that its end can
	// tell who is absent (UnseenUsers).
	Seen []string
	// Counts are the page's (Pages aside, which the store counts), added to
	// the round's.
	Counts domain.RoundCounts
	// Spent is the time spent since the previous page was saved (its Write
	// is that page's commit), added to the round's.
	Spent Spent
	// End is set on the last page: the round finishes with it.
	End *RoundEnd
}

// RoundEnd is what the tenant keeps of a finished round for its next one.
type RoundEnd struct {
	DeltaLink string
	Select    string
	// Confirmation is the operator's confirmation of inactivations the
	// round read as it began (nil: none). The round's end clears it, so it
	// lets one round through; one given since is kept for the next.
	Confirmation *time.Time
}

// PageUser is one decided user of a page: his PSA row to write, if any, and
// his inbound log row, if any.
type PageUser struct {
	// Row is written whole when set: updated when Row.ID is set, else
	// inserted (a user from Microsoft, with his Azure object id).
	Row *domain.PSAUser
	// Log is appended when set; with Row set its PSA user id is the row's
	// (a new row's once inserted).
	Log *LogRow
}

// Spent is where a users round's time went.
type Spent struct {
	Microsoft time.Duration `json:"microsoft"` // fetching pages and re-reads
	Decide    time.Duration `json:"decide"`    // decoding, filters, mappings, matching lookups
	Write     time.Duration `json:"write"`     // committing pages
}

// ErrRoundMoved means the round's stored cursor is no longer the page this
// attempt read (another attempt of the same round saved it first, or
// finished the round): nothing was written, and the caller starts again from
// the round's stored cursor.
var ErrRoundMoved = errors.New("users round moved on: another attempt of this round is running")

// SaveUserPage writes one page of decisions, its inbound log rows and the
// round's cursor in one transaction, so a crash fetches at most this page
// again and never writes a user twice. The last page (End) also finishes the
// round: the tenant keeps the delta link for its next round.
func (s *Store) SaveUserPage(ctx context.Context, r UserRound, p UserPage) (UserRound, error) {
	counts := r.RoundCounts
	counts.Add(p.Counts)
	counts.Pages++
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// A page need not wait for its WAL flush: should PostgreSQL itself
		// crash and lose the last commits, the round's cursor goes back with
		// the rows it covers, so the worker fetches those pages again.
		var cur *string
		if err := tx.QueryRow(ctx, `SELECT set_config('synchronous_commit', 'off', true), next_link
			FROM user_rounds WHERE id = $1 AND finished_at IS NULL FOR UPDATE`, r.ID).Scan(nil, &cur); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return ErrRoundMoved
			}
			return err
		}
		if (cur == nil) != (p.From == "") || cur != nil && *cur != p.From {
			return ErrRoundMoved
		}
		if err := writePageUsers(ctx, tx, r, p.Users); err != nil {
			return err
		}
		if err := writeUserLicences(ctx, tx, r.CustomerID, p.Licences); err != nil {
			return err
		}
		if len(p.Seen) > 0 && p.End == nil { // the last page's are read before it is saved, and then forgotten
			if _, err := tx.Exec(ctx, `INSERT INTO user_round_seen_pages (round_id, azure_object_ids) VALUES ($1, $2::uuid[])`,
				r.ID, uuidsArg(p.Seen)); err != nil {
				return err
			}
		}
		if p.End != nil {
			if _, err := tx.Exec(ctx, `DELETE FROM user_round_seen_pages WHERE round_id = $1`, r.ID); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE customers SET delta_link = $2, delta_link_at = now(), delta_select = $3 WHERE id = $1`,
				r.CustomerID, p.End.DeltaLink, p.End.Select); err != nil {
				return err
			}
			if p.End.Confirmation != nil {
				if _, err := tx.Exec(ctx, `UPDATE customers SET inactivation_confirmed_at = NULL
					WHERE id = $1 AND inactivation_confirmed_at = $2`, r.CustomerID, *p.End.Confirmation); err != nil {
					return err
				}
			}
		}
		_, err := tx.Exec(ctx, `UPDATE user_rounds SET next_link = nullif($2, ''), pages = $3, users = $4, created = $5, updated = $6,
				moved = $7, inactivated = $8, reactivated = $9, excluded = $10, ambiguous = $11, invalid = $12,
				finished_at = CASE WHEN $13 THEN now() END, microsoft_time = microsoft_time + $14, decide_time = decide_time + $15,
				write_time = write_time + $16, mapping_errors = $17
			WHERE id = $1`, r.ID, p.Next, counts.Pages, counts.Users, counts.Created, counts.Updated, counts.Moved,
			counts.Inactivated, counts.Reactivated, counts.Excluded, counts.Ambiguous, counts.Invalid, p.End != nil,
			p.Spent.Microsoft, p.Spent.Decide, p.Spent.Write, counts.MappingErrors)
		return err
	})
	if err != nil {
		return r, err
	}
	r.RoundCounts, r.NextLink = counts, p.Next
	if p.End != nil {
		now := time.Now()
		r.FinishedAt, r.DeltaLink = &now, p.End.DeltaLink
	}
	return r, nil
}

// roundTables are the tables a users round joins its pages against.
var roundTables = []string{"psa_users", "user_licences"}

// FreshenStatistics analyses the round's tables that have more than doubled
// since PostgreSQL last counted them. A first full round fills them faster
// than autovacuum wakes (once a minute, at 10 % growth): planned on the
// counts of a nearly empty table, a page's licence joins scanned every link
// of the customer for each of its users (0.8 s a page at 4,000 users,
// BenchmarkSaveUserPage). Doubling keeps it to a few ANALYZEs a table
// however large the round; SKIP_LOCKED leaves a table another round is
// analysing to that one.
func (s *Store) FreshenStatistics(ctx context.Context) error {
	rows, err := s.pool.Query(ctx, `SELECT c.relname FROM pg_class c JOIN pg_stat_user_tables t ON t.relid = c.oid
		WHERE c.relname = ANY ($1) AND c.relnamespace = 'public'::regnamespace AND t.n_live_tup > 2 * greatest(c.reltuples, 1000)`,
		roundTables)
	if err != nil {
		return err
	}
	stale, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(stale) == 0 {
		return err
	}
	_, err = s.pool.Exec(ctx, `ANALYZE (SKIP_LOCKED) `+strings.Join(stale, ", "))
	return err
}

// writePageUsers writes a page's rows and then its log rows, which name the
// rows' ids.
func writePageUsers(ctx context.Context, tx pgx.Tx, r UserRound, users []PageUser) error {
	ids, err := writeUsers(ctx, tx, r, users)
	if err != nil {
		return err
	}
	var logs [][]any
	for i, u := range users {
		if u.Log != nil {
			logs = append(logs, u.Log.row(r, ids[i]))
		}
	}
	if len(logs) == 0 {
		return nil
	}
	_, err = tx.CopyFrom(ctx, pgx.Identifier{"inbound_log"}, logColumns, pgx.CopyFromRows(logs))
	return err
}

// writeUsers writes the rows of a page: updates of existing users and
// inserts of new ones, each one statement over the page's columns as arrays
// (no temporary table to create, fill and empty at every commit), both in
// one round trip. It returns each page user's PSA user id: his row's (a new
// row's as inserted), else his log row's, else 0.
func writeUsers(ctx context.Context, tx pgx.Tx, r UserRound, users []PageUser) ([]int64, error) {
	ids := make([]int64, len(users))
	var updated, created pageColumns
	for i, u := range users {
		if u.Row == nil {
			if u.Log != nil {
				ids[i] = u.Log.PSAUserID
			}
			continue
		}
		ids[i] = u.Row.ID
		if u.Row.ID == 0 && u.Row.AzureObjectID == "" {
			return nil, errors.New("a new PSA user from a users round needs his Azure object id")
		}
		cols := &updated
		if u.Row.ID == 0 {
			cols = &created
		}
		if err := cols.add(u.Row); err != nil {
			return nil, err
		}
	}
	batch := &pgx.Batch{}
	if len(updated.id) > 0 {
		batch.Queue(`UPDATE psa_users p SET site_id = t.site_id, azure_object_id = t.azure_object_id,
				azure_tenant_id = $2::uuid, name = t.name, email = t.email, network_login = t.network_login, phone = t.phone,
				mobile = t.mobile, job_title = t.job_title, department = t.department, last_sign_in = t.last_sign_in,
				active = t.active, inactive_reason = t.inactive_reason, custom_fields = t.custom_fields, updated_at = now()
			FROM `+pageColumnsTable+` WHERE p.id = t.id AND p.customer_id = $1`, updated.args(r)...)
	}
	if len(created.id) > 0 {
		batch.Queue(`INSERT INTO psa_users (customer_id, site_id, azure_object_id, azure_tenant_id, name, email,
				network_login, phone, mobile, job_title, department, last_sign_in, active, inactive_reason, custom_fields, source)
			SELECT $1, t.site_id, t.azure_object_id, $2::uuid, t.name, t.email, t.network_login, t.phone, t.mobile, t.job_title,
				t.department, t.last_sign_in, t.active, t.inactive_reason, t.custom_fields, '`+domain.UserSourceAzure+`'
			FROM `+pageColumnsTable+`
			RETURNING id, azure_object_id::text`, created.args(r)...)
	}
	if batch.Len() == 0 {
		return ids, nil
	}
	br := tx.SendBatch(ctx, batch)
	defer br.Close()
	if len(updated.id) > 0 {
		if _, err := br.Exec(); err != nil {
			return nil, err
		}
	}
	if len(created.id) > 0 {
		rows, err := br.Query()
		if err != nil {
			return nil, err
		}
		if err := mapNewIDs(rows, users, ids); err != nil {
			return nil, err
		}
	}
	return ids, br.Close()
}

// pageColumnsTable is pageColumns' arrays as a table t, after $1 (the
// customer) and $2 (his tenant).
const pageColumnsTable = `unnest($3::bigint[], $4::bigint[], $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[],
	$10::text[], $11::text[], $12::text[], $13::timestamptz[], $14::boolean[], $15::text[], $16::jsonb[])
	t (id, site_id, azure_object_id, name, email, network_login, phone, mobile, job_title, department, last_sign_in, active,
		inactive_reason, custom_fields)`

// pageColumns are PSA users to write as one array per column.
type pageColumns struct {
	id, siteID                                                          []int64
	azure, name, email, login, phone, mobile, jobTitle, department, why []string
	lastSignIn                                                          []*time.Time
	active                                                              []bool
	custom                                                              []string
}

func (c *pageColumns) add(u *domain.PSAUser) error {
	custom := []byte("{}")
	if u.Custom != nil {
		var err error
		if custom, err = json.Marshal(u.Custom); err != nil {
			return err
		}
	}
	var last *time.Time
	if !u.LastSignIn.IsZero() {
		last = &u.LastSignIn
	}
	c.id, c.siteID, c.azure = append(c.id, u.ID), append(c.siteID, u.SiteID), append(c.azure, u.AzureObjectID)
	c.name, c.email, c.login = append(c.name, u.Name), append(c.email, u.Email), append(c.login, u.NetworkLogin)
	c.phone, c.mobile, c.jobTitle = append(c.phone, u.Phone), append(c.mobile, u.Mobile), append(c.jobTitle, u.JobTitle)
	c.department, c.lastSignIn, c.active = append(c.department, u.Department), append(c.lastSignIn, last), append(c.active, u.Active)
	c.why, c.custom = append(c.why, u.InactiveReason), append(c.custom, string(custom))
	return nil
}

// args are the statement's arguments: the customer, his tenant, the columns.
func (c *pageColumns) args(r UserRound) []any {
	return []any{r.CustomerID, uuidArg(r.TenantID), c.id, c.siteID, uuidsArg(c.azure), c.name, c.email, c.login, c.phone,
		c.mobile, c.jobTitle, c.department, c.lastSignIn, c.active, c.why, c.custom}
}

// mapNewIDs sets ids of the inserted users from created (id, azure object
// id). A new row is known by its Azure object id, unique per customer: an
// INSERT … SELECT … RETURNING promises no order to map its rows by.
func mapNewIDs(created pgx.Rows, users []PageUser, ids []int64) error {
	newIDs := map[string]int64{}
	var id int64
	var azure string
	if _, err := pgx.ForEachRow(created, []any{&id, &azure}, func() error {
		newIDs[azure] = id
		return nil
	}); err != nil {
		return err
	}
	for i, u := range users {
		if u.Row != nil && u.Row.ID == 0 {
			if ids[i] = newIDs[strings.ToLower(u.Row.AzureObjectID)]; ids[i] == 0 {
				return fmt.Errorf("new PSA user with Azure object id %s was not inserted", u.Row.AzureObjectID)
			}
		}
	}
	return nil
}

// SaveSignIns writes one page of a sign-in pass's decisions (last sign-in
// dates of users already in the PSA) with their log rows in one
// transaction; the last page records the pass as done. A pass cut short
// leaves its saved pages, which the next pass finds unchanged.
func (s *Store) SaveSignIns(ctx context.Context, r UserRound, users []PageUser, last bool) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := writePageUsers(ctx, tx, r, users); err != nil {
			return err
		}
		if !last {
			return nil
		}
		_, err := tx.Exec(ctx, `UPDATE customers SET sign_ins_at = now() WHERE id = $1`, r.CustomerID)
		return err
	})
}

// SignInsAt is when the customer's last sign-in dates were read.
func (s *Store) SignInsAt(ctx context.Context, customerID int64) (*time.Time, error) {
	var at *time.Time
	err := s.pool.QueryRow(ctx, `SELECT sign_ins_at FROM customers WHERE id = $1`, customerID).Scan(&at)
	return at, err
}

// LastUserRound returns the customer's newest round, running or finished.
func (s *Store) LastUserRound(ctx context.Context, customerID int64) (UserRound, error) {
	r, err := scanRound(s.pool.QueryRow(ctx, `SELECT `+roundColumns+` FROM user_rounds r JOIN customers c ON c.id = r.customer_id
		WHERE r.customer_id = $1 ORDER BY r.id DESC LIMIT 1`, customerID))
	if errors.Is(err, pgx.ErrNoRows) {
		return r, fmt.Errorf("customer %d has no users round yet: %w", customerID, ErrNotFound)
	}
	return r, err
}

// ResetDelta forgets the delta links of a partner's tenants (or one tenant,
// tenantID), so each next round reads its users in full.
func (s *Store) ResetDelta(ctx context.Context, partnerID, tenantID string) (int, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE customers SET delta_link = NULL, delta_select = NULL
		WHERE azure_tenant_id IS NOT NULL AND ($1 = '' OR partner_id = $1) AND ($2 = '' OR azure_tenant_id::text = lower($2))`,
		partnerID, tenantID)
	return int(tag.RowsAffected()), err
}

// UserSummary is a customer's PSA users and the state of its users rounds.
type UserSummary struct {
	Active      int            `json:"active"`
	All         int            `json:"all"`
	Running     *RoundProgress `json:"running,omitempty"` // the round in progress, if any
	LastRoundAt *time.Time     `json:"lastRoundAt,omitempty"`
}

// RoundProgress is how far a running users round has come.
type RoundProgress struct {
	Kind      string    `json:"kind"`
	Pages     int       `json:"pages"`
	Users     int       `json:"users"`
	StartedAt time.Time `json:"startedAt"`
}

// UserSummaries summarises the users of a partner's customers (every
// partner's when partnerID is empty) that have a tenant, by customer id.
func (s *Store) UserSummaries(ctx context.Context, partnerID string) (map[int64]UserSummary, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.id, coalesce(u.active, 0), coalesce(u.total, 0), o.kind, o.pages, o.users, o.started_at,
			(SELECT max(finished_at) FROM user_rounds f WHERE f.customer_id = c.id)
		FROM customers c
		LEFT JOIN (SELECT customer_id, count(*) FILTER (WHERE active) AS active, count(*) AS total FROM psa_users GROUP BY customer_id) u
			ON u.customer_id = c.id
		LEFT JOIN user_rounds o ON o.customer_id = c.id AND o.finished_at IS NULL
		WHERE c.azure_tenant_id IS NOT NULL AND ($1 = '' OR c.partner_id = $1)`, partnerID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]UserSummary{}
	for rows.Next() {
		var id int64
		var u UserSummary
		var kind *string
		var pages, users *int
		var started *time.Time
		if err := rows.Scan(&id, &u.Active, &u.All, &kind, &pages, &users, &started, &u.LastRoundAt); err != nil {
			return nil, err
		}
		if kind != nil {
			u.Running = &RoundProgress{Kind: *kind, Pages: *pages, Users: *users, StartedAt: *started}
		}
		out[id] = u
	}
	return out, rows.Err()
}

// DataError reports whether err is PostgreSQL refusing the data written
// (SQLSTATE class 22, data exception, or 23, integrity constraint
// violation): writing the same rows again fails the same way.
func DataError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || strings.HasPrefix(pgErr.Code, "23"))
}

// RefusedUsers finds the users of a page whose write failed: it writes
// each alone, rolls every write back, and returns PostgreSQL's refusal of
// each user it refuses (nil for the others).
func (s *Store) RefusedUsers(ctx context.Context, r UserRound, users []PageUser) ([]error, error) {
	refused := make([]error, len(users))
	errProbed := errors.New("probed")
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for i := range users {
			sp, err := tx.Begin(ctx)
			if err != nil {
				return err
			}
			err = writePageUsers(ctx, sp, r, users[i:i+1])
			if rerr := sp.Rollback(ctx); rerr != nil {
				return rerr
			}
			if err != nil && !DataError(err) {
				return err
			}
			refused[i] = err
		}
		return errProbed
	})
	if !errors.Is(err, errProbed) {
		return nil, err
	}
	return refused, nil
}
