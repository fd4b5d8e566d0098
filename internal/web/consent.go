package web

import (
	"errors"
	"net/http"

	"github.com/cspsync/cspsync/internal/control"
)

// consentStart sends the browser to Microsoft's admin-consent page for one
// tenant, with a fresh single-use state.
func (s *Server) consentStart(w http.ResponseWriter, r *http.Request) {
	u, _, err := s.Control.ConsentURL(r.Context(), r.URL.Query().Get("tenant"))
	if err != nil {
		render(w, http.StatusBadRequest, page{Title: "Cannot start admin consent", Problem: err.Error(),
			Fix: "Open the tenants page again and use a tenant's own link."})
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}

// consentCallback records a tenant admin's consent and wakes the tenant's workflow.
func (s *Server) consentCallback(w http.ResponseWriter, r *http.Request) {
	cu, err := s.Control.CompleteConsent(r.Context(), callback(r))
	var refused *control.Refused
	switch {
	case errors.Is(err, control.ErrBadCallback):
		s.Log.Warn("rejected consent callback", "error", err)
		render(w, http.StatusBadRequest, page{Title: "Consent not accepted", Problem: err.Error()})
	case errors.As(err, &refused):
		render(w, http.StatusBadGateway, page{Title: "Admin consent was not granted", Problem: refused.Code + ": " + refused.Cause, Fix: refused.Remediation})
	case errors.Is(err, control.ErrConsentNotConfirmed):
		render(w, http.StatusBadRequest, page{Title: "Consent not accepted",
			Problem: "Microsoft's answer does not confirm admin consent for tenant " + cu.TenantID + ".",
			Fix:     "Sign in as a Global Administrator of that tenant and accept, from a fresh link on the tenants page."})
	case err != nil:
		s.internal(w, err)
	default:
		s.Log.Info("admin consent granted", "partner", cu.PartnerID, "tenant", cu.TenantID)
		render(w, http.StatusOK, page{Title: "Admin consent granted",
			Message: cu.Name + " (" + cu.TenantID + ") has consented. cspsync starts syncing it now.", Back: true})
	}
}
