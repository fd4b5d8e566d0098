package web

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/cspsync/cspsync/internal/control"
)

// signIn starts an operator's sign-in with a partner's tenant: the only
// partner, or the one ?partner= names; with several, the page lets the
// operator pick. The sign-in in progress rides in a cookie.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request) {
	partners, err := s.Control.SignInPartners(r.Context())
	if err != nil {
		s.internal(w, err)
		return
	}
	id := r.URL.Query().Get("partner")
	next := returnPath(r.URL.Query().Get("next"))
	if id == "" && len(partners) == 1 {
		id = partners[0].ID
	}
	if id == "" || !slices.ContainsFunc(partners, func(p control.SignInPartner) bool { return p.ID == id }) {
		p := page{Title: "Sign in to cspsync", Message: "Operators sign in with their account in the partner's Microsoft Entra tenant."}
		for _, pa := range partners {
			v := url.Values{"partner": {pa.ID}}
			if next != "" {
				v.Set("next", next)
			}
			p.Choices = append(p.Choices, choice{Href: signInPath + "?" + v.Encode(),
				Label: "Sign in as an operator of " + pa.DisplayName + " (" + pa.TenantID + ")"})
		}
		status := http.StatusOK
		switch {
		case len(partners) == 0:
			status, p.Problem, p.Fix = http.StatusServiceUnavailable, "No partner is connected yet, so there is no tenant to sign in with.",
				"Connect the partner with `cspsync connect`; operators then sign in through its Partner Center app."
		case id != "":
			status, p.Problem = http.StatusBadRequest, "There is no partner "+id+"."
		}
		render(w, status, p)
		return
	}
	in, err := s.Control.StartOperatorSignIn(r.Context(), id)
	if errors.Is(err, control.ErrNoOperators) {
		render(w, http.StatusServiceUnavailable, page{Title: "Operator pages closed", Problem: err.Error(),
			Fix: "Ask whoever runs the cspsync worker to configure who its operators are (README \"Operators\"); `cspsync check` shows the rule in force."})
		return
	}
	if err != nil {
		s.Log.Warn("operator sign-in could not start", "partner", id, "error", err)
		render(w, http.StatusBadGateway, page{Title: "Cannot start the sign-in", Problem: err.Error(),
			Fix: "Check the partner's settings (`cspsync check`) and that Microsoft is reachable, then sign in again.", SignIn: true})
		return
	}
	s.setCookie(w, signInCookie, in.Pending, control.OperatorSignInTTL)
	// Where to return rides beside the pending sign-in; an older one is
	// replaced (cleared when there is none). Escaped: a cookie value holds
	// no ';' or space.
	if next != "" {
		s.setCookie(w, returnCookie, url.QueryEscape(next), control.OperatorSignInTTL)
	} else {
		s.clearCookie(w, returnCookie)
	}
	http.Redirect(w, r, in.URL, http.StatusFound)
}

// signInCallback finishes an operator's sign-in and opens a session.
func (s *Server) signInCallback(w http.ResponseWriter, r *http.Request) {
	token, op, err := s.Control.FinishOperatorSignIn(r.Context(), s.cookieValue(r, signInCookie), callback(r))
	s.clearCookie(w, signInCookie) // one callback per sign-in, whatever its outcome
	back, _ := url.QueryUnescape(s.cookieValue(r, returnCookie))
	s.clearCookie(w, returnCookie)
	var refused *control.Refused
	switch {
	case errors.Is(err, control.ErrNotOperator):
		s.Log.Warn("sign-in refused: not an operator", "error", err)
		render(w, http.StatusForbidden, page{Title: "Not an operator of cspsync", Problem: err.Error(),
			Fix: "Ask whoever runs the cspsync worker to add your user principal name to CSPSYNC_OPERATORS, or you to the group CSPSYNC_OPERATOR_GROUP names; then sign in again.", SignIn: true})
	case errors.Is(err, control.ErrBadCallback):
		s.Log.Warn("rejected operator sign-in callback", "error", err)
		render(w, http.StatusBadRequest, page{Title: "Sign-in not accepted", Problem: err.Error(), SignIn: true})
	case errors.As(err, &refused):
		render(w, http.StatusBadGateway, page{Title: "Microsoft refused the sign-in",
			Problem: refused.Code + ": " + refused.Cause, Fix: refused.Remediation, SignIn: true})
	case err != nil:
		s.internal(w, err)
	default:
		s.Log.Info("operator signed in", "partner", op.PartnerID, "upn", op.UPN)
		s.setCookie(w, sessionCookie, token, control.OperatorSessionTTL)
		// Checked again: the cookie came from the browser.
		http.Redirect(w, r, cmp.Or(returnPath(back), "/"), http.StatusSeeOther)
	}
}

// signOut ends the session.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	op, ok := s.form(w, r)
	if !ok {
		return
	}
	if err := s.Control.SignOut(r.Context(), s.cookieValue(r, sessionCookie)); err != nil {
		s.internal(w, err)
		return
	}
	s.clearCookie(w, sessionCookie)
	s.Log.Info("operator signed out", "partner", op.PartnerID, "upn", op.UPN)
	render(w, http.StatusOK, page{Title: "Signed out", Message: "You are signed out of cspsync.", SignIn: true})
}
