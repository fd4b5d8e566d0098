package web

import (
	"net/http"
	"strings"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
)

// consentStart sends the browser to Microsoft's admin-consent page for one
// tenant, with a fresh single-use state.
func (s *Server) consentStart(w http.ResponseWriter, r *http.Request) {
	u, _, err := s.control().ConsentURL(r.Context(), s.Auth, r.URL.Query().Get("tenant"), s.PublicURL)
	if err != nil {
		render(w, http.StatusBadRequest, page{Title: "Cannot start admin consent", Problem: err.Error(),
			Fix: "Open the tenants page again and use a tenant's own link."})
		return
	}
	http.Redirect(w, r, u, http.StatusFound)
}

// consentCallback records a tenant admin's consent and wakes the tenant's
// workflow. The state must be one cspsync issued for that very tenant.
func (s *Server) consentCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req, err := s.Store.ConsumeAuthRequest(r.Context(), q.Get("state"))
	if err == nil && req.Kind != "consent" {
		err = store.ErrUnknownState
	}
	if err != nil {
		s.Log.Warn("rejected consent callback", "error", err)
		render(w, http.StatusBadRequest, page{Title: "Consent not accepted", Problem: err.Error()})
		return
	}
	if code := q.Get("error"); code != "" {
		f := microsoft.FromCode(microsoft.AADSTSCode(q.Get("error_description"), code), 0, q.Get("error_description"), 0, nil)
		if err := s.Store.RecordError(r.Context(), store.IntegrationError{PartnerID: req.PartnerID, TenantID: req.TenantID,
			Operation: control.OpConsent, Code: f.Code, Message: f.Message, Remediation: f.Remediation}); err != nil {
			s.internal(w, err)
			return
		}
		render(w, http.StatusBadGateway, page{Title: "Admin consent was not granted", Problem: f.Code + ": " + f.Cause, Fix: f.Remediation})
		return
	}
	if !strings.EqualFold(q.Get("admin_consent"), "true") || !strings.EqualFold(q.Get("tenant"), req.TenantID) {
		render(w, http.StatusBadRequest, page{Title: "Consent not accepted",
			Problem: "Microsoft's answer does not confirm admin consent for tenant " + req.TenantID + ".",
			Fix:     "Sign in as a Global Administrator of that tenant and accept, from a fresh link on the tenants page."})
		return
	}
	cu, err := s.control().SetConsent(r.Context(), req.TenantID, true)
	if err != nil {
		s.internal(w, err)
		return
	}
	s.Log.Info("admin consent granted", "partner", req.PartnerID, "tenant", req.TenantID)
	render(w, http.StatusOK, page{Title: "Admin consent granted",
		Message: cu.Name + " (" + cu.TenantID + ") has consented. cspsync starts syncing it now.", Back: true})
}
