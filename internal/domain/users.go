package domain

import "time"

// PSAUser is a PSA user: the row the store reads and writes, and what a
// users round decides on (usersync reads it and hands back the row after its
// decision).
type PSAUser struct {
	ID         int64  `json:"id"`         // 0 for a user not written yet
	CustomerID int64  `json:"customerId"` // set when read for a list
	SiteID     int64  `json:"-"`
	Site       string `json:"site"` // the site's name, set when read for a list
	// AzureObjectID is "" for a user created by hand and not matched yet.
	AzureObjectID string `json:"azureObjectId,omitempty"`
	UserValues
	Active bool `json:"active"`
	// InactiveReason says why an inactive user is inactive; it stays until
	// his state changes.
	InactiveReason string `json:"inactiveReason,omitempty"`
	Source         string `json:"source"` // UserSourceManual or UserSourceAzure, set when read
}

// Where a PSA user came from (psa_users.source).
const (
	UserSourceManual = "manual" // created by hand (cspsync users add)
	UserSourceAzure  = "azure"  // created by a users round
)

// UserValues are a PSA user's mappable fields.
type UserValues struct {
	Name         string            `json:"name"`
	Email        string            `json:"email"`
	NetworkLogin string            `json:"networkLogin"`
	Phone        string            `json:"phone"`
	Mobile       string            `json:"mobile"`
	JobTitle     string            `json:"jobTitle"`
	Department   string            `json:"department"`
	LastSignIn   time.Time         `json:"lastSignIn,omitzero"` // zero: unknown
	Custom       map[string]string `json:"custom,omitempty"`
}

// Change is one field a users round changed, as text (the site as its id,
// active as true or false), as the inbound log keeps it.
type Change struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// RoundKind is what a users round reads: every user, or the changes since
// the tenant's delta link.
type RoundKind string

const (
	RoundFull  RoundKind = "full"
	RoundDelta RoundKind = "delta"
)

// RoundKinds lists every round kind.
func RoundKinds() []RoundKind { return []RoundKind{RoundFull, RoundDelta} }

// RoundCounts are what a users round did.
type RoundCounts struct {
	Pages       int `json:"pages"`
	Users       int `json:"users"`
	Created     int `json:"created"`
	Updated     int `json:"updated"`
	Moved       int `json:"moved"`
	Inactivated int `json:"inactivated"`
	Reactivated int `json:"reactivated"`
	Excluded    int `json:"excluded"`
	Ambiguous   int `json:"ambiguous"`
	Invalid     int `json:"invalid"`
	// MappingErrors counts users a field mapping failed for (their field was left as it was),
	// whatever else was decided about them.
	MappingErrors int `json:"mapping_errors"`
}

// Add sums counts, for totals.
func (c *RoundCounts) Add(o RoundCounts) {
	c.Pages += o.Pages
	c.Users += o.Users
	c.Created += o.Created
	c.Updated += o.Updated
	c.Moved += o.Moved
	c.Inactivated += o.Inactivated
	c.Reactivated += o.Reactivated
	c.Excluded += o.Excluded
	c.Ambiguous += o.Ambiguous
	c.Invalid += o.Invalid
	c.MappingErrors += o.MappingErrors
}
