package web

import (
	"errors"
	"net/http"

	"github.com/cspsync/cspsync/internal/control"
)

// consentStart sends the operator's browser to Microsoft's admin-consent
// page for one of the partner's tenants, with a fresh single-use state that
// replaces the tenant's earlier link.
func (s *Server) consentStart(w http.ResponseWriter, r *http.Request) {
	op, ok := s.form(w, r)
	if !ok {
		return
	}
	link, cu, err := s.Control.StartConsent(r.Context(), op, r.PostForm.Get("tenant"))
	if err != nil {
		render(w, http.StatusBadRequest, page{Title: "Cannot start admin consent", Problem: err.Error(),
			Fix: "Open the tenants page again and use a tenant's own button.", Back: true})
		return
	}
	s.Log.Info("admin consent started", "partner", cu.PartnerID, "tenant", cu.TenantID, "operator", op.UPN)
	http.Redirect(w, r, link.URL, http.StatusSeeOther)
}

// consentCallback records a tenant admin's consent, once Microsoft confirms
// it, and wakes the tenant's workflow.
func (s *Server) consentCallback(w http.ResponseWriter, r *http.Request) {
	cu, err := s.Control.CompleteConsent(r.Context(), callback(r))
	var refused *control.Refused
	var notHeld *control.ConsentNotHeld
	switch {
	case errors.Is(err, control.ErrBadCallback):
		s.Log.Warn("rejected consent callback", "error", err)
		render(w, http.StatusBadRequest, page{Title: "Consent not accepted", Problem: err.Error()})
	case errors.As(err, &refused):
		render(w, http.StatusBadGateway, page{Title: "Admin consent was not granted", Problem: refused.Code + ": " + refused.Cause, Fix: refused.Remediation})
	case errors.As(err, &notHeld):
		s.Log.Warn("consent callback not confirmed by Microsoft", "partner", cu.PartnerID, "tenant", cu.TenantID, "code", notHeld.Code)
		fix := notHeld.Remediation + " If an administrator of the tenant has just accepted, reload this page in a minute: a new consent can take a moment to reach Microsoft Graph."
		if !notHeld.LinkExpires.IsZero() {
			fix += " This link stays valid until " + notHeld.LinkExpires.UTC().Format("2006-01-02 15:04 UTC") + "."
		}
		render(w, http.StatusConflict, page{Title: "Microsoft does not confirm the admin consent",
			Problem: "Microsoft answers for " + cu.Name + " (" + cu.TenantID + "): " + notHeld.Code + ": " + notHeld.Cause +
				" Nothing was recorded: the tenant's consent stays " + string(cu.ConsentState) + ".",
			Fix: fix})
	case errors.Is(err, control.ErrConsentNotConfirmed):
		render(w, http.StatusBadRequest, page{Title: "Consent not accepted",
			Problem: "Microsoft's answer does not confirm admin consent for tenant " + cu.TenantID + ".",
			Fix:     "Sign in as a Global Administrator of that tenant and accept; the link stays valid."})
	case err != nil:
		s.internal(w, err)
	default:
		s.Log.Info("admin consent granted", "partner", cu.PartnerID, "tenant", cu.TenantID)
		render(w, http.StatusOK, page{Title: "Admin consent granted",
			Message: cu.Name + " (" + cu.TenantID + ") has consented. cspsync starts syncing it now.", Back: true})
	}
}
