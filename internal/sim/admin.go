package sim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// Control surface: what a test or demo does to the simulated world. Every method has an HTTP
// twin under /_sim/ (see adminRoutes) so a simulator in another process can be driven with
// AdminClient. The admin API is unauthenticated: the simulator is a local test double.

// notFoundError reports a control call naming something the scenario does not have.
type notFoundError struct{ what string }

func (e *notFoundError) Error() string { return "sim: unknown " + e.what }

func errUnknownTenant(id string) error { return &notFoundError{"tenant " + strconv.Quote(id)} }

// GrantConsent records admin consent for the partner's multi-tenant apps in a customer tenant,
// as the admin-consent sign-in does.
func (s *Server) GrantConsent(tenantID string) error { return s.setConsent(tenantID, true) }

// RevokeConsent removes the apps' service principal from a customer tenant (DAP tenants
// included). App-only tokens issued before stop working at Graph.
func (s *Server) RevokeConsent(tenantID string) error { return s.setConsent(tenantID, false) }

func (s *Server) setConsent(tenantID string, consent bool) error {
	o := s.dir.byID[strings.ToLower(tenantID)]
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	if o.partner {
		if !consent {
			return errors.New("sim: the partner tenant's own apps cannot lose consent there")
		}
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Consent == nil {
		s.state.Consent = map[string]bool{}
	}
	s.state.Consent[o.ID] = consent
	return s.persistLocked()
}

// ConsentState reports whether the partner's multi-tenant apps are consented in tenantID;
// false for unknown tenants.
func (s *Server) ConsentState(tenantID string) bool {
	o := s.dir.byID[strings.ToLower(tenantID)]
	return o != nil && s.consented(o)
}

// RevokeRefreshTokens invalidates every refresh token issued so far, like a password reset:
// redeeming one fails with AADSTS50173. Tokens issued afterwards work.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.TokensValidFrom = s.now().UTC()
	s.persistLocked()
}

// ExpireSecret makes the app's secret expired: token requests using it fail with
// AADSTS7000222. Unknown client ids are ignored.
func (s *Server) ExpireSecret(clientID string) {
	if s.dir.apps[clientID] == nil {
		s.log.Warn("ExpireSecret: unknown client", "clientId", clientID)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.ExpiredSecrets == nil {
		s.state.ExpiredSecrets = map[string]bool{}
	}
	s.state.ExpiredSecrets[clientID] = true
	s.persistLocked()
}

// AddSecret adds a client secret to the app, as creating a new one in the portal does. The
// earlier secret keeps its state, so an expired one stays expired.
func (s *Server) AddSecret(clientID, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.AddedSecrets == nil {
		s.state.AddedSecrets = map[string][]string{}
	}
	s.state.AddedSecrets[clientID] = append(s.state.AddedSecrets[clientID], secret)
	s.persistLocked()
}

// snapshot is the scenario as it stands now: consent and directory changes applied.
func (s *Server) snapshot() Scenario {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc := s.sc
	sc.Apps = make([]App, len(s.sc.Apps))
	for i, a := range s.sc.Apps {
		a.SecretExpired = a.SecretExpired || s.state.ExpiredSecrets[a.ClientID]
		sc.Apps[i] = a
	}
	sc.Tenants = make([]Tenant, len(s.dir.customers))
	for i, o := range s.dir.customers {
		t := o.Tenant
		t.Consented = s.consentedLocked(o)
		t.Users = nil
		for _, u := range o.users {
			if u.alive() {
				t.Users = append(t.Users, cloneUser(u.TenantUser))
			}
		}
		sc.Tenants[i] = t
	}
	return sc
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	consent := func(grant bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			adminReply(w, s.setConsent(r.PathValue("tenant"), grant), nil)
		}
	}
	mux.HandleFunc("POST /_sim/consent/{tenant}", consent(true))
	mux.HandleFunc("DELETE /_sim/consent/{tenant}", consent(false))
	mux.HandleFunc("GET /_sim/consent/{tenant}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("tenant")
		if s.dir.byID[strings.ToLower(id)] == nil {
			adminReply(w, errUnknownTenant(id), nil)
			return
		}
		adminReply(w, nil, consentStatus{TenantID: id, Consented: s.ConsentState(id)})
	})
	mux.HandleFunc("POST /_sim/revoke-refresh-tokens", func(w http.ResponseWriter, r *http.Request) {
		s.RevokeRefreshTokens()
		adminReply(w, nil, nil)
	})
	mux.HandleFunc("POST /_sim/expire-secret/{client}", func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("client")
		if s.dir.apps[id] == nil {
			adminReply(w, &notFoundError{"client " + strconv.Quote(id)}, nil)
			return
		}
		s.ExpireSecret(id)
		adminReply(w, nil, nil)
	})
	mux.HandleFunc("POST /_sim/fault", func(w http.ResponseWriter, r *http.Request) {
		var f Fault
		if err := json.NewDecoder(r.Body).Decode(&f); err != nil {
			adminReply(w, fmt.Errorf("fault body: %w", err), nil)
			return
		}
		if err := f.validate(); err != nil {
			adminReply(w, err, nil)
			return
		}
		s.SetFault(f)
		adminReply(w, nil, nil)
	})
	mux.HandleFunc("GET /_sim/stats", func(w http.ResponseWriter, r *http.Request) {
		adminReply(w, nil, s.Stats())
	})
	mux.HandleFunc("GET /_sim/scenario", func(w http.ResponseWriter, r *http.Request) {
		adminReply(w, nil, s.snapshot())
	})
	mux.HandleFunc("DELETE /_sim/tenants/{tenant}/users/{user}", func(w http.ResponseWriter, r *http.Request) {
		del := s.DeleteUser
		if r.URL.Query().Get("permanent") == "true" {
			del = s.PurgeUser
		}
		adminReply(w, del(r.PathValue("tenant"), r.PathValue("user")), nil)
	})
	mux.HandleFunc("PATCH /_sim/tenants/{tenant}/users/{user}", func(w http.ResponseWriter, r *http.Request) {
		var p UserPatch
		if err := decodeStrict(r, &p); err != nil {
			adminReply(w, fmt.Errorf("user patch body: %w", err), nil)
			return
		}
		adminReply(w, s.UpdateUser(r.PathValue("tenant"), r.PathValue("user"), p), nil)
	})
	mux.HandleFunc("POST /_sim/tenants/{tenant}/users/{user}/restore", func(w http.ResponseWriter, r *http.Request) {
		adminReply(w, s.RestoreUser(r.PathValue("tenant"), r.PathValue("user")), nil)
	})
	mux.HandleFunc("POST /_sim/tenants/{tenant}/user-changes", func(w http.ResponseWriter, r *http.Request) {
		var c UserChanges
		if err := decodeStrict(r, &c); err != nil {
			adminReply(w, fmt.Errorf("user changes body: %w", err), nil)
			return
		}
		out, err := s.ChangeUsers(r.PathValue("tenant"), c)
		adminReply(w, err, out)
	})
	mux.HandleFunc("PUT /_sim/tenants/{tenant}/graph-budget", func(w http.ResponseWriter, r *http.Request) {
		var b graphBudget
		if err := decodeStrict(r, &b); err != nil || b.ResourceUnitsPer10s == nil {
			adminReply(w, fmt.Errorf(`graph budget body must be {"resourceUnitsPer10s": N} (0 restores Microsoft's budget): %v`, err), nil)
			return
		}
		adminReply(w, s.SetGraphBudget(r.PathValue("tenant"), *b.ResourceUnitsPer10s), nil)
	})
	mux.HandleFunc("POST /_sim/tenants/{tenant}/expire-delta-tokens", func(w http.ResponseWriter, r *http.Request) {
		adminReply(w, s.ExpireDeltaTokens(r.PathValue("tenant")), nil)
	})
	mux.HandleFunc("PUT /_sim/delta-responses", func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Mode *string `json:"mode"`
		}
		if err := decodeStrict(r, &m); err != nil || m.Mode == nil {
			adminReply(w, fmt.Errorf(`delta responses body must be {"mode": "default" | "minimal" | ""}: %v`, err), nil)
			return
		}
		adminReply(w, s.SetDeltaResponses(*m.Mode), nil)
	})
	mux.HandleFunc("POST /_sim/expire-access-tokens", func(w http.ResponseWriter, r *http.Request) {
		adminReply(w, s.ExpireAccessTokens(), nil)
	})
	s.groupRoutes(mux)
	s.licenceRoutes(mux)
	s.relationshipRoutes(mux)
}

// decodeStrict reads a JSON body, refusing unknown fields so a typo does not pass silently.
func decodeStrict(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

type consentStatus struct {
	TenantID  string `json:"tenantId"`
	Consented bool   `json:"consented"`
}

type adminError struct {
	Error string `json:"error"`
}

func adminReply(w http.ResponseWriter, err error, body any) {
	var nf *notFoundError
	switch {
	case errors.As(err, &nf):
		writeJSON(w, http.StatusNotFound, adminError{err.Error()})
	case err != nil:
		writeJSON(w, http.StatusBadRequest, adminError{err.Error()})
	case body == nil:
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusOK, body)
	}
}
