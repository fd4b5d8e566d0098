package usersync

import (
	"fmt"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/text"
)

// Refused turns a decision the store could not write (why: PostgreSQL's refusal) into an
// invalid one, so one user no value can store never holds back the page: nothing is written
// for him, counts moves him from his kind (was) to invalid, and the returned reason is his
// inbound log entry's.
func Refused(counts *domain.RoundCounts, was Kind, why string) string {
	counts.Add(countKind(was, -1))
	counts.Add(countKind(Invalid, 1))
	return text.Clean(fmt.Sprintf("the database refused to store this user (%s): nothing was written for him and the round went on; "+
		"correct the value in Microsoft or map the field to one the PSA accepts", why), text.MaxMessage)
}

// countKind is n users of kind k, as Count tallies them.
func countKind(k Kind, n int) domain.RoundCounts {
	var c domain.RoundCounts
	switch k {
	case Created:
		c.Created = n
	case Updated:
		c.Updated = n
	case Moved:
		c.Moved = n
	case Inactivated:
		c.Inactivated = n
	case Reactivated:
		c.Reactivated = n
	case Excluded:
		c.Excluded = n
	case Ambiguous:
		c.Ambiguous = n
	case Invalid:
		c.Invalid = n
	}
	return c
}
