package usersync

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBrake(t *testing.T) {
	for _, c := range []struct {
		name                       string
		active, inactivated, share int
		confirmed, stops           bool
	}{
		{"nothing inactivated", 100, 0, 20, false, false},
		{"at the share", 100, 20, 20, false, false},
		{"one above the share", 100, 21, 20, false, true},
		{"just above the share, not rounded away", 1000, 201, 20, false, true},
		{"most users of a customer", 40, 36, 20, false, true},
		{"every user", 40, 40, 20, false, true},
		{"confirmed", 40, 36, 20, true, false},
		{"brake off", 40, 40, 100, false, false},
		{"small customer under the floor", 4, 4, 20, false, false},
		{"floor reached", 10, BrakeFloor, 20, false, false},
		{"one above the floor", 10, BrakeFloor + 1, 20, false, true},
		{"no active user left to count", 0, BrakeFloor + 1, 20, false, true},
		{"smallest share", 1000, 11, 1, false, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := Brake(c.active, c.inactivated, c.share, c.confirmed)
			if !c.stops {
				assert.NoError(t, err)
				return
			}
			var be *BrakeError
			require.True(t, errors.As(err, &be), "%v", err)
			assert.Equal(t, BrakeError{Active: c.active, Inactivated: c.inactivated, MaxShare: c.share}, *be)
		})
	}
}

func TestBrakeErrorSaysWhatAndHowMuch(t *testing.T) {
	err := Brake(40, 36, 20, false)
	assert.EqualError(t, err, "this users round would make 36 of the customer's 40 active users inactive (90 %), more than the 20 % the safety brake allows at once; the page that crossed it was not written")
	assert.Contains(t, Brake(1000, 201, 20, false).Error(), "(21 %)", "a share just above the setting reads above it")
}

func TestValidateMaxInactivateShare(t *testing.T) {
	for _, ok := range []int{1, 20, 100} {
		assert.NoError(t, ValidateMaxInactivateShare(ok))
	}
	for _, bad := range []int{-5, 0, 101} {
		assert.ErrorContains(t, ValidateMaxInactivateShare(bad), "from 1 to 100")
	}
}
