package sim

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Graph groups: list (GET /groups, $filter on displayName) and change tracking (GET
// /groups/delta with members@delta). Membership lives on the users (TenantUser.MemberOf, what
// memberOf lists); a change of membership is logged per tenant (org.memberChanges) without
// changing the user object, so users/delta does not report it, as in Microsoft Graph, while
// groups/delta does: a member added, or one removed (taken out of the group, or the user
// deleted) with "@removed": {"reason": "deleted"}.

const (
	// groupDeltaMembersPerPage bounds the members@delta entries of a groups/delta page: a large
	// group's members come over several pages, the group repeated on each ("Paging through
	// members in a large group" in Microsoft's delta query for groups). Microsoft does not
	// document the figure; this one keeps the sim's pages near users/delta's.
	groupDeltaMembersPerPage = 500
)

// memberChange is a change of one user's membership of one group, at an org version.
type memberChange struct {
	Version int64  `json:"version"`
	Group   string `json:"group"`
	User    string `json:"user"`
}

// groupItem is one group of a groups/delta answer with the member entries it carries on one page.
type groupItem struct {
	group   *Group
	members []memberEntry
}

type memberEntry struct {
	id      string
	removed bool
}

// isMember reports whether u is a member of group id now.
func isMember(u *dirUser, id string) bool { return u.alive() && slices.Contains(u.MemberOf, id) }

// groupList lists the tenant's groups in creation order (scenario groups first).
func (o *org) groupList() []*Group {
	var out []*Group
	for i := range o.Tenant.Groups {
		if m, ok := o.groups[o.Tenant.Groups[i].ID]; ok && m.group != nil {
			out = append(out, m.group)
		}
	}
	return out
}

// members lists group id's current members in user creation order.
func (o *org) members(id string) []string {
	var out []string
	for _, u := range o.users {
		if isMember(u, id) {
			out = append(out, u.ID)
		}
	}
	return out
}

// logMembership records that u's membership of his groups changed at the org's version (he
// was deleted or restored); the caller holds Server.mu.
func (o *org) logMembership(u *dirUser) {
	for _, g := range u.MemberOf {
		if m, ok := o.groups[g]; ok && m.group != nil {
			o.memberChanges = append(o.memberChanges, memberChange{Version: o.version, Group: g, User: u.ID})
		}
	}
}

// CreateGroup adds a security group to a tenant (id "" : a new one) and returns it. The next
// groups/delta round reports it with its members.
func (s *Server) CreateGroup(tenantID string, g Group) (Group, error) {
	o := s.dir.byID[strings.ToLower(tenantID)]
	if o == nil {
		return Group{}, errUnknownTenant(tenantID)
	}
	if strings.TrimSpace(g.DisplayName) == "" {
		return Group{}, fmt.Errorf("sim: a group needs a displayName")
	}
	if g.ID == "" {
		g.ID = newUUID()
	}
	if g.MailNickname == "" {
		g.MailNickname = strings.ReplaceAll(strings.ToLower(g.DisplayName), " ", "")
	}
	if !g.MailEnabled && !g.Unified {
		g.SecurityEnabled = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := o.groups[g.ID]; ok {
		return Group{}, fmt.Errorf("sim: tenant %s already has an object %s", tenantID, g.ID)
	}
	if g.CreatedDateTime.IsZero() {
		g.CreatedDateTime = s.now().UTC().Truncate(time.Second)
	}
	o.addGroup(g, o.nextVersion())
	tc := s.state.tenant(o)
	tc.Version = o.version
	tc.Groups = append(tc.Groups, createdGroup{Group: g, Version: o.version})
	return g, s.persistLocked()
}

// nextVersion counts a change in the tenant that touches no user object.
func (o *org) nextVersion() int64 {
	o.version++
	return o.version
}

func (o *org) addGroup(g Group, version int64) {
	p := &g
	o.Tenant.Groups = append(o.Tenant.Groups, g)
	o.groups[g.ID] = memberObject{group: p}
	if o.groupCreated == nil {
		o.groupCreated = map[string]int64{}
	}
	o.groupCreated[g.ID] = version
}

// AddGroupMember makes a user a member of a group (nothing changes when he is one already);
// RemoveGroupMember takes him out. Neither changes the user object: users/delta does not
// report it, groups/delta does.
func (s *Server) AddGroupMember(tenantID, groupID, userID string) error {
	return s.setMember(tenantID, groupID, userID, true)
}

// RemoveGroupMember: see AddGroupMember.
func (s *Server) RemoveGroupMember(tenantID, groupID, userID string) error {
	return s.setMember(tenantID, groupID, userID, false)
}

func (s *Server) setMember(tenantID, groupID, userID string, member bool) error {
	o := s.dir.byID[strings.ToLower(tenantID)]
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m, ok := o.groups[groupID]; !ok || m.group == nil {
		return &notFoundError{"group " + strconv.Quote(groupID) + " in tenant " + tenantID}
	}
	u := o.user(userID)
	if u == nil {
		return &notFoundError{"user " + strconv.Quote(userID) + " in tenant " + tenantID}
	}
	if slices.Contains(u.MemberOf, groupID) == member {
		return nil
	}
	if member {
		u.MemberOf = append(slices.Clone(u.MemberOf), groupID)
	} else {
		u.MemberOf = slices.DeleteFunc(slices.Clone(u.MemberOf), func(g string) bool { return g == groupID })
	}
	c := memberChange{Version: o.nextVersion(), Group: groupID, User: u.ID}
	o.memberChanges = append(o.memberChanges, c)
	tc := s.state.tenant(o)
	tc.Version = o.version
	tc.Members = append(tc.Members, memberEntryState{memberChange: c, Member: member})
	return s.persistLocked()
}

// createdGroup and memberEntryState are the persisted forms of runtime group changes.
type createdGroup struct {
	Group
	Version int64 `json:"version"`
}

type memberEntryState struct {
	memberChange
	Member bool `json:"member"`
}

// applyGroups replays a tenant's runtime group changes after a restart.
func (o *org) applyGroups(tc *tenantChange) {
	for _, g := range tc.Groups {
		if _, ok := o.groups[g.ID]; !ok {
			o.addGroup(g.Group, g.Version)
		}
	}
	for _, c := range tc.Members {
		u := o.byID[c.User]
		if u == nil {
			continue
		}
		u.MemberOf = slices.DeleteFunc(slices.Clone(u.MemberOf), func(g string) bool { return g == c.Group })
		if c.Member {
			u.MemberOf = append(u.MemberOf, c.Group)
		}
		o.memberChanges = append(o.memberChanges, c.memberChange)
	}
}

// GET /groups: $filter supports displayName eq '…' (and startswith(displayName, '…')), the
// lookups cspsync makes; $select the group properties memberOf knows.
func (s *Server) graphGroups(w http.ResponseWriter, r *http.Request, call graphCall) {
	s.countGroupRequest()
	q := r.URL.Query()
	match, ok := s.parseGroupFilter(w, q.Get("$filter"))
	if !ok {
		return
	}
	sel, ok := s.parseGroupSelect(w, q.Get("$select"), false)
	if !ok {
		return
	}
	s.mu.Lock()
	var items []map[string]any
	for _, g := range call.org.groupList() {
		if match(g) {
			items = append(items, pickGroup(memberObject{group: g}.json(), sel))
		}
	}
	s.mu.Unlock()
	ctx := "groups"
	if len(sel) > 0 {
		ctx += "(" + strings.Join(sel, ",") + ")"
	}
	s.writePage(w, r, call, "groups", ctx, items)
}

// parseGroupFilter accepts displayName eq '…' and startswith(displayName,'…'), joined by or.
func (s *Server) parseGroupFilter(w http.ResponseWriter, raw string) (func(*Group) bool, bool) {
	if strings.TrimSpace(raw) == "" {
		return func(*Group) bool { return true }, true
	}
	var preds []func(*Group) bool
	for _, clause := range splitFold(raw, " or ") {
		clause = strings.TrimSpace(clause)
		lower := strings.ToLower(clause)
		switch {
		case strings.HasPrefix(lower, "displayname eq '") && strings.HasSuffix(clause, "'"):
			v := unquoteOData(clause[len("displayname eq "):])
			preds = append(preds, func(g *Group) bool { return strings.EqualFold(g.DisplayName, v) })
		case strings.HasPrefix(lower, "startswith(displayname,") && strings.HasSuffix(clause, "')"):
			v := unquoteOData(strings.TrimSpace(clause[len("startswith(displayname,") : len(clause)-1]))
			preds = append(preds, func(g *Group) bool { return strings.HasPrefix(strings.ToLower(g.DisplayName), strings.ToLower(v)) })
		default:
			s.writeGraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "Unsupported or invalid query filter clause specified for property '%s' of resource 'Group'.", clause)
			return nil, false
		}
	}
	return func(g *Group) bool {
		return slices.ContainsFunc(preds, func(p func(*Group) bool) bool { return p(g) })
	}, true
}

// unquoteOData reads an OData string literal ('…' with ” for a quote).
func unquoteOData(lit string) string {
	lit = strings.TrimSpace(lit)
	if len(lit) >= 2 && lit[0] == '\'' && lit[len(lit)-1] == '\'' {
		lit = lit[1 : len(lit)-1]
	}
	return strings.ReplaceAll(lit, "''", "'")
}

// parseGroupSelect validates a groups $select; delta also takes members (the relationship
// whose changes members@delta reports).
func (s *Server) parseGroupSelect(w http.ResponseWriter, raw string, delta bool) ([]string, bool) {
	if raw == "" {
		return nil, true
	}
	var sel []string
	for _, p := range strings.Split(raw, ",") {
		p = strings.TrimSpace(p)
		if delta && strings.EqualFold(p, "members") {
			sel = append(sel, "members")
			continue
		}
		i := slices.IndexFunc(groupProps, func(k string) bool { return strings.EqualFold(k, p) })
		if i < 0 {
			s.writeGraphError(w, http.StatusBadRequest, "BadRequest", "Could not find a property named '%s' on type 'microsoft.graph.group'.", p)
			return nil, false
		}
		if !slices.Contains(sel, groupProps[i]) {
			sel = append(sel, groupProps[i])
		}
	}
	return sel, true
}

// pickGroup keeps the selected properties of a group's JSON (all with no $select); the id
// always comes.
func pickGroup(m map[string]any, sel []string) map[string]any {
	delete(m, "@odata.type")
	if len(sel) == 0 {
		return m
	}
	out := map[string]any{"id": m["id"]}
	for _, k := range sel {
		if v, ok := m[k]; ok {
			out[k] = v
		}
	}
	return out
}

// groupDeltaCursor is the $skiptoken between pages of a groups/delta round and the $deltatoken
// of the next. A round reports the groups created, and the memberships changed, after Since (every
// group with its members when Full), up to Upto; Pos counts the member entries already sent.
type groupDeltaCursor struct {
	Kind   string   `json:"k"` // "skip" or "delta"
	Tenant string   `json:"t"`
	Since  int64    `json:"s"`
	Upto   int64    `json:"u"`
	Full   bool     `json:"f,omitempty"`
	Pos    int      `json:"p,omitempty"`
	Select []string `json:"sel,omitempty"`
	IDs    []string `json:"ids,omitempty"`
	Issued int64    `json:"i"`
}

func (s *Server) graphGroupsDelta(w http.ResponseWriter, r *http.Request, call graphCall) {
	s.countGroupRequest()
	o, q := call.org, r.URL.Query()
	now := s.now()
	var c groupDeltaCursor
	switch dt, st := q.Get("$deltatoken"), q.Get("$skiptoken"); {
	case st != "" || dt != "":
		kind, tok := "skip", st
		if st == "" {
			kind, tok = "delta", dt
		}
		if s.sign.open(purposeGroupDelta, tok, &c) != nil || c.Kind != kind || c.Tenant != o.ID ||
			!s.deltaTokenValid(o, deltaCursor{Issued: c.Issued}, now) {
			loc := s.base + "/v1.0/groups/delta?$deltatoken="
			if len(c.Select) > 0 {
				loc += "&$select=" + strings.Join(c.Select, ",")
			}
			w.Header().Set("Location", loc)
			s.writeGraphError(w, http.StatusGone, "syncStateNotFound", "The sync state generation is not found. The delta token is expired and data must be synchronized again.")
			return
		}
		if kind == "delta" {
			s.mu.Lock()
			c = groupDeltaCursor{Kind: "skip", Tenant: o.ID, Since: c.Upto, Upto: o.version, Select: c.Select, IDs: c.IDs, Issued: now.UnixNano()}
			s.mu.Unlock()
		}
	default:
		sel, ok := s.parseGroupSelect(w, q.Get("$select"), true)
		if !ok {
			return
		}
		// "$expand=members" asks for members@delta as "$select=…,members" does (delta query
		// for groups); nothing else expands here.
		if exp := q.Get("$expand"); exp != "" {
			if !strings.EqualFold(strings.TrimSpace(exp), "members") {
				s.writeGraphError(w, http.StatusBadRequest, "Request_UnsupportedQuery", "The cspsync simulator expands only members in groups/delta, not '%s'.", exp)
				return
			}
			if len(sel) > 0 && !slices.Contains(sel, "members") {
				sel = append(sel, "members")
			}
		}
		ids, ok := s.parseDeltaFilter(w, q.Get("$filter"))
		if !ok {
			return
		}
		s.mu.Lock()
		c = groupDeltaCursor{Kind: "skip", Tenant: o.ID, Full: true, Upto: o.version, Select: sel, IDs: ids, Issued: now.UnixNano()}
		s.mu.Unlock()
	}
	s.mu.Lock()
	items := o.groupDeltaItems(c)
	s.mu.Unlock()
	withMembers := len(c.Select) == 0 || slices.Contains(c.Select, "members")
	props := slices.DeleteFunc(slices.Clone(c.Select), func(k string) bool { return k == "members" })
	// The round is a sequence of positions: each member entry, or the group itself when it
	// has none to report. A page takes the next size of them; a group
	// cut by the page boundary comes again on the next page with the rest of its members.
	type position struct{ item, member int }
	var seq []position
	for i, it := range items {
		if len(it.members) == 0 {
			seq = append(seq, position{i, -1})
		}
		for j := range it.members {
			seq = append(seq, position{i, j})
		}
	}
	size := groupDeltaMembersPerPage
	if n, ok := preferredPageSize(r); ok {
		size = min(n, groupDeltaMembersPerPage)
		w.Header().Set("Preference-Applied", "odata.maxpagesize="+strconv.Itoa(size))
	}
	end := min(len(seq), c.Pos+size)
	var value []map[string]any
	last := -1
	for _, p := range seq[min(c.Pos, len(seq)):end] {
		if p.item != last {
			g := items[p.item].group
			m := pickGroup(memberObject{group: g}.json(), props)
			m["id"] = g.ID
			value = append(value, m)
			last = p.item
		}
		if p.member < 0 || !withMembers {
			continue
		}
		e := items[p.item].members[p.member]
		entry := map[string]any{"@odata.type": "#microsoft.graph.user", "id": e.id}
		if e.removed {
			entry["@removed"] = map[string]string{"reason": "deleted"}
		}
		m := value[len(value)-1]
		list, _ := m["members@delta"].([]map[string]any)
		m["members@delta"] = append(list, entry)
	}
	ctx := s.base + "/v1.0/$metadata#groups"
	if c.Full && c.Pos == 0 && len(props) > 0 {
		ctx += "(" + strings.Join(props, ",") + ")"
	}
	body := map[string]any{"@odata.context": ctx, "value": orEmpty(value)}
	link := s.base + "/v1.0/groups/delta?"
	if end < len(seq) {
		c.Pos = end
		body["@odata.nextLink"] = link + "$skiptoken=" + s.sign.seal(purposeGroupDelta, c)
	} else {
		body["@odata.deltaLink"] = link + "$deltatoken=" + s.sign.seal(purposeGroupDelta, groupDeltaCursor{
			Kind: "delta", Tenant: o.ID, Upto: c.Upto, Select: c.Select, IDs: c.IDs, Issued: s.now().UnixNano()})
	}
	writeJSON(w, http.StatusOK, body)
}

// groupDeltaItems lists what a groups/delta round reports, in group order (the caller holds
// Server.mu): in a full round every group (of the filter) with all its members; otherwise the
// groups created after Since with all their members, and the groups whose membership changed
// after Since with the users whose membership changed, as members now or removed.
func (o *org) groupDeltaItems(c groupDeltaCursor) []groupItem {
	var out []groupItem
	for _, g := range o.groupList() {
		if len(c.IDs) > 0 && !slices.ContainsFunc(c.IDs, func(id string) bool { return strings.EqualFold(id, g.ID) }) {
			continue
		}
		created := o.groupCreated[g.ID]
		if created > c.Upto {
			continue // after the round began: the next round reports it
		}
		if c.Full || created > c.Since {
			it := groupItem{group: g}
			for _, id := range o.members(g.ID) {
				it.members = append(it.members, memberEntry{id: id})
			}
			out = append(out, it)
			continue
		}
		var changed []string
		for _, mc := range o.memberChanges {
			if mc.Group == g.ID && mc.Version > c.Since && mc.Version <= c.Upto && !slices.Contains(changed, mc.User) {
				changed = append(changed, mc.User)
			}
		}
		if len(changed) == 0 {
			continue
		}
		it := groupItem{group: g}
		for _, id := range changed {
			u := o.byID[id]
			it.members = append(it.members, memberEntry{id: id, removed: u == nil || !isMember(u, g.ID)})
		}
		out = append(out, it)
	}
	return out
}

func (s *Server) groupRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sim/tenants/{tenant}/groups", func(w http.ResponseWriter, r *http.Request) {
		var g Group
		if err := decodeStrict(r, &g); err != nil {
			adminReply(w, fmt.Errorf("group body: %w", err), nil)
			return
		}
		out, err := s.CreateGroup(r.PathValue("tenant"), g)
		adminReply(w, err, out)
	})
	member := func(add bool) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			adminReply(w, s.setMember(r.PathValue("tenant"), r.PathValue("group"), r.PathValue("user"), add), nil)
		}
	}
	mux.HandleFunc("PUT /_sim/tenants/{tenant}/groups/{group}/members/{user}", member(true))
	mux.HandleFunc("DELETE /_sim/tenants/{tenant}/groups/{group}/members/{user}", member(false))
}

func (s *Server) countGroupRequest() {
	s.mu.Lock()
	s.stats.GroupRequests++
	s.mu.Unlock()
}
