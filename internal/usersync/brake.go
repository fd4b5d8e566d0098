package usersync

import "fmt"

// DefaultMaxInactivateShare is the safety brake's share (percent) until a
// partner sets its own: a round may make at most a fifth of a customer's
// active users inactive at once.
const DefaultMaxInactivateShare = 20

// BrakeFloor is how many users a round may always make inactive, whatever
// the share: a customer of a few people loses one now and then, and a
// brake that trips on each would teach operators to confirm without
// reading.
const BrakeFloor = 5

// BrakeError is the safety brake stopping a round: it would make more of
// the customer's active users inactive than the share allows.
type BrakeError struct {
	Active      int // the customer's active users from Microsoft before the round made any inactive
	Inactivated int // how many the round would have made inactive, this page included
	MaxShare    int // percent
}

func (e *BrakeError) Error() string {
	return fmt.Sprintf("this users round would make %d of the customer's %d active users inactive (%d %%), more than the %d %% the safety brake allows at once; "+
		"the page that crossed it was not written", e.Inactivated, e.Active, share(e.Inactivated, e.Active), e.MaxShare)
}

// Brake decides whether a round may go on making users inactive. active is
// the customer's active users from Microsoft before the round made any
// inactive; inactivated counts those the round has made and would make
// inactive so far (every page before, and the one at hand, which for a
// full round's last page includes the absent). maxShare is the partner's
// setting in percent (100: no brake); confirmed says an operator confirmed
// the inactivations for this round. The round may always make BrakeFloor
// users inactive.
func Brake(active, inactivated, maxShare int, confirmed bool) error {
	if confirmed || maxShare >= 100 || inactivated <= BrakeFloor {
		return nil
	}
	// inactivated/active > maxShare/100, in integers: no rounding lets a
	// share just above the setting through.
	if inactivated*100 > maxShare*active {
		return &BrakeError{Active: active, Inactivated: inactivated, MaxShare: maxShare}
	}
	return nil
}

// ValidateMaxInactivateShare checks the brake's setting as it is saved.
func ValidateMaxInactivateShare(pct int) error {
	if pct < 1 || pct > 100 {
		return fmt.Errorf("maximum share of users made inactive at once is %d %%: give a percentage from 1 to 100 (100 turns the safety brake off)", pct)
	}
	return nil
}

// share is part of whole in whole percent, rounded up so that a share just
// above the setting never reads as equal to it.
func share(part, whole int) int {
	if whole <= 0 {
		return 100
	}
	return (part*100 + whole - 1) / whole
}
