package domain

// Credentials are what one partner's two app registrations need to get
// tokens: read once by the caller (an activity, the application layer) and
// passed to every Microsoft call, so a call costs no database round trip
// beyond the token cache's own load and save. They hold secrets: never a
// workflow input, result or log field.
type Credentials struct {
	PartnerID        string
	AuthorityURL     string
	PartnerTenantID  string
	PartnerCenterURL string
	GraphURL         string
	PCClientID       string
	PCClientSecret   string
	GraphClientID    string
	GraphSecret      string
	// HomeAccountID is MSAL's account of the partner admin who signed in;
	// empty until the partner is authorised.
	HomeAccountID string
}
