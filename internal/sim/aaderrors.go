package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// aadError is an Entra ID OAuth error: the OAuth error code, the AADSTS number and its text.
type aadError struct {
	status   int
	err      string
	code     int
	msg      string
	suberror string
}

func (e *aadError) Error() string { return fmt.Sprintf("AADSTS%d: %s", e.code, e.msg) }

func newAAD(status int, oauthErr string, code int, format string, args ...any) *aadError {
	return &aadError{status: status, err: oauthErr, code: code, msg: fmt.Sprintf(format, args...)}
}

// The texts below follow what Entra ID returns for each AADSTS code.

func errMissingParam(name string) *aadError {
	return newAAD(400, "invalid_request", 900144, "The request body must contain the following parameter: '%s'.", name)
}

func errTenantNotFound(seg string) *aadError {
	return newAAD(400, "invalid_tenant", 90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", seg)
}

func errAppNotFound(clientID, directory string) *aadError {
	return newAAD(400, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, directory)
}

func errNotMultiTenant(app *App) *aadError {
	return newAAD(400, "invalid_request", 50194, "Application '%s'(%s) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.", app.ClientID, app.DisplayName)
}

func errMalformedRequest() *aadError {
	return newAAD(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
}

func errUserNotInTenant(acct *account, o *org, app *App, base string) *aadError {
	return newAAD(400, "invalid_grant", 50020, "User account '%s' from identity provider '%s/%s/' does not exist in tenant '%s' and cannot access the application '%s'(%s) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Azure Active Directory user account.",
		acct.UPN, base, acct.home.ID, o.Name, app.ClientID, app.DisplayName)
}

func errConsentRequired(app *App) *aadError {
	e := newAAD(400, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", app.ClientID, app.DisplayName)
	e.suberror = "consent_required"
	return e
}

type aadErrorBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	ErrorURI      string `json:"error_uri"`
	Suberror      string `json:"suberror,omitempty"`
}

// aadTrace carries the ids every Entra ID error quotes; the correlation id is the caller's
// client-request-id (MSAL sends one with every request) so logs on both sides line up.
type aadTrace struct{ traceID, correlationID, timestamp string }

func (s *Server) newTrace(r *http.Request) aadTrace {
	corr := r.Header.Get("client-request-id")
	if corr == "" {
		corr = newUUID()
	}
	return aadTrace{newUUID(), corr, s.now().UTC().Format("2006-01-02 15:04:05Z")}
}

func (t aadTrace) describe(e *aadError) string {
	return fmt.Sprintf("%s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", e.Error(), t.traceID, t.correlationID, t.timestamp)
}

func (s *Server) writeAAD(w http.ResponseWriter, r *http.Request, e *aadError) {
	t := s.newTrace(r)
	w.Header().Set("x-ms-request-id", t.traceID)
	writeJSON(w, e.status, aadErrorBody{
		Error: e.err, Description: t.describe(e), Codes: []int{e.code}, Timestamp: t.timestamp,
		TraceID: t.traceID, CorrelationID: t.correlationID, Suberror: e.suberror,
		ErrorURI: fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", e.code),
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v) // a write error means the client went away; nothing to do
}
