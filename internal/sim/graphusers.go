package sim

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Default properties of a Graph user when no $select is given.
var defaultUserProps = []string{
	"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
}

var selectableUserProps = append(slices.Clone(defaultUserProps),
	"accountEnabled", "usageLocation", "assignedLicenses", "createdDateTime", "userType", "signInActivity")

// parseSelect validates $select, enforcing that signInActivity needs an Entra ID P1/P2 tenant.
func (s *Server) parseSelect(w http.ResponseWriter, r *http.Request, o *org) ([]string, bool) {
	raw := r.URL.Query().Get("$select")
	if raw == "" {
		return nil, true
	}
	var props []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		i := slices.IndexFunc(selectableUserProps, func(k string) bool { return strings.EqualFold(k, p) })
		if i < 0 {
			s.writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Could not find a property named '%s' on type 'microsoft.graph.user'.", p)
			return nil, false
		}
		props = append(props, selectableUserProps[i])
	}
	if slices.Contains(props, "signInActivity") && !o.PremiumLicence {
		s.writeGraphError(w, http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or tenant doesn't have premium license")
		return nil, false
	}
	return props, true
}

// userJSON projects u onto props (the defaults when empty; id is always included), merged into
// extra. The caller holds s.mu.
func (s *Server) userJSON(o *org, u *dirUser, props []string, extra map[string]any) map[string]any {
	if len(props) == 0 {
		props = defaultUserProps
	}
	m := extra
	if m == nil {
		m = map[string]any{}
	}
	m["id"] = u.ID
	for _, p := range props {
		switch p {
		case "businessPhones":
			m[p] = []string{}
		case "displayName":
			m[p] = u.DisplayName
		case "givenName":
			m[p] = nullable(u.GivenName)
		case "surname":
			m[p] = nullable(u.Surname)
		case "jobTitle":
			m[p] = nullable(u.JobTitle)
		case "mail":
			m[p] = nullable(u.Mail)
		case "mobilePhone", "officeLocation", "preferredLanguage":
			m[p] = nil
		case "userPrincipalName":
			m[p] = u.UserPrincipalName
		case "accountEnabled":
			m[p] = u.AccountEnabled
		case "usageLocation":
			m[p] = nullable(u.UsageLocation)
		case "createdDateTime":
			m[p] = u.CreatedDateTime.UTC().Format(time.RFC3339)
		case "userType":
			m[p] = "Member"
		case "assignedLicenses":
			ls := make([]assignedLicense, 0, len(u.AssignedSkuIDs))
			for _, id := range u.AssignedSkuIDs {
				ls = append(ls, assignedLicense{DisabledPlans: []string{}, SkuID: id})
			}
			m[p] = ls
		case "signInActivity":
			m[p] = signInActivity(o, u)
		}
	}
	return m
}

// signInActivity uses null, never "", for absent values: the Graph SDK cannot parse "" as a
// date.
func signInActivity(o *org, u *dirUser) map[string]any {
	a := map[string]any{
		"lastSignInDateTime": nil, "lastSignInRequestId": nil,
		"lastNonInteractiveSignInDateTime": nil, "lastNonInteractiveSignInRequestId": nil,
		"lastSuccessfulSignInDateTime": nil, "lastSuccessfulSignInRequestId": nil,
	}
	if u.LastSignIn != nil {
		at := u.LastSignIn.UTC().Format(time.RFC3339)
		id := derivedUUID("sign-in", o.ID, u.ID, at)
		for _, k := range []string{"lastSignIn", "lastNonInteractiveSignIn", "lastSuccessfulSignIn"} {
			a[k+"DateTime"], a[k+"RequestId"] = at, id
		}
	}
	return a
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func usersContext(props []string) string {
	if len(props) == 0 {
		return "users"
	}
	return "users(" + strings.Join(props, ",") + ")"
}

func (s *Server) graphUsers(w http.ResponseWriter, r *http.Request, call graphCall) {
	props, ok := s.parseSelect(w, r, call.org)
	if !ok {
		return
	}
	s.mu.Lock()
	var items []map[string]any
	for _, u := range call.org.users {
		if !u.deleted {
			items = append(items, s.userJSON(call.org, u, props, nil))
		}
	}
	s.mu.Unlock()
	s.writePage(w, r, call, "users", usersContext(props), items)
}

func (s *Server) graphUser(w http.ResponseWriter, r *http.Request, call graphCall) {
	switch r.PathValue("user") {
	case "delta()", "microsoft.graph.delta()", "delta":
		s.graphUsersDelta(w, r, call)
		return
	}
	props, ok := s.parseSelect(w, r, call.org)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := call.org.user(r.PathValue("user"))
	if u == nil {
		s.writeGraphError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", r.PathValue("user"))
		return
	}
	writeJSON(w, http.StatusOK, s.userJSON(call.org, u, props, map[string]any{"@odata.context": s.base + "/v1.0/$metadata#users/$entity"}))
}

// deltaCursor is both the $skiptoken between pages of a delta round and the $deltatoken that
// starts the next round. A round returns users changed after Since (all users when Since is 0)
// up to the version current when the round began; later changes wait for the next round.
type deltaCursor struct {
	Kind   string   `json:"k"` // "skip" or "delta"
	Tenant string   `json:"t"`
	Since  int64    `json:"s"`
	Upto   int64    `json:"u"`
	Full   bool     `json:"f,omitempty"`
	Offset int      `json:"o,omitempty"`
	Select []string `json:"sel,omitempty"`
	Top    int      `json:"top"`
	Issued int64    `json:"i"` // unix seconds, for the 7-day delta token lifetime
}

const deltaTokenLifetime = 7 * 24 * time.Hour

func (s *Server) graphUsersDelta(w http.ResponseWriter, r *http.Request, call graphCall) {
	o, q := call.org, r.URL.Query()
	syncStateNotFound := func() {
		s.writeGraphError(w, http.StatusBadRequest, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
	}
	var c deltaCursor
	switch {
	case q.Get("$deltatoken") != "":
		if s.sign.open(purposeDelta, q.Get("$deltatoken"), &c) != nil || c.Kind != "delta" || c.Tenant != o.ID ||
			s.now().Sub(time.Unix(c.Issued, 0)) > deltaTokenLifetime {
			syncStateNotFound()
			return
		}
		s.mu.Lock()
		c = deltaCursor{Kind: "skip", Tenant: o.ID, Since: c.Upto, Upto: o.version, Select: c.Select, Top: c.Top, Issued: s.now().Unix()}
		s.mu.Unlock()
	case q.Get("$skiptoken") != "":
		if s.sign.open(purposeDelta, q.Get("$skiptoken"), &c) != nil || c.Kind != "skip" || c.Tenant != o.ID {
			syncStateNotFound()
			return
		}
	default:
		props, ok := s.parseSelect(w, r, o)
		if !ok {
			return
		}
		top, _, ok := s.pageParams(w, r, call, "users")
		if !ok {
			return
		}
		s.mu.Lock()
		c = deltaCursor{Kind: "skip", Tenant: o.ID, Full: true, Upto: o.version, Select: props, Top: top, Issued: s.now().Unix()}
		s.mu.Unlock()
	}

	s.mu.Lock()
	var items []map[string]any
	for _, u := range o.users {
		switch {
		case c.Full:
			// A user deleted after the round began keeps its place, so offsets of later pages
			// do not shift past someone; the next round reports the removal.
			if !u.deleted || u.version > c.Upto {
				items = append(items, s.userJSON(o, u, c.Select, nil))
			}
		case u.version <= c.Since:
		case u.deleted:
			items = append(items, map[string]any{"id": u.ID, "@removed": map[string]string{"reason": "changed"}})
		default:
			items = append(items, s.userJSON(o, u, c.Select, nil))
		}
	}
	s.mu.Unlock()

	end := min(c.Offset+c.Top, len(items))
	body := map[string]any{"@odata.context": s.base + "/v1.0/$metadata#" + usersContext(c.Select), "value": orEmpty(items[min(c.Offset, len(items)):end])}
	link := s.base + "/v1.0/users/delta()?"
	if end < len(items) {
		next := c
		next.Offset = end
		body["@odata.nextLink"] = link + "$skiptoken=" + s.sign.seal(purposeDelta, next)
	} else {
		body["@odata.deltaLink"] = link + "$deltatoken=" + s.sign.seal(purposeDelta, deltaCursor{
			Kind: "delta", Tenant: o.ID, Upto: c.Upto, Select: c.Select, Top: c.Top, Issued: s.now().Unix()})
	}
	writeJSON(w, http.StatusOK, body)
}

// DeleteUser soft-deletes a user in a tenant, as a customer admin might; the next users delta
// round reports it as removed.
func (s *Server) DeleteUser(tenantID, userID string) error {
	o := s.dir.byID[strings.ToLower(tenantID)]
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := o.user(userID)
	if u == nil {
		return &notFoundError{"user " + strconv.Quote(userID) + " in tenant " + tenantID}
	}
	u.deleted = true
	s.state.recordUser(o, u)
	return s.persistLocked()
}
