package sim

import (
	"net/http"
	"strings"
	"time"
)

// Graph's organization: GET /organization (a collection of the caller's one tenant) and GET
// /organization/{id}, with the properties Microsoft's "Get organization" and "List organization"
// examples show. Everything derives from the tenant, so answers are stable.

// graphOrganization answers GET /organization.
func (s *Server) graphOrganization(w http.ResponseWriter, r *http.Request, call graphCall) {
	s.mu.Lock()
	org := s.organizationJSON(call.org)
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{
		"@odata.context": s.base + "/v1.0/$metadata#organization",
		"value":          []map[string]any{org},
	})
}

// graphOrganizationByID answers GET /organization/{id}: only the caller's own tenant exists
// there.
func (s *Server) graphOrganizationByID(w http.ResponseWriter, r *http.Request, call graphCall) {
	id := r.PathValue("id")
	if !strings.EqualFold(id, call.org.ID) {
		s.writeGraphError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)
		return
	}
	s.mu.Lock()
	org := s.organizationJSON(call.org)
	s.mu.Unlock()
	org["@odata.context"] = s.base + "/v1.0/$metadata#organization/$entity"
	writeJSON(w, http.StatusOK, org)
}

// organizationJSON renders o; the caller holds s.mu (users and licences change at runtime).
func (s *Server) organizationJSON(o *org) map[string]any {
	loc, country := locations["US"], "US"
	var admin *dirUser
	if o.Admin.ID != "" {
		admin = o.byID[o.Admin.ID]
	}
	if admin != nil && admin.UsageLocation != "" {
		if l, ok := locations[admin.UsageLocation]; ok {
			loc, country = l, admin.UsageLocation
		}
	}
	created := generatedEpoch.AddDate(-3, 0, 0)
	for _, u := range o.users {
		if !u.CreatedDateTime.IsZero() && u.CreatedDateTime.Before(created) {
			created = u.CreatedDateTime
		}
	}
	// A tenant whose users come from Active Directory syncs; Entra Connect runs every 30 minutes.
	var lastSync any
	var syncEnabled any
	for _, u := range o.users {
		if u.OnPremisesSyncEnabled != nil && *u.OnPremisesSyncEnabled {
			syncEnabled, lastSync = true, generatedEpoch.Add(-17*time.Minute).Format(time.RFC3339)
			break
		}
	}
	assigned, provisioned := []map[string]any{}, []map[string]any{}
	seen := map[string]bool{}
	for i := range o.Skus {
		k := &o.Skus[i]
		status := o.units(k).capabilityStatus()
		for _, p := range k.ServicePlans {
			if seen[p.ID] {
				continue
			}
			seen[p.ID] = true
			assigned = append(assigned, map[string]any{
				"assignedDateTime": created.AddDate(0, 0, 1).UTC().Format(time.RFC3339), "capabilityStatus": status,
				"service": p.Name, "servicePlanId": p.ID,
			})
			provisioned = append(provisioned, map[string]any{"capabilityStatus": status, "provisioningStatus": "Success", "service": p.Name})
		}
	}
	technical := []string{}
	if o.Admin.UPN != "" {
		technical = append(technical, o.Admin.UPN)
	}
	domains := []map[string]any{{
		"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": true, "isInitial": true,
		"name": o.Domain, "type": "Managed",
	}}
	return map[string]any{
		"id": o.ID, "deletedDateTime": nil, "businessPhones": []string{strings.ReplaceAll(loc.phone, "%04d", "0100")},
		"city": loc.city, "country": loc.country, "countryLetterCode": country, "createdDateTime": created.UTC().Format(time.RFC3339),
		"defaultUsageLocation": nil, "displayName": o.Name, "isMultipleDataLocationsForServicesEnabled": nil,
		"marketingNotificationEmails": []string{}, "onPremisesLastSyncDateTime": lastSync, "onPremisesSyncEnabled": syncEnabled,
		"onPremisesSyncStatus": []any{}, "partnerTenantType": partnerTenantType(o), "postalCode": loc.postal,
		"preferredLanguage": strings.SplitN(loc.language, "-", 2)[0], "securityComplianceNotificationMails": []string{},
		"securityComplianceNotificationPhones": []string{}, "state": loc.state, "street": loc.street,
		"technicalNotificationMails": technical, "tenantType": "AAD",
		"directorySizeQuota": map[string]int{"used": o.live + len(o.Groups) + len(o.DirectoryRoles), "total": 300000},
		"assignedPlans":      assigned, "privacyProfile": map[string]string{"contactEmail": "", "statementUrl": ""},
		"provisionedPlans": provisioned, "verifiedDomains": domains,
	}
}

// partnerTenantType: the partner's own tenant is a reseller's; its customers' tenants are none.
func partnerTenantType(o *org) any {
	if o.partner {
		return "resellerPartnerDelegatedAdmin"
	}
	return nil
}
