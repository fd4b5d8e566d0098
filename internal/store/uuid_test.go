package store

import (
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/require"
)

func TestUUIDArgsAreBinaryOnlyInTheCanonicalForm(t *testing.T) {
	m := pgtype.NewMap()
	canonical := "00000063-0000-4000-8000-0000000000aB"
	u, ok := uuidArg(canonical).(pgtype.UUID)
	require.True(t, ok)
	require.Equal(t, "00000063-0000-4000-8000-0000000000ab", u.String())
	_, err := m.Encode(pgtype.UUIDOID, pgtype.BinaryFormatCode, uuidArg(canonical), nil)
	require.NoError(t, err)
	_, err = m.Encode(pgtype.UUIDArrayOID, pgtype.BinaryFormatCode, uuidsArg([]string{canonical, canonical}), nil)
	require.NoError(t, err)

	// Anything else is left for PostgreSQL to accept or refuse.
	for _, odd := range []string{"", "not-a-guid", "00000063x0000-4000-8000-0000000000ab", "0000006300004000800000000000000ab",
		"{00000063-0000-4000-8000-0000000000ab}", "00000063-0000-4000-8000-0000000000ag"} {
		require.Equal(t, odd, uuidArg(odd), odd)
		require.Equal(t, []string{canonical, odd}, uuidsArg([]string{canonical, odd}), odd)
	}
	require.Nil(t, uuidsArg(nil))
	require.Equal(t, []pgtype.UUID{}, uuidsArg([]string{}))
}
