package sim

import (
	"context"
	"net/http"
	"net/url"
)

// The partner's relationships with its customers: whether Partner Center lists a customer at
// all, which a test or demo changes at runtime as an MSP's customer relationships end and
// begin.

// RemoveCustomer ends the partner's relationship with a customer in Partner Center, as when a
// customer moves to another partner: the customer list no longer shows it and its endpoints
// refuse the partner (403, code 20002). The tenant, its users and licences live on.
func (s *Server) RemoveCustomer(tenantID string) error { return s.setListed(tenantID, false) }

// RestoreCustomer lists a removed customer again, as a new reseller relationship does.
func (s *Server) RestoreCustomer(tenantID string) error { return s.setListed(tenantID, true) }

func (s *Server) setListed(tenantID string, listed bool) error {
	o := s.dir.customer(tenantID)
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.RemovedCustomers == nil {
		s.state.RemovedCustomers = map[string]bool{}
	}
	if listed {
		delete(s.state.RemovedCustomers, o.ID)
	} else {
		s.state.RemovedCustomers[o.ID] = true
	}
	return s.persistLocked()
}

// listedLocked reports whether Partner Center lists the customer (caller holds s.mu).
func (s *Server) listedLocked(o *org) bool { return !s.state.RemovedCustomers[o.ID] }

func (s *Server) relationshipRoutes(mux *http.ServeMux) {
	mux.HandleFunc("DELETE /_sim/partner-center/customers/{tenant}", func(w http.ResponseWriter, r *http.Request) {
		adminReply(w, s.RemoveCustomer(r.PathValue("tenant")), nil)
	})
	mux.HandleFunc("POST /_sim/partner-center/customers/{tenant}", func(w http.ResponseWriter, r *http.Request) {
		adminReply(w, s.RestoreCustomer(r.PathValue("tenant")), nil)
	})
}

// RemoveCustomer ends the partner's relationship with a customer (see Server.RemoveCustomer).
func (c *AdminClient) RemoveCustomer(ctx context.Context, tenantID string) error {
	return c.do(ctx, http.MethodDelete, "/_sim/partner-center/customers/"+url.PathEscape(tenantID), nil, nil)
}

// RestoreCustomer lists a removed customer again.
func (c *AdminClient) RestoreCustomer(ctx context.Context, tenantID string) error {
	return c.do(ctx, http.MethodPost, "/_sim/partner-center/customers/"+url.PathEscape(tenantID), nil, nil)
}
