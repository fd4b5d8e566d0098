package sim

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// groupRound follows a groups/delta round to its deltaLink and merges each group's
// members@delta across pages, as Microsoft's guide for large groups says to: id → member id →
// removed.
func groupRound(t *testing.T, s *Server, hc *http.Client, token, start string, hdr map[string]string) (map[string]map[string]bool, map[string]string, string, int) {
	t.Helper()
	members, names := map[string]map[string]bool{}, map[string]string{}
	for u, pages := start, 1; ; pages++ {
		p, e, resp := get(t, hc, u, token, hdr)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %+v", u, resp.StatusCode, e)
		}
		for _, g := range p.Value {
			id := g["id"].(string)
			if members[id] == nil {
				members[id] = map[string]bool{}
			}
			if n, ok := g["displayName"].(string); ok {
				names[id] = n
			}
			list, _ := g["members@delta"].([]any)
			for _, m := range list {
				m := m.(map[string]any)
				if m["@odata.type"] != "#microsoft.graph.user" {
					t.Fatalf("member entry %v", m)
				}
				_, removed := m["@removed"]
				if removed && m["@removed"].(map[string]any)["reason"] != "deleted" {
					t.Fatalf("removed member %v", m)
				}
				members[id][m["id"].(string)] = removed
			}
		}
		if p.DeltaLink != "" {
			if p.NextLink != "" || !strings.HasPrefix(p.DeltaLink, s.URL()+"/v1.0/groups/delta?$deltatoken=") {
				t.Fatalf("last page links: next %q delta %q", p.NextLink, p.DeltaLink)
			}
			return members, names, p.DeltaLink, pages
		}
		if !strings.HasPrefix(p.NextLink, s.URL()+"/v1.0/groups/delta?$skiptoken=") {
			t.Fatalf("nextLink %q", p.NextLink)
		}
		u = p.NextLink
	}
}

// Groups are found by name; groups/delta pages a large group's members (the group repeated on
// each page), then reports only membership changes: an added member, a removed one and a
// deleted user (removed), none of which users/delta reports when the user object did not
// change; a group created later comes with all its members.
func TestGroupsDelta(t *testing.T) {
	sc := usersScenario(120)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)

	list, e, resp := get(t, hc, s.URL()+"/v1.0/groups?"+url.Values{"$filter": {"displayName eq 'all staff'"}, "$select": {"id,displayName"}}.Encode(), token, nil)
	if resp.StatusCode != 200 || len(list.Value) != 1 || list.Value[0]["displayName"] != "All Staff" || len(list.Value[0]) != 2 {
		t.Fatalf("groups by name: %d %+v %v", resp.StatusCode, e, list.Value)
	}
	all := list.Value[0]["id"].(string)
	if _, e, resp := get(t, hc, s.URL()+"/v1.0/groups?"+url.Values{"$filter": {"mail eq 'x'"}}.Encode(), token, nil); resp.StatusCode != 400 || e.Error.Code != "Request_UnsupportedQuery" {
		t.Fatalf("unsupported filter: %d %+v", resp.StatusCode, e)
	}

	s.mu.Lock()
	o := s.dir.byID[tn.ID]
	want := o.members(all)
	var outsider string
	for _, u := range o.users {
		if !slices.Contains(u.MemberOf, all) && outsider == "" {
			outsider = u.ID
		}
	}
	s.mu.Unlock()
	if len(want) < 100 || outsider == "" {
		t.Fatalf("scenario: %d members of All Staff, outsider %q", len(want), outsider)
	}

	start := s.URL() + "/v1.0/groups/delta?" + url.Values{"$select": {"displayName,members"}, "$filter": {"id eq '" + all + "'"}}.Encode()
	got, names, deltaLink, pages := groupRound(t, s, hc, token, start, map[string]string{"Prefer": "odata.maxpagesize=50"})
	if len(got) != 1 || names[all] != "All Staff" || len(got[all]) != len(want) || pages != (len(want)+49)/50 {
		t.Fatalf("initial round: %d groups, %d members of %d in %d pages", len(got), len(got[all]), len(want), pages)
	}
	for _, id := range want {
		if removed, ok := got[all][id]; !ok || removed {
			t.Fatalf("member %s: reported %v %v", id, ok, removed)
		}
	}

	// Nothing changed: an empty page.
	if got, _, next, _ := groupRound(t, s, hc, token, deltaLink, nil); len(got) != 0 {
		t.Fatalf("no changes: %v", got)
	} else {
		deltaLink = next
	}

	usersStart := s.URL() + "/v1.0/users/delta?$select=displayName"
	_, usersLink, _ := deltaRound(t, s, hc, token, usersStart, nil)
	if err := s.RemoveGroupMember(tn.ID, all, want[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.AddGroupMember(tn.ID, all, outsider); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(tn.ID, want[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.AddGroupMember(tn.ID, all, want[2]); err != nil { // a member already: no change
		t.Fatal(err)
	}
	got, _, _, _ = groupRound(t, s, hc, token, deltaLink, nil)
	wantChanges := map[string]bool{want[0]: true, outsider: false, want[1]: true}
	if len(got) != 1 || len(got[all]) != 3 {
		t.Fatalf("changes: %v", got)
	}
	for id, removed := range wantChanges {
		if r, ok := got[all][id]; !ok || r != removed {
			t.Fatalf("change of %s: reported %v removed %v, want removed %v", id, ok, r, removed)
		}
	}
	users, _, _ := deltaRound(t, s, hc, token, usersLink, nil)
	if ids := ids(users); len(ids) != 1 || ids[0] != want[1] {
		t.Fatalf("users/delta after membership changes reports %v; only the deleted user changed", ids)
	}

	// A new group of the same name comes whole in an unfiltered round.
	g, err := s.CreateGroup(tn.ID, Group{DisplayName: "All Staff"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddGroupMember(tn.ID, g.ID, outsider); err != nil {
		t.Fatal(err)
	}
	list, _, _ = get(t, hc, s.URL()+"/v1.0/groups?"+url.Values{"$filter": {"displayName eq 'All Staff'"}}.Encode(), token, nil)
	if len(list.Value) != 2 {
		t.Fatalf("groups by name after a second one: %v", list.Value)
	}
	_, _, whole, _ := groupRound(t, s, hc, token, s.URL()+"/v1.0/groups/delta?$select=displayName,members", nil)
	got, _, _, _ = groupRound(t, s, hc, token, whole, nil)
	if len(got) != 0 {
		t.Fatalf("no changes after a whole round: %v", got)
	}
	g2, _ := s.CreateGroup(tn.ID, Group{DisplayName: "Service desk"})
	if err := s.AddGroupMember(tn.ID, g2.ID, want[3]); err != nil {
		t.Fatal(err)
	}
	got, names, _, _ = groupRound(t, s, hc, token, whole, nil)
	if len(got) != 1 || names[g2.ID] != "Service desk" || len(got[g2.ID]) != 1 || got[g2.ID][want[3]] {
		t.Fatalf("new group: %v %v", got, names)
	}

	// A token that is not one: 410 with the way back to a full round.
	_, e, resp = get(t, hc, s.URL()+"/v1.0/groups/delta?$deltatoken=bogus", token, nil)
	if resp.StatusCode != 410 || e.Error.Code != "syncStateNotFound" || !strings.HasPrefix(resp.Header.Get("Location"), s.URL()+"/v1.0/groups/delta") {
		t.Fatalf("bogus token: %d %+v", resp.StatusCode, e)
	}
}

// Group changes survive a restart on the same state directory.
func TestGroupsPersist(t *testing.T) {
	sc := usersScenario(20)
	tn := sc.Tenants[0]
	dir := t.TempDir()
	s, err := New(sc, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.CreateGroup(tn.ID, Group{DisplayName: "Billing"})
	if err != nil {
		t.Fatal(err)
	}
	user := tn.Users[0].ID
	if err := s.AddGroupMember(tn.ID, g.ID, user); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := New(sc, Options{StateDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	s2.mu.Lock()
	defer s2.mu.Unlock()
	o := s2.dir.byID[tn.ID]
	if m := o.members(g.ID); len(m) != 1 || m[0] != user {
		t.Fatalf("after a restart, Billing's members are %v", m)
	}
}
