package store_test

import (
	"context"
	"regexp"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/internal/usersync"
)

// TestCheckListsEqualTheDomain proves each CHECK list of the migrated schema
// holds exactly the values internal/domain declares, so the database and the
// code cannot disagree on a state.
func TestCheckListsEqualTheDomain(t *testing.T) {
	st, _, _ := testenv.Store(t)
	cases := []struct {
		table, column string
		want          []string
	}{
		{"partners", "auth_state", strs(domain.AuthStates())},
		{"partners", "default_relationship", strs(domain.Relationships())},
		{"customers", "relationship", strs(domain.Relationships())},
		{"customers", "consent_state", strs(domain.Consents())},
		{"customers", "relationship_source", strs(domain.RelationshipSources())},
		{"customers", "sync_state", strs(domain.TenantStates())},
		{"partners", "licence_source", strs(domain.LicenceSources())},
		{"inbound_log", "result", strs(usersync.Kinds())},
		{"user_rounds", "kind", strs(domain.RoundKinds())},
	}
	for _, c := range cases {
		t.Run(c.table+"."+c.column, func(t *testing.T) {
			assert.ElementsMatch(t, c.want, checkValues(t, st.Pool(), c.table, c.column))
		})
	}
}

var quoted = regexp.MustCompile(`'([^']*)'`)

// checkValues reads the literals of the one CHECK constraint on a column.
func checkValues(t *testing.T, pool *pgxpool.Pool, table, column string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), `
		SELECT pg_get_constraintdef(c.oid) FROM pg_constraint c
		JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
		WHERE c.contype = 'c' AND c.conrelid = $1::regclass AND a.attname = $2`, table, column)
	require.NoError(t, err)
	defs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, defs, 1, "one CHECK constraint on %s.%s", table, column)
	var vals []string
	for _, m := range quoted.FindAllStringSubmatch(defs[0], -1) {
		vals = append(vals, m[1])
	}
	return vals
}

func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}
