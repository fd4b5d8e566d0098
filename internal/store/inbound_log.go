package store

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/cspsync/cspsync/internal/domain"
)

// The inbound log: one row per user change a users round processed, kept for
// the partner's retention.

// LogRow is an inbound log row as a round writes it.
type LogRow struct {
	AzureObjectID string
	PSAUserID     int64 // 0: none (or, beside a row to write, that row's)
	Mapping       string
	MatchRule     string
	Result        string
	Changes       []domain.Change
	Reason        string
}

var logColumns = []string{"round_id", "customer_id", "azure_object_id", "psa_user_id", "mapping", "match_rule", "result", "changes", "reason"}

// row is l as a row of logColumns, for the PSA user userID.
func (l *LogRow) row(r UserRound, userID int64) []any {
	changes, _ := json.Marshal(l.Changes)
	if l.Changes == nil {
		changes = []byte("[]")
	}
	var id *int64
	if userID != 0 {
		id = &userID
	}
	var azure any // NULL when none
	if l.AzureObjectID != "" {
		azure = uuidArg(l.AzureObjectID)
	}
	return []any{r.ID, r.CustomerID, azure, id, l.Mapping, l.MatchRule, l.Result, string(changes), l.Reason}
}

// LogEntry is one row of the inbound log.
type LogEntry struct {
	At            time.Time       `json:"at"`
	RoundID       int64           `json:"round"`
	AzureObjectID string          `json:"azureObjectId,omitempty"`
	PSAUserID     *int64          `json:"psaUserId,omitempty"`
	Mapping       string          `json:"mapping,omitempty"`
	MatchRule     string          `json:"matchRule,omitempty"`
	Result        string          `json:"result"`
	Changes       []domain.Change `json:"changes,omitempty"`
	Reason        string          `json:"reason,omitempty"`
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
	// Most rounds have nothing to prune, and finding that out by time visited every heap page
	// of the customer's log (the index on at is a BRIN over all customers' interleaved rows:
	// 55 ms a round at 3,500 rows). A customer's rounds run one at a time, so his oldest row
	// by id is his oldest by time: one index probe tells whether anything is due (at worst,
	// should another writer's row interleave, a row waits for the next round).
	var due bool
	if err := s.pool.QueryRow(ctx, `SELECT coalesce((SELECT l.at < now() - p.inbound_log_retention
			FROM inbound_log l, customers c JOIN partners p ON p.id = c.partner_id
			WHERE c.id = $1 AND l.customer_id = c.id ORDER BY l.id LIMIT 1), false)`, customerID).Scan(&due); err != nil {
		return 0, err
	}
	var tag pgconn.CommandTag
	if due {
		var err error
		if tag, err = s.pool.Exec(ctx, `DELETE FROM inbound_log l USING customers c JOIN partners p ON p.id = c.partner_id
			WHERE c.id = $1 AND l.customer_id = c.id AND l.at < now() - p.inbound_log_retention`, customerID); err != nil {
			return 0, err
		}
	}
	_, err := s.pool.Exec(ctx, `DELETE FROM user_rounds r USING customers c JOIN partners p ON p.id = c.partner_id
		WHERE c.id = $1 AND r.customer_id = c.id AND r.finished_at < now() - p.inbound_log_retention
			AND r.id < (SELECT max(id) FROM user_rounds WHERE customer_id = $1)`, customerID)
	return int(tag.RowsAffected()), err
}
