package usersync

import (
	"encoding/json"
	"fmt"
	"time"
)

// UnmarshalJSON reads Graph's signInActivity. Graph writes a date it does not have (a user
// who never signed in, a successful sign-in before December 2023, when it began recording
// them) as "0001-01-01T00:00:00Z" with an empty request id, and Microsoft's documented
// answers also show "" and null: each is no date, the zero time.
func (a *SignInActivity) UnmarshalJSON(b []byte) error {
	var raw struct {
		Last           *string `json:"lastSignInDateTime"`
		NonInteractive *string `json:"lastNonInteractiveSignInDateTime"`
		Successful     *string `json:"lastSuccessfulSignInDateTime"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return fmt.Errorf("signInActivity: %w", err)
	}
	var err error
	for _, f := range []struct {
		name string
		in   *string
		out  *time.Time
	}{
		{"lastSignInDateTime", raw.Last, &a.LastSignInDateTime},
		{"lastNonInteractiveSignInDateTime", raw.NonInteractive, &a.LastNonInteractiveSignInDateTime},
		{"lastSuccessfulSignInDateTime", raw.Successful, &a.LastSuccessfulSignInDateTime},
	} {
		if *f.out, err = graphDate(f.in); err != nil {
			return fmt.Errorf("signInActivity.%s: %w", f.name, err)
		}
	}
	return nil
}

// graphDate reads a Graph DateTimeOffset that may be missing: null, "" and the year-1
// sentinel are the zero time.
func graphDate(s *string) (time.Time, error) {
	if s == nil || *s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, *s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an RFC 3339 date", *s)
	}
	if noDate(t) {
		return time.Time{}, nil
	}
	return t, nil
}

// noDate reports the dates that stand for none: Graph's "0001-01-01T00:00:00Z" (Go's zero
// time) and the Unix epoch, as which CEL shows a zero time.
func noDate(t time.Time) bool { return t.Year() <= 1 || t.Equal(time.Unix(0, 0)) }
