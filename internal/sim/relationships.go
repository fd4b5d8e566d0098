package sim

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The partner's relationships with its customers: whether Partner Center lists a customer at
// all, and the partner's GDAP relationships with them, both of which a test or demo changes at
// runtime as an MSP's customer relationships end and begin.

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
	mux.HandleFunc("PUT /_sim/tenants/{tenant}/gdap-status", func(w http.ResponseWriter, r *http.Request) {
		var b gdapStatusSetting
		err := decodeStrict(r, &b)
		if err == nil {
			err = s.SetGDAPStatus(r.PathValue("tenant"), b.Status)
		}
		adminReply(w, err, nil)
	})
}

type gdapStatusSetting struct {
	Status string `json:"status"`
}

// SetGDAPStatus changes the status of the partner's GDAP relationship with a customer (see
// Server.SetGDAPStatus).
func (c *AdminClient) SetGDAPStatus(ctx context.Context, tenantID, status string) error {
	return c.do(ctx, http.MethodPut, "/_sim/tenants/"+url.PathEscape(tenantID)+"/gdap-status", gdapStatusSetting{status}, nil)
}

// RemoveCustomer ends the partner's relationship with a customer (see Server.RemoveCustomer).
func (c *AdminClient) RemoveCustomer(ctx context.Context, tenantID string) error {
	return c.do(ctx, http.MethodDelete, "/_sim/partner-center/customers/"+url.PathEscape(tenantID), nil, nil)
}

// RestoreCustomer lists a removed customer again.
func (c *AdminClient) RestoreCustomer(ctx context.Context, tenantID string) error {
	return c.do(ctx, http.MethodPost, "/_sim/partner-center/customers/"+url.PathEscape(tenantID), nil, nil)
}

// GDAP relationships (Graph's tenantRelationships/delegatedAdminRelationships): every GDAP
// tenant of the scenario has one relationship with the partner, granting roles through one
// access assignment to a security group of the partner. Tenant.MissingGDAPRole leaves the
// licence-reading roles out, Tenant.GDAPStatus (or SetGDAPStatus) ends or holds it. The same
// truth decides whether Partner Center lets the partner read the customer's licences.

// Built-in Entra ID role definition ids; Microsoft's, the same in every tenant.
const (
	roleDirectoryReaders       = "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"
	roleLicenseAdministrator   = "4d6ac14f-3453-41d0-bef9-a3e0c569773a"
	roleUserAdministrator      = "fe930be7-5e62-47db-91af-98c3a49a38b1"
	roleGlobalReader           = "f2ef992c-3afb-46b9-b7cf-a126ee74c451"
	roleHelpdeskAdministrator  = "729827e3-9c14-49f7-bb1b-9608f156bbb8"
	roleServiceSupportAdmin    = "f023fd81-a637-4b56-95fd-791ac0226033"
	gdapStatusActive           = "active"
	gdapReadScope              = "DelegatedAdminRelationship.Read.All"
	gdapReadWriteScope         = "DelegatedAdminRelationship.ReadWrite.All"
	gdapMaxTop                 = 300 // "$top supports up to 300 objects"
	gdapRelationshipsPath      = "tenantRelationships/delegatedAdminRelationships"
	gdapAccessAssignmentsChild = "accessAssignments"
)

// gdapStatuses are the documented values of delegatedAdminRelationshipStatus.
var gdapStatuses = []string{"activating", "active", "approvalPending", "approved", "created", "expired", "expiring",
	"terminated", "terminating", "terminationRequested"}

// gdapRoles a generated relationship grants, least privilege for what cspsync reads; without
// the licence-reading ones when MissingGDAPRole is set.
var (
	gdapRoles          = []string{roleDirectoryReaders, roleLicenseAdministrator, roleUserAdministrator, roleHelpdeskAdministrator}
	gdapRolesNoLicence = []string{roleHelpdeskAdministrator, roleServiceSupportAdmin}
	gdapLicenceRoles   = []string{roleDirectoryReaders, roleGlobalReader, roleUserAdministrator, roleLicenseAdministrator}
)

// gdapCreated anchors relationship dates; the scenario has no relationship timeline.
var gdapCreated = time.Date(2025, time.January, 15, 10, 0, 0, 0, time.UTC)

func validGDAP(t Tenant) error {
	if t.Relationship != RelationshipGDAP && (t.GDAPStatus != "" || t.GDAPIndirectProviderTenantID != "") {
		return errors.New("gdapStatus and gdapIndirectProviderTenantId need a GDAP relationship")
	}
	if t.GDAPStatus != "" && !slices.Contains(gdapStatuses, t.GDAPStatus) {
		return fmt.Errorf("gdapStatus %q is none of %s", t.GDAPStatus, strings.Join(gdapStatuses, ", "))
	}
	if t.GDAPIndirectProviderTenantID != "" && !isGUID(t.GDAPIndirectProviderTenantID) {
		return fmt.Errorf("gdapIndirectProviderTenantId %q is not a lower-case GUID", t.GDAPIndirectProviderTenantID)
	}
	return nil
}

// gdapChange is a relationship status set at runtime, and when.
type gdapChange struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

// SetGDAPStatus changes the status of the partner's GDAP relationship with a GDAP customer, as
// the relationship's life does: "expired" or "terminated" end it now (endDateTime is now),
// "active" renews it from now, any other documented status holds it.
func (s *Server) SetGDAPStatus(tenantID, status string) error {
	o := s.dir.customer(tenantID)
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	if o.Relationship != RelationshipGDAP {
		return errors.New("sim: tenant " + o.ID + " has a DAP relationship and no GDAP relationship")
	}
	if !slices.Contains(gdapStatuses, status) {
		return fmt.Errorf("sim: GDAP status %q is none of %s", status, strings.Join(gdapStatuses, ", "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.GDAP == nil {
		s.state.GDAP = map[string]gdapChange{}
	}
	s.state.GDAP[o.ID] = gdapChange{Status: status, At: s.now().UTC()}
	return s.persistLocked()
}

// gdapRelationship is what the simulator knows of one relationship.
type gdapRelationship struct {
	id, name, status string
	customer         *org
	roles            []string
	created          time.Time
	activated, end   *time.Time
	modified         time.Time
	duration, extend string
	indirectProvider string
}

// gdapOfLocked is the partner's relationship with a GDAP customer as it stands (caller holds
// s.mu); nil for DAP customers.
func (s *Server) gdapOfLocked(o *org) *gdapRelationship {
	if o.Relationship != RelationshipGDAP {
		return nil
	}
	name, _, _ := strings.Cut(o.Domain, ".")
	rel := &gdapRelationship{
		id:   o.gdapID,
		name: "cspsync-" + name, customer: o, roles: gdapRoles, created: gdapCreated,
		duration: "P730D", extend: "P180D", status: gdapStatusActive, indirectProvider: o.GDAPIndirectProviderTenantID,
	}
	if o.MissingGDAPRole {
		rel.roles = gdapRolesNoLicence
	}
	activated := gdapCreated.Add(time.Hour)
	changed := activated.AddDate(0, 0, 30) // a scenario's ended relationship ended then
	if o.GDAPStatus != "" {
		rel.status = o.GDAPStatus
	}
	if c, ok := s.state.GDAP[o.ID]; ok {
		rel.status, changed = c.Status, c.At
	}
	end := activated.AddDate(0, 0, 730)
	rel.modified = activated
	switch rel.status {
	case "created", "approvalPending", "approved", "activating":
		rel.extend = "PT0S"
		rel.modified = changed
		return rel // not active yet: no activation, no end
	case "expired", "expiring":
		// Expired at its end: the duration ran from activation to then.
		end, rel.extend = changed, "PT0S"
		rel.duration = fmt.Sprintf("P%dD", max(1, int(end.Sub(activated).Hours()/24)))
	case "terminated", "terminating", "terminationRequested":
		end, rel.extend = changed, "PT0S"
	case gdapStatusActive:
		if changed.After(activated.AddDate(0, 0, 30)) { // renewed at runtime
			activated = changed
			end = activated.AddDate(0, 0, 730)
		}
	}
	rel.activated, rel.end = &activated, &end
	if changed.After(rel.modified) {
		rel.modified = changed
	}
	return rel
}

// active is true while the relationship grants its roles.
func (r *gdapRelationship) active() bool { return r != nil && r.status == gdapStatusActive }

// grantsLicenceRead is what Partner Center checks before a GDAP customer's licence reads.
func (r *gdapRelationship) grantsLicenceRead() bool {
	if !r.active() {
		return false
	}
	for _, id := range r.roles {
		if slices.Contains(gdapLicenceRoles, id) {
			return true
		}
	}
	return false
}

// weakETag has the shape of Graph's @odata.etag: W/"<base64 of a quoted version>".
func weakETag(parts ...string) string {
	return `W/"` + base64.StdEncoding.EncodeToString([]byte(`'"`+derivedUUID(parts...)+`"'`)) + `"`
}

func roleList(ids []string) map[string]any {
	roles := make([]map[string]string, len(ids))
	for i, id := range ids {
		roles[i] = map[string]string{"roleDefinitionId": id}
	}
	return map[string]any{"unifiedRoles": roles}
}

func timeOrNull(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.Format(time.RFC3339)
}

// json renders the relationship with the fields the v1.0 reference documents; an indirect
// reseller's relationship is a resellerDelegatedAdminRelationship with two more.
func (r *gdapRelationship) json() map[string]any {
	m := map[string]any{
		"@odata.type":          "#microsoft.graph.delegatedAdminRelationship",
		"@odata.etag":          weakETag("gdap-etag", r.id, r.status, r.modified.String()),
		"id":                   r.id,
		"displayName":          r.name,
		"duration":             r.duration,
		"customer":             map[string]string{"tenantId": r.customer.ID, "displayName": r.customer.Name},
		"accessDetails":        roleList(r.roles),
		"status":               r.status,
		"autoExtendDuration":   r.extend,
		"createdDateTime":      r.created.Format(time.RFC3339),
		"lastModifiedDateTime": r.modified.Format(time.RFC3339),
		"activatedDateTime":    timeOrNull(r.activated),
		"endDateTime":          timeOrNull(r.end),
	}
	if r.indirectProvider != "" {
		m["@odata.type"] = "#microsoft.graph.resellerDelegatedAdminRelationship"
		m["indirectProviderTenantId"] = r.indirectProvider
		m["isPartnerConsentPending"] = r.status == "approvalPending"
	}
	return m
}

// assignments are the relationship's access assignments: one security group of the partner
// holds every role while the relationship is active; ended, the assignment is deleted; not
// yet active, there is none.
func (r *gdapRelationship) assignments() []map[string]any {
	var status string
	switch {
	case r.active():
		status = "active"
	case r.activated != nil:
		status = "deleted"
	default:
		return nil
	}
	return []map[string]any{{
		"@odata.type":          "#microsoft.graph.delegatedAdminAccessAssignment",
		"@odata.etag":          weakETag("gdap-assignment-etag", r.id, status),
		"id":                   derivedUUID("gdap-assignment", r.id),
		"status":               status,
		"createdDateTime":      r.activated.Add(time.Minute).Format(time.RFC3339),
		"lastModifiedDateTime": r.modified.Add(time.Minute).Format(time.RFC3339),
		"accessContainer": map[string]string{
			"accessContainerId": derivedUUID("gdap-group", r.customer.ID), "accessContainerType": "securityGroup",
		},
		"accessDetails": roleList(r.roles),
	}}
}

// gdapReader refuses a caller without DelegatedAdminRelationship.Read.All (or ReadWrite.All),
// delegated or as an application permission, and reports whether it may read.
func (s *Server) gdapReader(w http.ResponseWriter, r *http.Request, call graphCall) bool {
	granted := append(strings.Fields(call.claims.Scp), call.claims.Roles...)
	switch {
	case !slices.Contains(granted, gdapReadScope) && !slices.Contains(granted, gdapReadWriteScope):
		s.writeGraphError(w, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
	case r.URL.Query().Has("$select"):
		// Microsoft supports it here; answering without applying it would be wrong.
		s.writeGraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "The cspsync simulator does not support the $select query option here.")
	default:
		return true
	}
	return false
}

// graphRelationships lists the partner's GDAP relationships, in customer order; only the
// partner tenant has any.
func (s *Server) graphRelationships(w http.ResponseWriter, r *http.Request, call graphCall) {
	if !s.gdapReader(w, r, call) {
		return
	}
	var items []map[string]any
	if call.org.partner {
		s.mu.Lock()
		for _, o := range s.dir.customers {
			if rel := s.gdapOfLocked(o); rel != nil {
				items = append(items, rel.json())
			}
		}
		s.mu.Unlock()
	}
	s.writeCollection(w, r, call, gdapRelationshipsPath, s.base+"/v1.0/tenantRelationships/$metadata#delegatedAdminRelationships", items, gdapMaxTop)
}

// graphAccessAssignments lists one relationship's access assignments.
func (s *Server) graphAccessAssignments(w http.ResponseWriter, r *http.Request, call graphCall) {
	if !s.gdapReader(w, r, call) {
		return
	}
	id := r.PathValue("relationship")
	var rel *gdapRelationship
	if o := s.dir.byGDAPID[id]; o != nil && call.org.partner {
		s.mu.Lock()
		rel = s.gdapOfLocked(o)
		s.mu.Unlock()
	}
	if rel == nil {
		// As Graph answers for a relationship id the partner does not have.
		s.writeGraphError(w, http.StatusBadRequest, "badRequest", "The passed in delegatedAdminRelationshipId is invalid.")
		return
	}
	path := gdapRelationshipsPath + "/" + id + "/" + gdapAccessAssignmentsChild
	s.writeCollection(w, r, call, path, s.base+"/v1.0/tenantRelationships/$metadata#accessAssignments", rel.assignments(), gdapMaxTop)
}
