package store

import (
	"encoding/hex"

	"github.com/jackc/pgx/v5/pgtype"
)

// pgx has no binary encoding of a Go string as a uuid: it tries one, builds
// an error that formats the whole value (a page's 200 ids for an array) and
// only then sends text, for every uuid parameter and COPY value. A round's
// pages spent about 10 % of the worker's CPU on it (perf during
// `make bench BENCH=users-50x2000`). uuidArg and uuidsArg send the ids in
// binary instead; an id not in the canonical form goes as before, so that
// PostgreSQL judges it (a refusal is a DataError the round sets aside).

// uuidArg is s as a uuid parameter or COPY value.
func uuidArg(s string) any {
	if u, ok := parseUUID(s); ok {
		return u
	}
	return s
}

// uuidsArg is ss as a uuid[] parameter (nil stays NULL).
func uuidsArg(ss []string) any {
	if ss == nil {
		return ss
	}
	out := make([]pgtype.UUID, len(ss))
	for i, s := range ss {
		u, ok := parseUUID(s)
		if !ok {
			return ss
		}
		out[i] = u
	}
	return out
}

// parseUUID reads the canonical form, 8-4-4-4-12 hex digits of either case,
// which PostgreSQL always accepts.
func parseUUID(s string) (pgtype.UUID, bool) {
	var u pgtype.UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	var b [32]byte
	copy(b[0:8], s[0:8])
	copy(b[8:12], s[9:13])
	copy(b[12:16], s[14:18])
	copy(b[16:20], s[19:23])
	copy(b[20:32], s[24:36])
	if _, err := hex.Decode(u.Bytes[:], b[:]); err != nil {
		return pgtype.UUID{}, false
	}
	u.Valid = true
	return u, true
}
