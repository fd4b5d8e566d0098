package licensing

// Seats reconciles one licence: what the customer pays for against what it uses.
type Seats struct {
	Paid      int `json:"paid"`      // active units
	Assigned  int `json:"assigned"`  // consumed units
	Unused    int `json:"unused"`    // paid for, not assigned
	Over      int `json:"over"`      // assigned beyond what is paid for
	Suspended int `json:"suspended"` // units of suspended subscriptions
	Warning   int `json:"warning"`   // units in their grace period
}

// SeatsOf reconciles a licence.
func SeatsOf(l Licence) Seats {
	s := Seats{Paid: l.Active, Assigned: l.Consumed, Suspended: l.Suspended, Warning: l.Warning}
	if d := l.Active - l.Consumed; d > 0 {
		s.Unused = d
	} else {
		s.Over = -d
	}
	return s
}

// Add sums seats, for totals.
func (s *Seats) Add(o Seats) {
	s.Paid += o.Paid
	s.Assigned += o.Assigned
	s.Unused += o.Unused
	s.Over += o.Over
	s.Suspended += o.Suspended
	s.Warning += o.Warning
}

// NeedsAttention is true when seats are suspended, about to lapse, or
// assigned beyond what is paid for.
func (s Seats) NeedsAttention() bool { return s.Suspended > 0 || s.Warning > 0 || s.Over > 0 }
