package store

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// GroupState is what the last groups/delta read of a customer's service groups left.
type GroupState struct {
	Name   string   // the service group name it was read for ("" none)
	Link   string   // its deltaLink ("" : read from the start next time)
	Groups []string // the tenant's groups of that name, lower-case ids, sorted
}

// ServiceGroupState reads a customer's groups/delta state.
func (s *Store) ServiceGroupState(ctx context.Context, customerID int64) (GroupState, error) {
	var st GroupState
	err := s.pool.QueryRow(ctx, `SELECT coalesce(c.group_delta_group, ''), coalesce(c.group_delta_link, ''),
			coalesce((SELECT array_agg(g.group_id::text ORDER BY g.group_id::text) FROM service_groups g WHERE g.customer_id = c.id), '{}')
		FROM customers c WHERE c.id = $1`, customerID).Scan(&st.Name, &st.Link, &st.Groups)
	if err == pgx.ErrNoRows {
		err = fmt.Errorf("customer %d: %w", customerID, ErrNotFound)
	}
	return st, err
}

// ServiceGroupsOf reads the service groups each of the given users is a member of, as stored
// (azureIDs nil: every member), by lower-case Azure object id.
func (s *Store) ServiceGroupsOf(ctx context.Context, customerID int64, azureIDs []string) (map[string][]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT azure_object_id::text, group_id::text FROM service_group_members
		WHERE customer_id = $1 AND ($2::uuid[] IS NULL OR azure_object_id = ANY ($2::uuid[]))`, customerID, azureIDs)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	var u, g string
	_, err = pgx.ForEachRow(rows, []any{&u, &g}, func() error {
		out[u] = append(out[u], g)
		return nil
	})
	return out, err
}

// ServiceCandidate is a PSA user whose service state a group change may change.
type ServiceCandidate struct {
	ID            int64
	AzureObjectID string // lower-case
	Service       bool
	Reason        string
}

// ServiceCandidates reads the customer's PSA users with the given Azure object ids (nil: all
// users Microsoft knows, i.e. with an object id).
func (s *Store) ServiceCandidates(ctx context.Context, customerID int64, azureIDs []string) ([]ServiceCandidate, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, azure_object_id::text, service_user, service_reason FROM psa_users
		WHERE customer_id = $1 AND azure_object_id IS NOT NULL AND ($2::uuid[] IS NULL OR azure_object_id = ANY ($2::uuid[]))
		ORDER BY id`, customerID, azureIDs)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[ServiceCandidate])
}

// GroupRead is one groups/delta read of a customer's service groups and what it decided.
type GroupRead struct {
	Name   string   // the service group name ("" : the rule was removed)
	Groups []string // the tenant's groups of that name
	Link   string   // the round's deltaLink
	// Full: the read started from nothing, so the stored members are replaced by Members.
	Full    bool
	Members []GroupMember // members now (added), or removed
	Flags   []UserFlag
	Log     []LogRow // one per changed user, in the users round's log
}

// GroupMember is a membership the read reported.
type GroupMember struct {
	Group, User string
	Removed     bool
}

// UserFlag is a PSA user's new service state.
type UserFlag struct {
	PSAUserID int64
	Service   bool
	Reason    string
}

// SaveGroupRead stores a groups/delta read with the service states it changed and their log
// rows in one transaction, in the users round r (whose in-memory counts the caller raises: the
// round's next page writes them): a crash before it commits reads the same
// changes again, one after it finds them stored and the link moved on.
func (s *Store) SaveGroupRead(ctx context.Context, r UserRound, g GroupRead) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		// No wait for the WAL flush, as a users page: a PostgreSQL crash that loses this
		// commit loses the later ones too, and the next round reads again from the link
		// stored before it.
		batch.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
		if g.Full {
			batch.Queue(`DELETE FROM service_group_members WHERE customer_id = $1`, r.CustomerID)
		}
		var add, remove [][]any
		for _, m := range g.Members {
			if m.Removed {
				remove = append(remove, []any{m.Group, m.User})
			} else {
				add = append(add, []any{m.Group, m.User})
			}
		}
		if len(remove) > 0 {
			gs, us := columns(remove)
			batch.Queue(`DELETE FROM service_group_members m USING unnest($2::uuid[], $3::uuid[]) AS r(g, u)
				WHERE m.customer_id = $1 AND m.group_id = r.g AND m.azure_object_id = r.u`, r.CustomerID, uuidsArg(gs), uuidsArg(us))
		}
		if len(add) > 0 && !g.Full {
			gs, us := columns(add)
			batch.Queue(`INSERT INTO service_group_members (customer_id, group_id, azure_object_id)
				SELECT $1, g, u FROM unnest($2::uuid[], $3::uuid[]) AS r(g, u) ON CONFLICT DO NOTHING`, r.CustomerID, uuidsArg(gs), uuidsArg(us))
		}
		// Members of a group that no longer carries the name do not count.
		batch.Queue(`DELETE FROM service_group_members WHERE customer_id = $1 AND NOT (group_id = ANY ($2::uuid[]))`, r.CustomerID, nonNil(g.Groups))
		batch.Queue(`DELETE FROM service_groups WHERE customer_id = $1`, r.CustomerID)
		batch.Queue(`INSERT INTO service_groups (customer_id, group_id, name) SELECT $1, unnest($2::uuid[]), $3`, r.CustomerID, nonNil(g.Groups), g.Name)
		batch.Queue(`UPDATE customers SET group_delta_link = nullif($2, ''), group_delta_group = nullif($3, ''), group_delta_at = now() WHERE id = $1`,
			r.CustomerID, g.Link, g.Name)
		if len(g.Flags) > 0 {
			ids, service, reasons := make([]int64, len(g.Flags)), make([]bool, len(g.Flags)), make([]string, len(g.Flags))
			for i, f := range g.Flags {
				ids[i], service[i], reasons[i] = f.PSAUserID, f.Service, f.Reason
			}
			batch.Queue(`UPDATE psa_users u SET service_user = t.s, service_reason = t.r, updated_at = now()
				FROM unnest($2::bigint[], $3::boolean[], $4::text[]) AS t(id, s, r) WHERE u.customer_id = $1 AND u.id = t.id`,
				r.CustomerID, ids, service, reasons)
		}
		if err := tx.SendBatch(ctx, batch).Close(); err != nil {
			return err
		}
		if g.Full && len(add) > 0 {
			// The customer's members were just deleted: a read in full copies them in, once
			// each (a large group's members come over several pages), for the groups that
			// carry the name.
			rows := make([][]any, 0, len(add))
			seen := make(map[[2]string]bool, len(add))
			gs, us := columns(add)
			for i := range gs {
				if k := [2]string{gs[i], us[i]}; !seen[k] && slices.Contains(g.Groups, gs[i]) {
					seen[k] = true
					rows = append(rows, []any{r.CustomerID, uuidArg(gs[i]), uuidArg(us[i])})
				}
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"service_group_members"}, []string{"customer_id", "group_id", "azure_object_id"},
				pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		}
		if len(g.Log) > 0 {
			rows := make([][]any, len(g.Log))
			for i := range g.Log {
				rows[i] = g.Log[i].row(r, g.Log[i].PSAUserID)
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{"inbound_log"}, logColumns, pgx.CopyFromRows(rows)); err != nil {
				return err
			}
		}
		return nil
	})
}

// ServiceGroupMissing records that the tenant has no group of the service group's name: the
// groups and members stored for an earlier read no longer count and the next read starts
// from nothing. Users keep their service state (the rules see no group found).
func (s *Store) ServiceGroupMissing(ctx context.Context, customerID int64, name string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		batch := &pgx.Batch{}
		batch.Queue(`DELETE FROM service_group_members WHERE customer_id = $1`, customerID)
		batch.Queue(`DELETE FROM service_groups WHERE customer_id = $1`, customerID)
		batch.Queue(`UPDATE customers SET group_delta_link = NULL, group_delta_group = $2, group_delta_at = now() WHERE id = $1`, customerID, name)
		return tx.SendBatch(ctx, batch).Close()
	})
}

func columns(pairs [][]any) (a, b []string) {
	for _, p := range pairs {
		a = append(a, strings.ToLower(p[0].(string)))
		b = append(b, strings.ToLower(p[1].(string)))
	}
	return a, b
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return slices.Clone(s)
}
