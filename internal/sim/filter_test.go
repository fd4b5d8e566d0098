package sim

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestUserFilterNamesItsIDs: a filter made of one id term hands its ids to the lookup, which
// then reads those users instead of scanning the tenant; any combination leaves it to the scan.
func TestUserFilterNamesItsIDs(t *testing.T) {
	for filter, want := range map[string][]string{
		"id eq 'a'":                                  {"a"},
		"id in ('a', 'b')":                           {"a", "b"},
		"(id in ('a','b'))":                          {"a", "b"},
		"id eq 'a' or id eq 'b'":                     nil,
		"id eq 'a' and accountEnabled eq true":       nil,
		"not (id eq 'a')":                            nil,
		"userPrincipalName eq 'a@contoso.example'":   nil,
		"startswith(displayName, 'A') and id eq 'a'": nil,
	} {
		_, ids, ok := (&Server{}).parseUserFilter(httptest.NewRecorder(), filter, true)
		require.True(t, ok, filter)
		assert.Equal(t, want, ids, filter)
	}
}
