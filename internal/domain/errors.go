package domain

// Codes of failures that cspsync's rules name. The catalogue in
// internal/microsoft describes each (cause, fix, reaction).
const (
	// CodeKeyMismatch: a stored secret does not open with the configured key.
	CodeKeyMismatch = "KeyMismatch"
	// CodeMembershipRefused is Partner Center's refusal of the subscriptions
	// API to a partner without the membership it requires.
	CodeMembershipRefused = "PartnerCenter800039"
	// CodeInternal: a failure nothing classified (an activity timed out, a
	// worker or a connection was lost, a bug); see Internal.
	CodeInternal = "Internal"
)

// partnerCodes are the failures, besides every Reauthorise, that concern
// the partner whichever tenant met them.
var partnerCodes = map[string]bool{CodeMembershipRefused: true, CodeKeyMismatch: true}

// ConcernsPartner is the rule on whom a failure concerns: the partner's
// credentials or grant (any Reauthorise), its Partner Center membership and
// the key its secrets are sealed with concern the partner, so the failure is
// recorded once for it and not once per tenant that met it. Any other
// failure concerns the tenant that met it.
func (e ErrorInfo) ConcernsPartner() bool { return e.Reaction == Reauthorise || partnerCodes[e.Code] }

// Refused is the consent a tenant has once Microsoft refused access for lack
// of consent (an AwaitConsent failure): a granted consent was revoked; any
// other (DAP's implicit one included) was never there.
func (c Consent) Refused() Consent {
	if c == ConsentGranted {
		return ConsentRevoked
	}
	return ConsentPending
}

// String reads "Code: cause fix", as an Update's or a command's error says it.
func (e ErrorInfo) String() string { return e.Code + ": " + e.Cause + " " + e.Remediation }

// retryCommand is the command that tries each operation again.
var retryCommand = map[Operation]string{
	OpDiscovery: "`cspsync sync`",
	OpSync:      "`cspsync tenants sync <tenant>`",
	OpLicences:  "`cspsync licences import --tenant <tenant>`",
	OpUsers:     "`cspsync sync --tenant <tenant>`",
}

// Internal is the one fallback for a failure of op that nothing classified
// (an activity timed out, a worker or a connection was lost, a bug): the
// error is its cause, the worker's log and the command that tries op again
// its fix. Retrying may cure it, so it blocks nothing.
func Internal(op Operation, err error) ErrorInfo {
	fix := "See the worker log."
	if cmd, ok := retryCommand[op]; ok {
		fix = "See the worker log; " + cmd + " tries again."
	}
	cause := "cspsync's " + string(op) + " failed."
	if err != nil {
		cause = err.Error()
	}
	return ErrorInfo{Code: CodeInternal, Cause: cause, Remediation: fix, Reaction: Retry}
}

// NextStep says what the partner's administrator must do while the partner
// is not authorised, given the failure that made it so (nil if none is
// known); "" while it is authorised.
func (a AuthState) NextStep(last *ErrorInfo) string {
	switch {
	case a == AuthAuthorised:
		return ""
	case a == AuthNeedsReauthorisation && last != nil:
		return last.Code + ": " + last.Remediation
	case a == AuthNeedsReauthorisation:
		return "authorise again with `cspsync connect`"
	}
	return "complete the sign-in from `cspsync connect`"
}
