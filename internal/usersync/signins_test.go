package usersync

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSignInsDue(t *testing.T) {
	now := time.Date(2025, 6, 2, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { t := now.Add(-d); return &t }
	for _, tc := range []struct {
		name                   string
		last, refused, premium *time.Time
		want                   bool
	}{
		{"never read", nil, nil, nil, true},
		{"read an hour ago", at(time.Hour), nil, nil, false},
		{"read a day ago", at(SignInsEvery), nil, nil, true},
		{"refused an hour ago, no premium licence", at(time.Hour), at(time.Hour), nil, false},
		{"refused an hour ago though a premium licence was held before", at(time.Hour), at(time.Hour), at(2 * time.Hour), false},
		{"refused an hour ago, a premium licence since", at(time.Hour), at(time.Hour), at(time.Minute), true},
		{"refused a day ago", at(SignInsEvery), at(SignInsEvery), nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, SignInsDue(now, tc.last, tc.refused, tc.premium))
		})
	}
}
