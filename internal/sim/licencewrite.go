package sim

import (
	"net/http"
	"slices"
	"strings"
	"time"
)

// The application permissions that let an app-only token call assignLicense, least
// privileged first (Graph permissions reference for user: assignLicense).
var licenceWriteRoles = []string{"LicenseAssignment.ReadWrite.All", "User.ReadWrite.All", "Directory.ReadWrite.All"}

// SetLicenceWriteConsent grants or withdraws LicenseAssignment.ReadWrite.All in a customer
// tenant's admin consent. Like any consent change it reaches only tokens issued afterwards:
// call ExpireAccessTokens to make clients fetch new ones.
func (s *Server) SetLicenceWriteConsent(tenantID string, granted bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.dir.byID[strings.ToLower(tenantID)]
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	o.noLicenceWrite = !granted
	return nil
}

// appRoles are the application permissions the tenant's admin consent gives the app.
func (s *Server) appRoles(o *org, res resource) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if res.aud != resGraph.aud || !o.noLicenceWrite {
		return res.appRoles
	}
	return slices.DeleteFunc(slices.Clone(res.appRoles), func(r string) bool { return slices.Contains(licenceWriteRoles, r) })
}

// mayWriteLicences refuses, as Graph does, a token whose roles grant no licence writes.
func (s *Server) mayWriteLicences(w http.ResponseWriter, call graphCall) bool {
	if call.claims.IDTyp == "app" && !slices.ContainsFunc(call.claims.Roles, func(r string) bool { return slices.Contains(licenceWriteRoles, r) }) {
		s.writeGraphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
		return false
	}
	return true
}

// HoldAssignLicenseReplies makes assignLicense apply each change at once but hold its answer
// for d (0: answer at once), or until the caller gives up: a client that dies meanwhile never
// learns that its change was made, the case a crash-safe writer must survive.
func (s *Server) HoldAssignLicenseReplies(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.assignReplyHold = d
}

// holdAssignReply waits, without the lock the caller holds, as HoldAssignLicenseReplies asks.
func (s *Server) holdAssignReply(r *http.Request) {
	d := s.assignReplyHold
	if d == 0 {
		return
	}
	s.mu.Unlock()
	defer s.mu.Lock()
	select {
	case <-time.After(d):
	case <-r.Context().Done():
	}
}
