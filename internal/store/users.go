package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cspsync/cspsync/internal/usersync"
)

// Round kinds: a full round reads every user; a delta round the changes
// since the tenant's delta link.
const (
	RoundFull  = "full"
	RoundDelta = "delta"
)

// RoundCounts are what a users round did.
type RoundCounts struct {
	Pages       int `json:"pages"`
	Users       int `json:"users"`
	Created     int `json:"created"`
	Updated     int `json:"updated"`
	Moved       int `json:"moved"`
	Inactivated int `json:"inactivated"`
	Reactivated int `json:"reactivated"`
	Excluded    int `json:"excluded"`
	Ambiguous   int `json:"ambiguous"`
	Invalid     int `json:"invalid"`
}

// Add sums counts, for totals.
func (c *RoundCounts) Add(o RoundCounts) {
	c.Pages += o.Pages
	c.Users += o.Users
	c.Created += o.Created
	c.Updated += o.Updated
	c.Moved += o.Moved
	c.Inactivated += o.Inactivated
	c.Reactivated += o.Reactivated
	c.Excluded += o.Excluded
	c.Ambiguous += o.Ambiguous
	c.Invalid += o.Invalid
}

func (c *RoundCounts) add(o usersync.Outcome) {
	c.Users++
	switch o.Kind {
	case usersync.Created:
		c.Created++
	case usersync.Updated:
		c.Updated++
	case usersync.Moved:
		c.Moved++
	case usersync.Inactivated:
		c.Inactivated++
	case usersync.Reactivated:
		c.Reactivated++
	case usersync.Excluded:
		c.Excluded++
	case usersync.Ambiguous:
		c.Ambiguous++
	case usersync.Invalid:
		c.Invalid++
	}
}

// UserRound is a tenant's users round: where it stands and what it did.
type UserRound struct {
	ID         int64
	CustomerID int64
	TenantID   string
	Kind       string
	// NextLink is the page to read next; "" before the first page (a full
	// round then starts users/delta afresh, a delta round at DeltaLink).
	NextLink   string
	DeltaLink  string // the tenant's delta link a delta round starts from
	StartedAt  time.Time
	FinishedAt *time.Time
	RoundCounts
}

const roundColumns = `r.id, r.customer_id, c.azure_tenant_id::text, r.kind, coalesce(r.next_link, ''), coalesce(c.delta_link, ''),
	r.started_at, r.finished_at, r.pages, r.users, r.created, r.updated, r.moved, r.inactivated, r.reactivated, r.excluded,
	r.ambiguous, r.invalid`

func scanRound(row pgx.Row) (UserRound, error) {
	var r UserRound
	err := row.Scan(&r.ID, &r.CustomerID, &r.TenantID, &r.Kind, &r.NextLink, &r.DeltaLink, &r.StartedAt, &r.FinishedAt,
		&r.Pages, &r.Users, &r.Created, &r.Updated, &r.Moved, &r.Inactivated, &r.Reactivated, &r.Excluded, &r.Ambiguous, &r.Invalid)
	return r, err
}

// OpenUserRound returns the customer's round in progress (one a crashed
// attempt left), or starts one: full when asked, when the tenant has no
// delta link, or when the link was made for another $select.
func (s *Store) OpenUserRound(ctx context.Context, customerID int64, full bool, selectProps []string) (UserRound, error) {
	var r UserRound
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var deltaLink, deltaSelect *string
		if err := tx.QueryRow(ctx, `SELECT delta_link, delta_select FROM customers WHERE id = $1 FOR UPDATE`, customerID).
			Scan(&deltaLink, &deltaSelect); err != nil {
			return fmt.Errorf("customer %d: %w", customerID, err)
		}
		var err error
		r, err = scanRound(tx.QueryRow(ctx, `SELECT `+roundColumns+` FROM user_rounds r JOIN customers c ON c.id = r.customer_id
			WHERE r.customer_id = $1 AND r.finished_at IS NULL`, customerID))
		if err == nil || !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		kind := RoundDelta
		if full || deltaLink == nil || deltaSelect == nil || *deltaSelect != strings.Join(selectProps, ",") {
			kind = RoundFull
		}
		r, err = scanRound(tx.QueryRow(ctx, `WITH r AS (INSERT INTO user_rounds (customer_id, kind) VALUES ($1, $2) RETURNING *)
			SELECT `+roundColumns+` FROM r JOIN customers c ON c.id = r.customer_id`, customerID, kind))
		return err
	})
	return r, err
}

// RestartFull turns a round into a full one from the first page: Graph no
// longer has the tenant's delta state (an expired or reset delta link).
func (s *Store) RestartFull(ctx context.Context, r UserRound) (UserRound, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE customers SET delta_link = NULL, delta_select = NULL WHERE id = $1`, r.CustomerID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM user_round_seen WHERE round_id = $1`, r.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE user_rounds SET kind = $2, next_link = NULL WHERE id = $1`, r.ID, RoundFull)
		return err
	})
	r.Kind, r.NextLink, r.DeltaLink = RoundFull, "", ""
	return r, err
}

// FindPSAUsers reads the customer's PSA users a batch of decisions needs
// (usersync.Lookups), in one query.
func (s *Store) FindPSAUsers(ctx context.Context, customerID int64, l usersync.Lookups) ([]usersync.PSAUser, error) {
	by := func(f usersync.Field) []string {
		if v := l.ByField[f]; v != nil {
			return v
		}
		return []string{}
	}
	rows, err := s.pool.Query(ctx, `SELECT `+psaUserColumns+` FROM psa_users WHERE customer_id = $1 AND (
			azure_object_id = ANY ($2::uuid[])
			OR azure_object_id IS NULL AND (lower(btrim(email)) = ANY ($3) OR lower(btrim(name)) = ANY ($4)
				OR lower(btrim(network_login)) = ANY ($5)))`,
		customerID, l.AzureIDs, by(usersync.FieldEmail), by(usersync.FieldName), by(usersync.FieldNetworkLogin))
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanPSAUser)
}

const psaUserColumns = `id, coalesce(azure_object_id::text, ''), site_id, active, name, email, network_login, phone, mobile,
	job_title, department, last_sign_in, custom_fields`

func scanPSAUser(row pgx.CollectableRow) (usersync.PSAUser, error) {
	var u usersync.PSAUser
	var last *time.Time
	err := row.Scan(&u.ID, &u.AzureObjectID, &u.SiteID, &u.Active, &u.Values.Name, &u.Values.Email, &u.Values.NetworkLogin,
		&u.Values.Phone, &u.Values.Mobile, &u.Values.JobTitle, &u.Values.Department, &last, &u.Values.Custom)
	if last != nil {
		u.Values.LastSignIn = *last
	}
	return u, err
}

// UserPage is one page of a round's decisions and where the round goes next.
type UserPage struct {
	From      string // the page read: the round's NextLink when it started
	Next      string // the page after it ("" on the last page)
	DeltaLink string // set on the last page: the round finishes with this page
	Outcomes  []usersync.Outcome
	// Spent is the time spent since the previous page was saved (its Write
	// is that page's commit), added to the round's.
	Spent Spent
	// Seen lists the Graph users of a full round's page, so its end can
	// inactivate the imported users Microsoft no longer lists.
	Seen []string
}

// Spent is where a users round's time went.
type Spent struct {
	Microsoft time.Duration `json:"microsoft"` // fetching pages and re-reads
	Decide    time.Duration `json:"decide"`    // decoding, filters, mappings, matching lookups
	Write     time.Duration `json:"write"`     // committing pages
}

// ErrRoundMoved means another attempt of the same round saved this page
// first; the caller starts again from the round's stored cursor.
var ErrRoundMoved = errors.New("users round moved on: another attempt of this round is running")

// SaveUserPage writes one page of decisions, its inbound log rows and the
// round's cursor in one transaction, so a crash fetches at most this page
// again and never writes a user twice. The last page also finishes the
// round: a full round inactivates the imported users it did not see, and
// the tenant keeps the delta link for its next round.
func (s *Store) SaveUserPage(ctx context.Context, r UserRound, p UserPage, selectProps []string) (UserRound, error) {
	counts := r.RoundCounts
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
		ids, err := writeUsers(ctx, tx, r, p.Outcomes)
		if err != nil {
			return err
		}
		logs := make([][]any, 0, len(p.Outcomes))
		for i, o := range p.Outcomes {
			counts.add(o)
			if o.Kind == usersync.Unchanged && r.Kind == RoundFull {
				continue // a full round logs what changed; a delta round every change processed
			}
			logs = append(logs, logRow(r, o, ids[i]))
		}
		counts.Pages++
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"inbound_log"}, logColumns, pgx.CopyFromRows(logs)); err != nil {
			return err
		}
		if r.Kind == RoundFull && len(p.Seen) > 0 {
			seen := make([][]any, len(p.Seen))
			for i, id := range p.Seen {
				seen[i] = []any{r.ID, id}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"user_round_seen"}, []string{"round_id", "azure_object_id"}, pgx.CopyFromRows(seen)); err != nil {
				return err
			}
		}
		if p.DeltaLink != "" {
			n, err := finishRound(ctx, tx, r, p.DeltaLink, selectProps)
			if err != nil {
				return err
			}
			counts.Inactivated += n
		}
		_, err = tx.Exec(ctx, `UPDATE user_rounds SET next_link = nullif($2, ''), pages = $3, users = $4, created = $5, updated = $6,
				moved = $7, inactivated = $8, reactivated = $9, excluded = $10, ambiguous = $11, invalid = $12,
				finished_at = CASE WHEN $13 THEN now() END, microsoft_time = microsoft_time + $14, decide_time = decide_time + $15,
				write_time = write_time + $16
			WHERE id = $1`, r.ID, p.Next, counts.Pages, counts.Users, counts.Created, counts.Updated, counts.Moved,
			counts.Inactivated, counts.Reactivated, counts.Excluded, counts.Ambiguous, counts.Invalid, p.DeltaLink != "",
			p.Spent.Microsoft, p.Spent.Decide, p.Spent.Write)
		return err
	})
	if err != nil {
		return r, err
	}
	r.RoundCounts, r.NextLink = counts, p.Next
	if p.DeltaLink != "" {
		now := time.Now()
		r.FinishedAt, r.DeltaLink = &now, p.DeltaLink
	}
	return r, nil
}

// writeUsers applies the decisions that write a row: updates of existing
// users and inserts of new ones, through a temporary table so a page costs a
// few statements, not one per user. It returns each outcome's PSA user id.
func writeUsers(ctx context.Context, tx pgx.Tx, r UserRound, outs []usersync.Outcome) ([]int64, error) {
	ids := make([]int64, len(outs))
	var rows [][]any
	for i, o := range outs {
		ids[i] = o.UserID
		if !o.Writes() {
			continue
		}
		custom, err := json.Marshal(o.Values.Custom)
		if err != nil {
			return nil, err
		}
		var last *time.Time
		if !o.Values.LastSignIn.IsZero() {
			last = &o.Values.LastSignIn
		}
		reason := ""
		if !o.Active {
			reason = o.Reason
		}
		var id *int64
		if o.UserID != 0 {
			id = &o.UserID
		}
		rows = append(rows, []any{i, id, o.SiteID, o.AzureObjectID, o.Values.Name, o.Values.Email, o.Values.NetworkLogin,
			o.Values.Phone, o.Values.Mobile, o.Values.JobTitle, o.Values.Department, last, o.Active, reason, string(custom)})
	}
	if len(rows) == 0 {
		return ids, nil
	}
	if _, err := tx.Exec(ctx, `CREATE TEMP TABLE IF NOT EXISTS page_users (pos int, id bigint, site_id bigint, azure_object_id uuid,
			name text, email text, network_login text, phone text, mobile text, job_title text, department text,
			last_sign_in timestamptz, active boolean, inactive_reason text, custom_fields jsonb) ON COMMIT DELETE ROWS`); err != nil {
		return nil, err
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"page_users"}, []string{"pos", "id", "site_id", "azure_object_id", "name", "email",
		"network_login", "phone", "mobile", "job_title", "department", "last_sign_in", "active", "inactive_reason", "custom_fields"},
		pgx.CopyFromRows(rows)); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(ctx, `UPDATE psa_users p SET site_id = t.site_id, azure_object_id = t.azure_object_id,
			azure_tenant_id = $2::uuid, name = t.name, email = t.email, network_login = t.network_login, phone = t.phone,
			mobile = t.mobile, job_title = t.job_title, department = t.department, last_sign_in = t.last_sign_in,
			active = t.active, inactive_reason = t.inactive_reason, custom_fields = t.custom_fields, updated_at = now()
		FROM page_users t WHERE t.id IS NOT NULL AND p.id = t.id AND p.customer_id = $1`, r.CustomerID, r.TenantID); err != nil {
		return nil, err
	}
	created, err := tx.Query(ctx, `INSERT INTO psa_users (customer_id, site_id, azure_object_id, azure_tenant_id, name, email,
			network_login, phone, mobile, job_title, department, last_sign_in, active, inactive_reason, custom_fields, source)
		SELECT $1, site_id, azure_object_id, $2::uuid, name, email, network_login, phone, mobile, job_title, department,
			last_sign_in, active, inactive_reason, custom_fields, 'azure' FROM page_users WHERE id IS NULL ORDER BY pos
		RETURNING id`, r.CustomerID, r.TenantID)
	if err != nil {
		return nil, err
	}
	newIDs, err := pgx.CollectRows(created, pgx.RowTo[int64])
	if err != nil {
		return nil, err
	}
	k := 0
	for i, o := range outs {
		if o.Writes() && o.UserID == 0 {
			ids[i] = newIDs[k]
			k++
		}
	}
	return ids, nil
}

var logColumns = []string{"round_id", "customer_id", "azure_object_id", "psa_user_id", "mapping", "match_rule", "result", "changes", "reason"}

func logRow(r UserRound, o usersync.Outcome, userID int64) []any {
	mapping := ""
	if o.Mapping > 0 {
		mapping = fmt.Sprintf("%d: %s", o.Mapping, o.MappingFilter)
	}
	changes, _ := json.Marshal(o.Changes)
	if o.Changes == nil {
		changes = []byte("[]")
	}
	var id *int64
	if userID != 0 {
		id = &userID
	}
	var azure *string
	if o.AzureObjectID != "" {
		azure = &o.AzureObjectID
	}
	return []any{r.ID, r.CustomerID, azure, id, mapping, o.MatchedBy, string(o.Kind), string(changes), o.Reason}
}

// finishRound ends a round: a full round inactivates the imported users it
// did not see (logging why), and the tenant keeps the round's delta link.
func finishRound(ctx context.Context, tx pgx.Tx, r UserRound, deltaLink string, selectProps []string) (int, error) {
	inactivated := 0
	if r.Kind == RoundFull {
		rows, err := tx.Query(ctx, `UPDATE psa_users p SET active = false, inactive_reason = $3, updated_at = now()
			WHERE p.customer_id = $1 AND p.azure_object_id IS NOT NULL AND p.active
				AND NOT EXISTS (SELECT 1 FROM user_round_seen s WHERE s.round_id = $2 AND s.azure_object_id = p.azure_object_id)
			RETURNING p.id, p.azure_object_id::text`, r.CustomerID, r.ID, absentReason)
		if err != nil {
			return 0, err
		}
		type gone struct {
			ID    int64
			Azure string
		}
		gones, err := pgx.CollectRows(rows, pgx.RowToStructByPos[gone])
		if err != nil {
			return 0, err
		}
		logs := make([][]any, len(gones))
		for i, g := range gones {
			logs[i] = []any{r.ID, r.CustomerID, g.Azure, g.ID, "", usersync.MatchedByAzureID, string(usersync.Inactivated),
				`[{"field":"active","old":"true","new":"false"}]`, absentReason}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"inbound_log"}, logColumns, pgx.CopyFromRows(logs)); err != nil {
			return 0, err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM user_round_seen WHERE round_id = $1`, r.ID); err != nil {
			return 0, err
		}
		inactivated = len(gones)
	}
	_, err := tx.Exec(ctx, `UPDATE customers SET delta_link = $2, delta_link_at = now(), delta_select = $3 WHERE id = $1`,
		r.CustomerID, deltaLink, strings.Join(selectProps, ","))
	return inactivated, err
}

const absentReason = "no longer in Microsoft: absent after a full round"

// SaveSignIns writes one page of a sign-in pass's decisions (last sign-in
// dates of users already in the PSA) with their log rows in one
// transaction; the last page records the pass as done. A pass cut short
// leaves its saved pages, which the next pass finds unchanged.
func (s *Store) SaveSignIns(ctx context.Context, r UserRound, outs []usersync.Outcome, last bool) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ids, err := writeUsers(ctx, tx, r, outs)
		if err != nil {
			return err
		}
		var logs [][]any
		for i, o := range outs {
			if o.Writes() {
				logs = append(logs, logRow(r, o, ids[i]))
			}
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"inbound_log"}, logColumns, pgx.CopyFromRows(logs)); err != nil {
			return err
		}
		if last {
			_, err = tx.Exec(ctx, `UPDATE customers SET sign_ins_at = now() WHERE id = $1`, r.CustomerID)
		}
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

// PSAUser is a PSA user as the CLI lists it.
type PSAUser struct {
	ID             int64      `json:"id"`
	CustomerID     int64      `json:"customerId"`
	Site           string     `json:"site"`
	AzureObjectID  string     `json:"azureObjectId,omitempty"`
	Name           string     `json:"name"`
	Email          string     `json:"email"`
	NetworkLogin   string     `json:"networkLogin"`
	Phone          string     `json:"phone"`
	Mobile         string     `json:"mobile"`
	JobTitle       string     `json:"jobTitle"`
	Department     string     `json:"department"`
	LastSignIn     *time.Time `json:"lastSignIn"`
	Active         bool       `json:"active"`
	InactiveReason string     `json:"inactiveReason,omitempty"`
	Source         string     `json:"source"`
}

// ListUsers returns a customer's PSA users by name.
func (s *Store) ListUsers(ctx context.Context, customerID int64) ([]PSAUser, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id, u.customer_id, s.name, coalesce(u.azure_object_id::text, ''), u.name, u.email,
			u.network_login, u.phone, u.mobile, u.job_title, u.department, u.last_sign_in, u.active, u.inactive_reason, u.source
		FROM psa_users u JOIN sites s ON s.id = u.site_id WHERE u.customer_id = $1 ORDER BY lower(u.name), u.id`, customerID)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[PSAUser])
}

// AddUser creates a PSA user by hand, in the customer's default site (no
// Azure object id: the next round matches him by the partner's rules).
func (s *Store) AddUser(ctx context.Context, customerID int64, name, email, login string) (int64, error) {
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO psa_users (customer_id, site_id, name, email, network_login)
		SELECT $1, id, $2, $3, $4 FROM sites WHERE customer_id = $1 AND is_default RETURNING id`, customerID, name, email, login).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, fmt.Errorf("customer %d: %w (see `cspsync customers list`)", customerID, ErrNotFound)
	}
	return id, err
}

// LogEntry is one row of the inbound log.
type LogEntry struct {
	At            time.Time         `json:"at"`
	RoundID       int64             `json:"round"`
	AzureObjectID string            `json:"azureObjectId,omitempty"`
	PSAUserID     *int64            `json:"psaUserId,omitempty"`
	Mapping       string            `json:"mapping,omitempty"`
	MatchRule     string            `json:"matchRule,omitempty"`
	Result        string            `json:"result"`
	Changes       []usersync.Change `json:"changes,omitempty"`
	Reason        string            `json:"reason,omitempty"`
}

// InboundLog returns a customer's newest log rows (limit), optionally those
// of one user: an Azure object id, a PSA user id or an email.
func (s *Store) InboundLog(ctx context.Context, customerID int64, user string, limit int) ([]LogEntry, error) {
	rows, err := s.pool.Query(ctx, `SELECT l.at, l.round_id, coalesce(l.azure_object_id::text, ''), l.psa_user_id, l.mapping,
			l.match_rule, l.result, l.changes, l.reason
		FROM inbound_log l LEFT JOIN psa_users u ON u.id = l.psa_user_id
		WHERE l.customer_id = $1 AND ($2 = '' OR l.azure_object_id::text = lower($2) OR l.psa_user_id::text = $2
			OR lower(u.email) = lower($2))
		ORDER BY l.id DESC LIMIT $3`, customerID, user, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[LogEntry])
}

// PruneInboundLog deletes the customer's log rows and finished rounds older
// than its partner's retention (never its newest round), and returns how
// many log rows went.
func (s *Store) PruneInboundLog(ctx context.Context, customerID int64) (int, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM inbound_log l USING customers c JOIN partners p ON p.id = c.partner_id
		WHERE c.id = $1 AND l.customer_id = c.id AND l.at < now() - p.inbound_log_retention`, customerID)
	if err != nil {
		return 0, err
	}
	_, err = s.pool.Exec(ctx, `DELETE FROM user_rounds r USING customers c JOIN partners p ON p.id = c.partner_id
		WHERE c.id = $1 AND r.customer_id = c.id AND r.finished_at < now() - p.inbound_log_retention
			AND r.id < (SELECT max(id) FROM user_rounds WHERE customer_id = $1)`, customerID)
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
