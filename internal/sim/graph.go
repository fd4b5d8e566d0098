package sim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Microsoft Graph v1.0, the directory subset cspsync reads and writes. Requests are answered
// for the tenant in the token's tid claim, as Graph does.

type graphErrorBody struct {
	Error graphError `json:"error"`
}

type graphError struct {
	Code       string          `json:"code"`
	Message    string          `json:"message"`
	InnerError graphInnerError `json:"innerError"`
}

type graphInnerError struct {
	Date            string `json:"date"`
	RequestID       string `json:"request-id"`
	ClientRequestID string `json:"client-request-id"`
}

func (s *Server) writeGraphError(w http.ResponseWriter, status int, code, format string, args ...any) {
	writeJSON(w, status, graphErrorBody{graphError{
		Code: code, Message: fmt.Sprintf(format, args...),
		InnerError: graphInnerError{
			Date:      s.now().UTC().Format("2006-01-02T15:04:05"),
			RequestID: w.Header().Get("request-id"), ClientRequestID: w.Header().Get("client-request-id"),
		},
	}})
}

// graphCall is what a Graph handler needs beyond the request: the tenant and the caller.
type graphCall struct {
	org    *org
	claims accessClaims
}

type graphHandler func(http.ResponseWriter, *http.Request, graphCall)

// graph wraps a handler with request ids, counting, fault injection and token validation.
func (s *Server) graph(h graphHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		reqID := newUUID()
		clientReqID := r.Header.Get("client-request-id")
		if clientReqID == "" {
			clientReqID = reqID
		}
		w.Header().Set("request-id", reqID)
		w.Header().Set("client-request-id", clientReqID)
		s.mu.Lock()
		s.stats.GraphRequests++
		s.countRequest(APIGraph)
		s.mu.Unlock()
		if s.injectFault(w, r, APIGraph) {
			return
		}
		call, ok := s.graphAuthenticate(w, r)
		if !ok {
			return
		}
		s.mu.Lock()
		s.stats.GraphRequestsByTenant[call.org.ID]++
		s.mu.Unlock()
		// Answering as if an unsupported option were applied would hand back wrong data, so
		// refuse loudly instead. List users takes $search, $orderby and $expand (userquery.go),
		// get user $expand; users/delta none of them, as documented.
		refused := []string{"$skip"}
		switch {
		case r.URL.Path == "/v1.0/users":
		case r.URL.Path == "/v1.0/groups":
			refused = append(refused, "$search", "$orderby", "$expand")
		case strings.HasPrefix(r.URL.Path, "/v1.0/groups/delta"):
			refused = append(refused, "$search", "$orderby", "$count") // $expand=members: groups.go
		case usersCollection(r.URL.Path):
			for _, opt := range []string{"$search", "$orderby", "$expand", "$top"} {
				if r.URL.Query().Has(opt) && opt != "$top" { // $top is ignored by users/delta
					s.writeGraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "The query option %s is not supported by users/delta.", opt)
					return
				}
			}
		case strings.HasPrefix(r.URL.Path, "/v1.0/users/") && strings.Count(r.URL.Path, "/") == 3:
			refused = append(refused, "$search", "$orderby", "$filter", "$count")
		default:
			refused = append(refused, "$search", "$orderby", "$expand", "$filter", "$count")
		}
		for _, opt := range refused {
			if r.URL.Query().Has(opt) {
				s.writeGraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "The cspsync simulator does not support the %s query option here.", opt)
				return
			}
		}
		if !s.throttle(w, r, call) {
			return
		}
		h(w, r, call)
	}
}

func (s *Server) graphAuthenticate(w http.ResponseWriter, r *http.Request) (graphCall, bool) {
	unauthorized := func(code, msg string) (graphCall, bool) {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="", authorization_uri="%s/common/oauth2/authorize", client_id="%s"`, s.base, resGraph.appID))
		s.writeGraphError(w, http.StatusUnauthorized, code, "%s", msg)
		return graphCall{}, false
	}
	tok, ok := bearerToken(r)
	if !ok {
		return unauthorized("InvalidAuthenticationToken", "Access token is empty.")
	}
	var c accessClaims
	switch err := s.sign.parseJWT(tok, &c); {
	case err == errMalformed:
		return unauthorized("InvalidAuthenticationToken", "CompactToken parsing failed with error code: 80049217")
	case err != nil:
		return unauthorized("InvalidAuthenticationToken", "Access token validation failure.")
	case s.now().Unix() >= c.Exp || c.Iat < s.accessTokensValidFrom():
		return unauthorized("InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
	case c.Aud != resGraph.aud && c.Aud != resGraph.appID:
		return unauthorized("InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
	}
	o := s.dir.byID[c.Tid]
	if o == nil {
		return unauthorized("InvalidAuthenticationToken", "Access token validation failure. Invalid issuer.")
	}
	// An app-only token outlives the consent it was issued under; Graph then no longer finds
	// the app's service principal in the tenant.
	if c.IDTyp == "app" && !s.consented(o) {
		return unauthorized("Authorization_IdentityNotFound", "The identity of the calling application could not be established.")
	}
	return graphCall{org: o, claims: c}, true
}

func (s *Server) accessTokensValidFrom() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.AccessTokensValidFrom.IsZero() {
		return 0
	}
	return s.state.AccessTokensValidFrom.Unix()
}

// usersCollection reports the paths that apply $filter and $count: list users and users/delta.
func usersCollection(path string) bool {
	switch strings.TrimPrefix(path, "/v1.0/users") {
	case "", "/delta()", "/delta", "/microsoft.graph.delta()", "/microsoft.graph.delta":
		return true
	}
	return false
}

func (s *Server) graphNotFound(w http.ResponseWriter, r *http.Request, _ graphCall) {
	seg := strings.TrimPrefix(r.URL.Path, "/v1.0/")
	seg, _, _ = strings.Cut(seg, "/")
	s.writeGraphError(w, http.StatusBadRequest, "BadRequest", "Resource not found for the segment '%s'.", seg)
}

func (s *Server) graphSubscribedSkus(w http.ResponseWriter, r *http.Request, call graphCall) {
	o := call.org
	value := make([]map[string]any, 0, len(o.Skus))
	s.mu.Lock()
	for i := range o.Skus {
		k := &o.Skus[i]
		u := o.units(k) // licences.go: the same units Partner Center reports
		plans := make([]map[string]any, 0, len(k.ServicePlans))
		for _, p := range k.ServicePlans {
			plans = append(plans, map[string]any{"servicePlanId": p.ID, "servicePlanName": p.Name, "provisioningStatus": "Success", "appliesTo": "User"})
		}
		account, _, _ := strings.Cut(o.Domain, ".")
		value = append(value, map[string]any{
			"accountName": account, "accountId": o.ID, "appliesTo": "User", "capabilityStatus": u.capabilityStatus(),
			"consumedUnits": u.Consumed, "id": o.ID + "_" + k.SkuID,
			"prepaidUnits": map[string]int{
				"enabled": u.Enabled, "lockedOut": u.LockedOut, "suspended": u.Suspended, "warning": u.Warning,
			},
			"servicePlans": plans, "skuId": k.SkuID, "skuPartNumber": k.PartNumber, "subscriptionIds": o.subscriptionIDs(k.SkuID),
		})
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"@odata.context": s.base + "/v1.0/$metadata#subscribedSkus", "value": value})
}

// writePage answers a collection with $top/$skiptoken paging; nextLink is absolute on this host
// and repeats the query, as Graph's do.
// context is the @odata.context fragment, which differs from path when $select applies.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, call graphCall, path, context string, items []map[string]any) {
	s.writeCollection(w, r, call, path, s.base+"/v1.0/$metadata#"+context, items, graphMaxPage)
}

// writeCollection is writePage for an API with its own @odata.context URL and $top limit.
func (s *Server) writeCollection(w http.ResponseWriter, r *http.Request, call graphCall, path, contextURL string, items []map[string]any, maxTop int) {
	top, offset, ok := s.pageParamsUpTo(w, r, call, path, maxTop)
	if !ok {
		return
	}
	end := min(offset+top, len(items))
	body := map[string]any{
		"@odata.context": contextURL,
		"value":          orEmpty(items[min(offset, len(items)):end]),
	}
	if end < len(items) {
		q := r.URL.Query()
		q.Del("$skiptoken")
		q.Set("$top", strconv.Itoa(top))
		q.Set("$skiptoken", s.sign.seal(purposeCursor, graphCursor{Tenant: call.org.ID, Path: path, Offset: end}))
		body["@odata.nextLink"] = s.base + "/v1.0/" + path + "?" + odataQuery(q)
	}
	writeJSON(w, http.StatusOK, body)
}

func orEmpty(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

// graphCursor is a $skiptoken: the offset into one tenant's collection.
type graphCursor struct {
	Tenant string `json:"t"`
	Path   string `json:"p"`
	Offset int    `json:"o"`
}

const (
	graphDefaultPage = 100
	graphMaxPage     = 999
)

func (s *Server) pageParams(w http.ResponseWriter, r *http.Request, call graphCall, path string) (top, offset int, ok bool) {
	return s.pageParamsUpTo(w, r, call, path, graphMaxPage)
}

func (s *Server) pageParamsUpTo(w http.ResponseWriter, r *http.Request, call graphCall, path string, maxTop int) (top, offset int, ok bool) {
	q := r.URL.Query()
	top = min(graphDefaultPage, maxTop)
	if v := q.Get("$top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxTop {
			s.writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid page size specified: '%s'. Must be between 1 and %d inclusive.", v, maxTop)
			return 0, 0, false
		}
		top = n
	}
	if v := q.Get("$skiptoken"); v != "" {
		var c graphCursor
		if s.sign.open(purposeCursor, v, &c) != nil || c.Tenant != call.org.ID || c.Path != path {
			s.writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "The specified page token value has expired and can no longer be included in your request.")
			return 0, 0, false
		}
		offset = c.Offset
	}
	return top, offset, true
}

// odataQuery encodes a query keeping OData's "$" option names and $select commas readable,
// like Graph's links.
func odataQuery(q map[string][]string) string {
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(strings.ReplaceAll(url.QueryEscape(k), "%24", "$"))
			b.WriteByte('=')
			b.WriteString(strings.ReplaceAll(url.QueryEscape(v), "%2C", ","))
		}
	}
	return b.String()
}

type assignedLicense struct {
	DisabledPlans []string `json:"disabledPlans"`
	SkuID         string   `json:"skuId"`
}

func (s *Server) graphAssignLicense(w http.ResponseWriter, r *http.Request, call graphCall) {
	if !s.mayWriteLicences(w, call) {
		return
	}
	var body struct {
		AddLicenses    *[]assignedLicense `json:"addLicenses"`
		RemoveLicenses *[]string          `json:"removeLicenses"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		s.writeGraphError(w, http.StatusBadRequest, "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.")
		return
	}
	// Graph requires both lists, even empty; the Go SDK omits nil slices, which then fails here.
	for _, p := range []struct {
		name    string
		missing bool
	}{{"addLicenses", body.AddLicenses == nil}, {"removeLicenses", body.RemoveLicenses == nil}} {
		if p.missing {
			s.writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Invalid value specified for property '%s' of resource 'User'.", p.name)
			return
		}
	}
	o := call.org
	s.mu.Lock()
	defer s.mu.Unlock()
	u := o.user(r.PathValue("user"))
	if u == nil {
		s.writeUserNotFound(w, r.PathValue("user"))
		return
	}
	next := slices.Clone(u.AssignedSkuIDs)
	for _, id := range *body.RemoveLicenses {
		i := slices.IndexFunc(next, func(have string) bool { return strings.EqualFold(have, id) })
		if i < 0 {
			s.writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "User does not have a corresponding license.")
			return
		}
		next = slices.Delete(next, i, i+1)
	}
	for _, l := range *body.AddLicenses {
		k := o.sku(l.SkuID)
		switch {
		case k == nil:
			s.writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "License %s does not correspond to a valid company License.", l.SkuID)
			return
		case u.UsageLocation == "":
			s.writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "License assignment cannot be done for user with invalid usage location.")
			return
		case slices.Contains(next, k.SkuID):
			continue
		case o.units(k).available() <= 0:
			s.writeGraphError(w, http.StatusBadRequest, "Request_BadRequest", "Subscription with SKU %s does not have any available licenses.", k.SkuID)
			return
		}
		next = append(next, k.SkuID)
	}
	before := u.snapshot()
	u.AssignedSkuIDs = next
	s.state.recordUser(o, u, before)
	s.persistLocked()
	s.holdAssignReply(r)
	// The user as "user: assignLicense" shows it: the default properties with his account
	// state, licences and the plans they assign.
	reply := appendJSONString([]byte(`{"@odata.context":`), s.base+"/v1.0/$metadata#users/$entity")
	reply = append(reply, ',')
	props := slices.Clone(defaultSelection.props)
	for _, name := range []string{"accountenabled", "assignedlicenses", "city", "companyname"} {
		props = append(props, userPropIndex[name])
	}
	user := appendUser(nil, u, props, entityForm)
	user = append(user[:len(user)-1], `,"assignedPlans":[`...)
	n := 0
	for _, id := range u.AssignedSkuIDs {
		k := o.sku(id)
		if k == nil {
			continue
		}
		status := o.units(k).capabilityStatus()
		for _, p := range k.ServicePlans {
			if n > 0 {
				user = append(user, ',')
			}
			n++
			user = append(user, `{"assignedDateTime":`...)
			user = appendJSONTime(user, s.now())
			user = append(user, `,"capabilityStatus":`...)
			user = appendJSONString(user, status)
			user = append(user, `,"service":`...)
			user = appendJSONString(user, p.Name)
			user = append(user, `,"servicePlanId":`...)
			user = appendJSONString(user, p.ID)
			user = append(user, '}')
		}
	}
	writeRawJSON(w, append(reply, append(user, "]}"...)[1:]...))
}
