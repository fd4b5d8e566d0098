package usersync

import "time"

// SignInsEvery is how often a tenant's last sign-in dates are read: Graph lists them only page
// by page over every user, so not every round.
const SignInsEvery = 24 * time.Hour

// SignInsDue decides whether a users round reads the tenant's last sign-in dates now. last is
// when the last pass ended, answered or refused (nil: never); refused is when Graph last refused
// a pass for want of Entra ID P1/P2, while that refusal stands (nil: it does not); premiumSince is
// when the tenant's newest premium licence was first seen (nil: it holds none we know of). A
// pass is due once a day; a refused one again as soon as the tenant gains a premium licence, and
// otherwise a day later, so a tenant without premium is asked once a day, never every round.
func SignInsDue(now time.Time, last, refused, premiumSince *time.Time) bool {
	switch {
	case last == nil:
		return true
	case refused != nil && premiumSince != nil && premiumSince.After(*refused):
		return true
	}
	return now.Sub(*last) >= SignInsEvery
}
