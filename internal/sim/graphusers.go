package sim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Graph users: list (GET /users), get (GET /users/{id | userPrincipalName}) and change
// tracking (GET /users/delta).

const (
	// Listing users with signInActivity returns at most 500 users a page ("List users":
	// 500 when signInActivity is selected or filtered on), whatever $top says.
	signInActivityMaxPage = 500
	// users/delta pages hold at most 200 users; Prefer: odata.maxpagesize lowers that. ($top
	// is not supported by users/delta and is ignored.)
	deltaMaxPage = 200
	// Delta tokens of directory objects are valid for seven days.
	deltaTokenLifetime = 7 * 24 * time.Hour
)

// selection is a parsed $select: indexes into userProps, and the canonical names for
// @odata.context and delta tokens. Empty means Graph's default properties.
type selection struct {
	props []int
	names []string
}

var defaultSelection = func() selection {
	var sel selection
	for i := range defaultUserPropCount {
		sel.props = append(sel.props, i)
	}
	return sel
}()

func (sel selection) has(name string) bool { return slices.Contains(sel.names, name) }

// parseSelect validates a $select list. signInActivity needs an Entra ID P1/P2 tenant and
// cannot be tracked by users/delta.
func (s *Server) parseSelect(w http.ResponseWriter, raw string, o *org, delta bool) (selection, bool) {
	if raw == "" {
		return defaultSelection, true
	}
	var sel selection
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		i, ok := userPropIndex[strings.ToLower(p)]
		if !ok {
			s.writeGraphError(w, http.StatusBadRequest, "BadRequest", "Could not find a property named '%s' on type 'microsoft.graph.user'.", p)
			return selection{}, false
		}
		if slices.Contains(sel.props, i) {
			continue
		}
		if delta && userProps[i].listOnly {
			s.writeGraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "Property '%s' is not supported for change tracking on resource 'User'.", userProps[i].name)
			return selection{}, false
		}
		sel.props = append(sel.props, i)
		sel.names = append(sel.names, userProps[i].name)
	}
	if !sel.has("signInActivity") {
		return sel, true
	}
	s.mu.Lock()
	s.stats.SignInActivityRequestsByTenant[o.ID]++
	premium := o.PremiumLicence
	s.mu.Unlock()
	if !premium {
		s.writeGraphError(w, http.StatusForbidden, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", "Neither tenant is B2C or tenant doesn't have premium license")
		return selection{}, false
	}
	return sel, true
}

func selectionOf(names []string) selection {
	if len(names) == 0 {
		return defaultSelection
	}
	sel := selection{names: names}
	for _, n := range names {
		sel.props = append(sel.props, userPropIndex[strings.ToLower(n)])
	}
	return sel
}

func usersContext(base string, sel selection) string {
	if len(sel.names) == 0 {
		return base + "/v1.0/$metadata#users"
	}
	return base + "/v1.0/$metadata#users(" + strings.Join(sel.names, ",") + ")"
}

// graphPage is a collection response under construction, in a pooled buffer: annotations,
// then the value array appended to directly, then the paging link.
type graphPage struct {
	buf   *[]byte
	b     []byte
	items int
}

var pageBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

func newGraphPage(context string) *graphPage {
	p := &graphPage{buf: pageBuffers.Get().(*[]byte)}
	p.b = append((*p.buf)[:0], `{"@odata.context":`...)
	p.b = appendJSONString(p.b, context)
	return p
}

// annotate adds an annotation such as @odata.count or a link.
func (p *graphPage) annotate(name string, value []byte) {
	p.b = append(p.b, `,"`...)
	p.b = append(p.b, name...)
	p.b = append(p.b, `":`...)
	p.b = append(p.b, value...)
}

func (p *graphPage) link(name, u string) {
	p.b = append(p.b, `,"`...)
	p.b = append(p.b, name...)
	p.b = append(p.b, `":`...)
	p.b = appendJSONString(p.b, u)
}

func (p *graphPage) startValue() { p.b = append(p.b, `,"value":[`...) }

// next starts another item of value.
func (p *graphPage) next() {
	if p.items > 0 {
		p.b = append(p.b, ',')
	}
	p.items++
}

func (p *graphPage) endValue() { p.b = append(p.b, ']') }

func (p *graphPage) write(w http.ResponseWriter) {
	p.b = append(p.b, "}\n"...)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.Header().Set("Content-Length", strconv.Itoa(len(p.b)))
	w.WriteHeader(http.StatusOK)
	w.Write(p.b)
	if cap(p.b) <= 4<<20 { // keep ordinary pages' buffers, not freak ones
		*p.buf = p.b[:0]
		pageBuffers.Put(p.buf)
	}
}

// graphUsers lists users with $select, $filter, $top and $skiptoken paging. With the advanced
// query parameters (ConsistencyLevel: eventual and $count=true) the first page carries
// @odata.count and $filter accepts more operators and properties.
func (s *Server) graphUsers(w http.ResponseWriter, r *http.Request, call graphCall) {
	o, q := call.org, r.URL.Query()
	sel, ok := s.parseSelect(w, q.Get("$select"), o, false)
	if !ok {
		return
	}
	eventual := strings.EqualFold(r.Header.Get("ConsistencyLevel"), "eventual")
	advanced := eventual && strings.EqualFold(q.Get("$count"), "true")
	match, ids, ok := s.parseUserFilter(w, q.Get("$filter"), advanced)
	if !ok {
		return
	}
	uq, ok := s.parseUserQuery(w, q, eventual, advanced, q.Get("$filter") != "")
	if !ok {
		return
	}
	if uq.search != nil {
		filter, search := match, uq.search
		match, ids = func(u *dirUser) bool { return filter(u) && search(u) }, nil
	}
	top, start, ok := s.pageParams(w, r, call, "users")
	if !ok {
		return
	}
	if sel.has("signInActivity") {
		top = min(top, signInActivityMaxPage)
	}

	page := newGraphPage(usersContext(s.base, sel))
	s.mu.Lock()
	if (advanced || uq.search != nil && strings.EqualFold(q.Get("$count"), "true")) && start == 0 {
		n := 0
		for _, u := range o.users {
			if u.alive() && match(u) {
				n++
			}
		}
		page.annotate("@odata.count", strconv.AppendInt(nil, int64(n), 10))
	}
	page.startValue()
	next := -1
	users := o.users
	if ids != nil && start == 0 && len(ids) <= top {
		users = users[:0:0]
		for _, id := range ids {
			if u := o.byID[strings.ToLower(id)]; u != nil && !slices.Contains(users, u) {
				users = append(users, u)
			}
		}
	}
	if uq.order != nil {
		// Sorted pages are offsets into the sorted matches; the nextLink repeats the query.
		sorted := make([]*dirUser, 0, len(users))
		for _, u := range users {
			if u.alive() && match(u) {
				sorted = append(sorted, u)
			}
		}
		slices.SortStableFunc(sorted, uq.order)
		users = sorted
	}
	for i := start; i < len(users); i++ {
		u := users[i]
		if !u.alive() || !match(u) {
			continue
		}
		if page.items == top {
			next = i
			break
		}
		page.next()
		page.b = appendExpanded(appendUser(page.b, u, sel.props, entityForm), o, u, uq.expand)
	}
	if ids != nil {
		s.stats.UsersByIDRequests++
		s.stats.UsersReadByID += page.items
	}
	s.mu.Unlock()
	page.endValue()
	if next >= 0 {
		q.Set("$top", strconv.Itoa(top))
		q.Set("$skiptoken", s.sign.seal(purposeCursor, graphCursor{Tenant: o.ID, Path: "users", Offset: next}))
		page.link("@odata.nextLink", s.base+"/v1.0/users?"+odataQuery(q))
	}
	page.write(w)
}

func (s *Server) graphUser(w http.ResponseWriter, r *http.Request, call graphCall) {
	switch r.PathValue("user") {
	case "delta()", "delta", "microsoft.graph.delta()", "microsoft.graph.delta":
		s.graphUsersDelta(w, r, call)
		return
	}
	sel, ok := s.parseSelect(w, r.URL.Query().Get("$select"), call.org, false)
	if !ok {
		return
	}
	var expand []string
	if raw := r.URL.Query().Get("$expand"); raw != "" {
		if expand, ok = s.parseExpand(w, raw); !ok {
			return
		}
	}
	s.mu.Lock()
	u := call.org.user(r.PathValue("user"))
	var body []byte
	if u != nil {
		body = append(body, `{"@odata.context":`...)
		body = appendJSONString(body, usersContext(s.base, sel)+"/$entity")
		body = append(body, ',')
		body = append(body, appendExpanded(appendUser(nil, u, sel.props, entityForm), call.org, u, expand)[1:]...)
	}
	s.mu.Unlock()
	if u == nil {
		s.writeUserNotFound(w, r.PathValue("user"))
		return
	}
	writeRawJSON(w, body)
}

func (s *Server) writeUserNotFound(w http.ResponseWriter, id string) {
	s.writeGraphError(w, http.StatusNotFound, "Request_ResourceNotFound", "Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)
}

func writeRawJSON(w http.ResponseWriter, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(http.StatusOK)
	w.Write(append(body, '\n'))
}

// deltaCursor is both the $skiptoken between pages of a delta round and the $deltatoken that
// starts the next round. A round reports users changed after Since (every user when Full) up
// to Upto, the tenant version when the round began; later changes wait for the next round.
type deltaCursor struct {
	Kind   string   `json:"k"` // "skip" or "delta"
	Tenant string   `json:"t"`
	Since  int64    `json:"s"`
	Upto   int64    `json:"u"`
	Full   bool     `json:"f,omitempty"`
	Pos    int      `json:"p,omitempty"` // full rounds: next index into org.users
	After  int64    `json:"a,omitempty"` // other rounds: version of the last change reported
	Select []string `json:"sel,omitempty"`
	IDs    []string `json:"ids,omitempty"` // $filter=id eq '…' or …
	Issued int64    `json:"i"`             // unix nanoseconds, for the 7-day lifetime and sync resets
}

func (s *Server) graphUsersDelta(w http.ResponseWriter, r *http.Request, call graphCall) {
	s.mu.Lock()
	s.stats.DeltaRequestsByTenant[call.org.ID]++
	s.mu.Unlock()
	if s.serveRecorded(w, r, call.org) {
		return
	}
	o, q := call.org, r.URL.Query()
	now := s.now()
	var c deltaCursor
	switch dt, st := q.Get("$deltatoken"), q.Get("$skiptoken"); {
	case st != "" || dt != "" && dt != "latest":
		kind, tok := "skip", st
		if st == "" {
			kind, tok = "delta", dt
		}
		if s.sign.open(purposeDelta, tok, &c) != nil || c.Kind != kind || c.Tenant != o.ID || !s.deltaTokenValid(o, c, now) {
			s.syncReset(w, c)
			return
		}
		if kind == "delta" {
			s.mu.Lock()
			c = deltaCursor{Kind: "skip", Tenant: o.ID, Since: c.Upto, After: c.Upto, Upto: o.version, Select: c.Select, IDs: c.IDs, Issued: now.UnixNano()}
			s.mu.Unlock()
		}
	default:
		sel, ok := s.parseSelect(w, q.Get("$select"), o, true)
		if !ok {
			return
		}
		ids, ok := s.parseDeltaFilter(w, q.Get("$filter"))
		if !ok {
			return
		}
		s.mu.Lock()
		c = deltaCursor{Kind: "skip", Tenant: o.ID, Full: true, Upto: o.version, Select: sel.names, IDs: ids, Issued: now.UnixNano()}
		s.mu.Unlock()
		if dt == "latest" {
			// "Sync from now": no resources, only the deltaLink for changes from here on.
			c.Full, c.Since = false, c.Upto
			s.writeDeltaPage(w, r, o, c, true)
			return
		}
	}
	s.writeDeltaPage(w, r, o, c, false)
}

// writeDeltaPage serves one page of the round c; empty writes no users and ends the round.
func (s *Server) writeDeltaPage(w http.ResponseWriter, r *http.Request, o *org, c deltaCursor, empty bool) {
	size := deltaMaxPage
	if n, ok := preferredPageSize(r); ok {
		size = min(n, deltaMaxPage)
		w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(size))
	}
	minimal := s.deltaMinimal(r)
	sel := selectionOf(c.Select)
	var only map[string]bool
	if len(c.IDs) > 0 {
		only = make(map[string]bool, len(c.IDs))
		for _, id := range c.IDs {
			only[id] = true
		}
	}
	page := newGraphPage(usersContext(s.base, sel))
	page.startValue()
	more := false
	s.mu.Lock()
	if c.Full {
		// A user deleted or changed after the round began keeps its place and shows as it is
		// now (a deleted one as @removed, which Graph documents for initial rounds too), so
		// later pages never skip anyone; the next round reports the change again.
		i := c.Pos
		for ; i < len(o.users) && !empty; i++ {
			u := o.users[i]
			if u.created > c.Upto || !u.alive() && u.version <= c.Upto || only != nil && !only[u.ID] {
				continue
			}
			if page.items == size {
				more = true
				break
			}
			page.next()
			if u.alive() {
				page.b = appendUser(page.b, u, sel.props, deltaForm)
			} else {
				page.b = appendRemoved(page.b, u)
			}
		}
		c.Pos = i
	} else {
		// Only a user's latest change counts; users changed again after the round began are
		// left to the next round. A user who existed at the token comes with every selected
		// property (old values where unchanged, never-set ones left out), or under Prefer:
		// return=minimal with only those changed since; a newer one whole.
		var changed []int
		for j := o.changedSince(c.After); j < len(o.changes) && !empty; j++ {
			ch := o.changes[j]
			if ch.version > c.Upto {
				break
			}
			if ch.version != ch.user.version || only != nil && !only[ch.user.ID] {
				continue
			}
			if page.items == size {
				more = true
				break
			}
			page.next()
			switch u := ch.user; {
			case !u.alive():
				page.b = appendRemoved(page.b, u)
			case u.created > c.Since:
				page.b = appendUser(page.b, u, sel.props, deltaForm)
			case !minimal:
				page.b = appendUser(page.b, u, sel.props, selectedForm)
			default:
				changed = changed[:0]
				for _, i := range sel.props {
					if u.changedSince(i, c.Since) {
						changed = append(changed, i)
					}
				}
				page.b = appendUser(page.b, u, changed, updateForm)
			}
			c.After = ch.version
		}
	}
	s.mu.Unlock()
	page.endValue()

	link := s.base + "/v1.0/users/delta?"
	if more {
		page.link("@odata.nextLink", link+"$skiptoken="+s.sign.seal(purposeDelta, c))
	} else {
		page.link("@odata.deltaLink", link+"$deltatoken="+s.sign.seal(purposeDelta, deltaCursor{
			Kind: "delta", Tenant: o.ID, Upto: c.Upto, Select: c.Select, IDs: c.IDs, Issued: s.now().UnixNano()}))
	}
	page.write(w)
}

// deltaTokenValid applies the seven-day lifetime (from the round's start for skip tokens) and
// any sync reset of the tenant.
func (s *Server) deltaTokenValid(o *org, c deltaCursor, now time.Time) bool {
	issued := time.Unix(0, c.Issued)
	if now.Sub(issued) > deltaTokenLifetime {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tc := s.state.Tenants[o.ID]
	return tc == nil || !issued.Before(tc.DeltaTokensValidFrom)
}

// syncReset answers an expired or unknown state token: 410 Gone with a Location that starts a
// full synchronization (an empty $deltatoken, the round's $select kept), as Graph does for
// directory objects.
func (s *Server) syncReset(w http.ResponseWriter, c deltaCursor) {
	loc := s.base + "/v1.0/users/delta?$deltatoken="
	if len(c.Select) > 0 {
		loc += "&$select=" + strings.Join(c.Select, ",")
	}
	w.Header().Set("Location", loc)
	s.writeGraphError(w, http.StatusGone, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
}

// preferredPageSize reads Prefer: odata.maxpagesize=N.
func preferredPageSize(r *http.Request) (int, bool) {
	if n, err := strconv.Atoi(preference(r, "odata.maxpagesize")); err == nil && n > 0 {
		return n, true
	}
	return 0, false
}

// preference returns the value of one preference of the Prefer headers, "" if none.
func preference(r *http.Request, name string) string {
	for _, h := range r.Header.Values("Prefer") {
		for _, p := range strings.Split(h, ",") {
			if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(strings.TrimSpace(k), name) {
				return strings.TrimSpace(v)
			}
		}
	}
	return ""
}

// Modes for SetDeltaResponses.
const (
	DeltaAsRequested = ""        // as each request's Prefer header asks, as Graph does
	DeltaDefault     = "default" // every selected property, whatever the request prefers
	DeltaMinimal     = "minimal" // only the changed properties, as if every request sent Prefer: return=minimal
)

// SetDeltaResponses makes users/delta answer updated users in one mode whatever the requests
// prefer, so that a test can serve a client both of Graph's documented forms.
func (s *Server) SetDeltaResponses(mode string) error {
	switch mode {
	case DeltaAsRequested, DeltaDefault, DeltaMinimal:
	default:
		return fmt.Errorf("sim: delta response mode %q is not %q, %q or %q (as requested)", mode, DeltaDefault, DeltaMinimal, DeltaAsRequested)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deltaResponses = mode
	return nil
}

// deltaMinimal reports whether users/delta answers r with only the changed properties of an
// updated user: Prefer: return=minimal asks for it (on any request of a round; it changes
// only what each page shows), unless SetDeltaResponses decided otherwise.
func (s *Server) deltaMinimal(r *http.Request) bool {
	s.mu.Lock()
	mode := s.deltaResponses
	s.mu.Unlock()
	if mode != DeltaAsRequested {
		return mode == DeltaMinimal
	}
	return strings.EqualFold(preference(r, "return"), "minimal")
}

// maxDeltaFilterIDs is how many objects a users/delta scoping filter may name.
const maxDeltaFilterIDs = 50

// parseDeltaFilter accepts the one $filter users/delta supports: id eq '…' joined by or.
func (s *Server) parseDeltaFilter(w http.ResponseWriter, raw string) ([]string, bool) {
	if raw == "" {
		return nil, true
	}
	var ids []string
	for _, clause := range splitFold(raw, " or ") {
		f := strings.Fields(clause)
		if len(f) != 3 || !strings.EqualFold(f[0], "id") || !strings.EqualFold(f[1], "eq") ||
			len(f[2]) < 2 || f[2][0] != '\'' || f[2][len(f[2])-1] != '\'' {
			s.writeGraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property '%s' of resource 'User'. Change tracking of users only filters by object id: id eq '{id}' or id eq '{id}'.", strings.TrimSpace(clause))
			return nil, false
		}
		ids = append(ids, strings.Trim(f[2], "'"))
	}
	if len(ids) > maxDeltaFilterIDs {
		s.writeGraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "Too many objects in the filter: %d; change tracking filters by at most %d object ids.", len(ids), maxDeltaFilterIDs)
		return nil, false
	}
	return ids, true
}

// splitFold splits s around sep, ignoring case.
func splitFold(s, sep string) []string {
	var parts []string
	lower := strings.ToLower(s)
	for {
		i := strings.Index(lower, sep)
		if i < 0 {
			return append(parts, s)
		}
		parts = append(parts, s[:i])
		s, lower = s[i+len(sep):], lower[i+len(sep):]
	}
}
