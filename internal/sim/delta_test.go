package sim

import (
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// deltaRound follows a users delta round from start to its deltaLink, checking the links'
// documented form, and returns the items and pages seen.
func deltaRound(t *testing.T, s *Server, hc *http.Client, token, start string, hdr map[string]string) (items []map[string]any, deltaLink string, pages int) {
	t.Helper()
	for u := start; ; pages++ {
		p, e, resp := get(t, hc, u, token, hdr)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %+v", u, resp.StatusCode, e)
		}
		items = append(items, p.Value...)
		if p.DeltaLink != "" {
			if p.NextLink != "" || !strings.HasPrefix(p.DeltaLink, s.URL()+"/v1.0/users/delta?$deltatoken=") {
				t.Fatalf("last page links: next %q delta %q", p.NextLink, p.DeltaLink)
			}
			return items, p.DeltaLink, pages + 1
		}
		if !strings.HasPrefix(p.NextLink, s.URL()+"/v1.0/users/delta?$skiptoken=") {
			t.Fatalf("nextLink %q", p.NextLink)
		}
		u = p.NextLink
	}
}

func ids(items []map[string]any) []string {
	var out []string
	for _, it := range items {
		out = append(out, it["id"].(string))
	}
	return out
}

func TestUsersDeltaPaging(t *testing.T) {
	sc := usersScenario(450)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)

	// The SDK's path has parentheses; $top is not supported by users/delta and is ignored.
	start := s.URL() + "/v1.0/users/delta()?$select=displayName,department&$top=5"
	p, _, resp := get(t, hc, start, token, nil)
	if len(p.Value) != 200 || resp.Header.Get("Preference-Applied") != "" || p.Context != s.URL()+"/v1.0/$metadata#users(displayName,department)" {
		t.Fatalf("default page: %d users, %q", len(p.Value), p.Context)
	}
	items, deltaLink, pages := deltaRound(t, s, hc, token, start, nil)
	got := ids(items)
	slices.Sort(got)
	if len(items) != 450 || pages != 3 || len(slices.Compact(got)) != 450 {
		t.Fatalf("initial round: %d items in %d pages", len(items), pages)
	}
	for _, it := range items {
		if _, ok := it["userPrincipalName"]; ok || it["displayName"] == nil {
			t.Fatalf("item ignores $select: %v", it)
		}
	}
	// Prefer: odata.maxpagesize sets smaller pages, up to the 200 maximum.
	p, _, resp = get(t, hc, s.URL()+"/v1.0/users/delta", token, map[string]string{"Prefer": "odata.maxpagesize=7"})
	if len(p.Value) != 7 || resp.Header.Get("Preference-Applied") != "odata.maxpagesize=7" {
		t.Errorf("maxpagesize 7: %d users, %q", len(p.Value), resp.Header.Get("Preference-Applied"))
	}
	p, _, resp = get(t, hc, s.URL()+"/v1.0/users/delta", token, map[string]string{"Prefer": "return=minimal, odata.maxpagesize=999"})
	if len(p.Value) != 200 || resp.Header.Get("Preference-Applied") != "odata.maxpagesize=200" {
		t.Errorf("maxpagesize 999: %d users, %q", len(p.Value), resp.Header.Get("Preference-Applied"))
	}
	// A round without changes: no users and a fresh deltaLink.
	items, next, _ := deltaRound(t, s, hc, token, deltaLink, nil)
	if len(items) != 0 || next == deltaLink {
		t.Errorf("round without changes: %d items, same link %v", len(items), next == deltaLink)
	}
}

func TestUsersDeltaReportsChanges(t *testing.T) {
	sc := usersScenario(40)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)
	_, link, _ := deltaRound(t, s, hc, token, s.URL()+"/v1.0/users/delta?$select=displayName,jobTitle,department,mobilePhone,accountEnabled", nil)

	ch, err := s.ChangeUsers(tn.ID, UserChanges{Seed: 1, Create: 2, Update: 3, Disable: 2, Delete: 2})
	if err != nil {
		t.Fatal(err)
	}
	purged := ""
	for _, u := range tn.Users[1:] {
		if !slices.Contains(slices.Concat(ch.Updated, ch.Disabled, ch.Deleted), u.ID) {
			purged = u.ID
			break
		}
	}
	if err := s.PurgeUser(tn.ID, purged); err != nil {
		t.Fatal(err)
	}
	// A user changed twice between rounds appears once, as it is now.
	twice := ch.Updated[0]
	title := "Chief Delta Officer"
	if err := s.UpdateUser(tn.ID, twice, UserPatch{JobTitle: &title}); err != nil {
		t.Fatal(err)
	}
	items, link, _ := deltaRound(t, s, hc, token, link, nil)
	byID := map[string]map[string]any{}
	for _, it := range items {
		byID[it["id"].(string)] = it
	}
	if len(items) != 10 || len(byID) != 10 {
		t.Fatalf("round after 10 changes: %d items %v", len(items), ids(items))
	}
	for _, id := range ch.Created {
		if it := byID[id]; it == nil || it["@removed"] != nil || it["displayName"] == nil || it["department"] == nil {
			t.Errorf("created user %s: %v", id, it)
		}
	}
	for _, id := range slices.Concat(ch.Updated, ch.Disabled) {
		if it := byID[id]; it == nil || it["@removed"] != nil {
			t.Errorf("changed user %s: %v", id, it)
		}
	}
	if byID[twice]["jobTitle"] != title {
		t.Errorf("twice-changed user: %v", byID[twice])
	}
	for _, id := range ch.Disabled { // by default with every selected property set
		if it := byID[id]; it["accountEnabled"] != false || it["displayName"] == nil {
			t.Errorf("disabled user, want accountEnabled false and his other properties: %v", it)
		}
	}
	removed := func(id string) any { r, _ := byID[id]["@removed"].(map[string]any); return r["reason"] }
	for _, id := range ch.Deleted {
		if removed(id) != "changed" || len(byID[id]) != 2 {
			t.Errorf("soft-deleted user: %v", byID[id])
		}
	}
	if removed(purged) != "deleted" {
		t.Errorf("permanently deleted user: %v", byID[purged])
	}

	// Restoring brings a user back without @removed; purging a soft-deleted one reports deleted.
	if err := s.RestoreUser(tn.ID, ch.Deleted[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.PurgeUser(tn.ID, ch.Deleted[1]); err != nil {
		t.Fatal(err)
	}
	items, _, _ = deltaRound(t, s, hc, token, link, nil)
	if len(items) != 2 || items[0]["id"] != ch.Deleted[0] || items[0]["@removed"] != nil || items[0]["displayName"] == nil || items[1]["id"] != ch.Deleted[1] || items[1]["@removed"].(map[string]any)["reason"] != "deleted" {
		t.Errorf("restore (whole user) and purge: %v", items)
	}
	if err := s.RestoreUser(tn.ID, ch.Deleted[1]); err == nil {
		t.Error("a permanently deleted user was restored")
	}

	// A deletion in the middle of a round does not make later pages skip anyone.
	small := map[string]string{"Prefer": "odata.maxpagesize=5"}
	first, _, _ := get(t, hc, s.URL()+"/v1.0/users/delta?$select=id", token, small)
	if err := s.DeleteUser(tn.ID, first.Value[0]["id"].(string)); err != nil {
		t.Fatal(err)
	}
	rest, link2, _ := deltaRound(t, s, hc, token, first.NextLink, small)
	if n := len(first.Value) + len(rest); n != s.liveUsers(tn.ID)+1 {
		t.Errorf("full round during a deletion: %d users, want %d", n, s.liveUsers(tn.ID)+1)
	}
	if items, _, _ := deltaRound(t, s, hc, token, link2, nil); len(items) != 1 || items[0]["@removed"] == nil {
		t.Errorf("the mid-round deletion in the next round: %v", items)
	}
}

// liveUsers counts a tenant's live users.
func (s *Server) liveUsers(tenantID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir.byID[tenantID].live
}

func TestUsersDeltaLatest(t *testing.T) {
	sc := usersScenario(30)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)

	p, e, resp := get(t, hc, s.URL()+"/v1.0/users/delta?$deltatoken=latest&$select=displayName", token, nil)
	if resp.StatusCode != 200 || len(p.Value) != 0 || p.NextLink != "" || !strings.HasPrefix(p.DeltaLink, s.URL()+"/v1.0/users/delta?$deltatoken=") {
		t.Fatalf("latest: %d %+v %+v", resp.StatusCode, e, p)
	}
	name := "Renamed Person"
	if err := s.UpdateUser(tn.ID, tn.Users[3].ID, UserPatch{DisplayName: &name}); err != nil {
		t.Fatal(err)
	}
	items, _, _ := deltaRound(t, s, hc, token, p.DeltaLink, nil)
	if len(items) != 1 || items[0]["displayName"] != name || items[0]["id"] != tn.Users[3].ID {
		t.Errorf("round after latest: %v", items)
	}
}

func TestUsersDeltaTokenExpiry(t *testing.T) {
	sc := usersScenario(12)
	tn := sc.Tenants[0]
	clock := newTestClock()
	s, hc := startSim(t, sc, Options{Now: clock.Now})
	token := appToken(t, hc, s, tn.ID)
	start := s.URL() + "/v1.0/users/delta?$select=id,displayName"
	_, link, _ := deltaRound(t, s, hc, token, start, nil)

	reset := func(name, u string) {
		t.Helper()
		_, e, resp := get(t, hc, u, token, nil)
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusGone || e.Error.Code != "syncStateNotFound" || loc != s.URL()+"/v1.0/users/delta?$deltatoken=&$select=id,displayName" && loc != s.URL()+"/v1.0/users/delta?$deltatoken=" {
			t.Fatalf("%s: %d %+v Location %q", name, resp.StatusCode, e, loc)
		}
		// The Location starts a full synchronization.
		if items, _, _ := deltaRound(t, s, hc, token, loc, nil); len(items) != 12 {
			t.Errorf("%s: full resync returned %d users", name, len(items))
		}
	}
	reset("forged token", s.URL()+"/v1.0/users/delta?$deltatoken=bogus")
	clock.Advance(6 * 24 * time.Hour)
	token = appToken(t, hc, s, tn.ID)
	if items, _, _ := deltaRound(t, s, hc, token, link, nil); len(items) != 0 {
		t.Errorf("six-day-old token: %v", items)
	}
	clock.Advance(24*time.Hour + time.Minute)
	token = appToken(t, hc, s, tn.ID)
	reset("seven-day-old token", link)

	// A sync reset invalidates skip tokens of a round under way as well.
	first, _, _ := get(t, hc, start, token, map[string]string{"Prefer": "odata.maxpagesize=5"})
	clock.Advance(time.Second)
	if err := s.ExpireDeltaTokens(tn.ID); err != nil {
		t.Fatal(err)
	}
	reset("skip token after a sync reset", first.NextLink)
}

func TestUsersDeltaScopeAndSelect(t *testing.T) {
	sc := usersScenario(25)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)

	filter := url.QueryEscape("id eq '" + tn.Users[2].ID + "' or id eq '" + tn.Users[7].ID + "'")
	items, link, _ := deltaRound(t, s, hc, token, s.URL()+"/v1.0/users/delta?$select=displayName&$filter="+filter, nil)
	if got := ids(items); len(got) != 2 || got[0] != tn.Users[2].ID || got[1] != tn.Users[7].ID {
		t.Errorf("scoped round: %v", got)
	}
	if _, err := s.ChangeUsers(tn.ID, UserChanges{Seed: 3, Update: 24}); err != nil {
		t.Fatal(err)
	}
	if items, _, _ := deltaRound(t, s, hc, token, link, nil); len(items) != 2 {
		t.Errorf("scoped round after updating everyone: %v", ids(items))
	}
	for q, code := range map[string]string{
		"$select=id,signInActivity":                         "Request_UnsupportedQuery",
		"$filter=" + url.QueryEscape("userType eq 'Guest'"): "Request_UnsupportedQuery",
		"$select=id,shoeSize":                               "BadRequest",
	} {
		if _, e, resp := get(t, hc, s.URL()+"/v1.0/users/delta?"+q, token, nil); resp.StatusCode != 400 || e.Error.Code != code {
			t.Errorf("%s: %d %+v", q, resp.StatusCode, e)
		}
	}
}

func TestUserChangesSurviveRestart(t *testing.T) {
	sc := usersScenario(20)
	tn := sc.Tenants[0]
	dir := t.TempDir()
	s, hc := startSim(t, sc, Options{StateDir: dir})
	token := appToken(t, hc, s, tn.ID)
	ch, err := s.ChangeUsers(tn.ID, UserChanges{Seed: 9, Create: 3, Update: 2, Delete: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, link, _ := deltaRound(t, s, hc, token, s.URL()+"/v1.0/users/delta?$select=id,displayName", nil)
	s.Close()

	s2, hc2 := startSim(t, sc, Options{StateDir: dir})
	token = appToken(t, hc2, s2, tn.ID)
	p, _, _ := get(t, hc2, s2.URL()+"/v1.0/users?$select=id&$top=999", token, nil)
	got := ids(p.Value)
	if len(got) != 22 || !slices.Contains(got, ch.Created[2]) || slices.Contains(got, ch.Deleted[0]) {
		t.Errorf("users after restart: %d", len(got))
	}
	// The earlier deltaLink still works and reports only what changed since.
	s2.ChangeUsers(tn.ID, UserChanges{Seed: 10, Disable: 1})
	link = strings.Replace(link, s.URL(), s2.URL(), 1)
	if items, _, _ := deltaRound(t, s2, hc2, token, link, nil); len(items) != 1 {
		t.Errorf("round across a restart: %v", items)
	}
}

// TestUsersDeltaMinimalSendsChangedProperties: in a round from a delta token with Prefer:
// return=minimal, a user who existed at the token comes with id and the selected properties
// changed since, a user created since whole, a removed one as @removed.
func TestUsersDeltaMinimalSendsChangedProperties(t *testing.T) {
	sc := usersScenario(40)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)
	const sel = "displayName,jobTitle,department,mobilePhone,accountEnabled,userPrincipalName,mailNickname"
	_, link, _ := deltaRound(t, s, hc, token, s.URL()+"/v1.0/users/delta?$select="+sel, nil)

	withPhone := tn.Users[slices.IndexFunc(tn.Users[1:], func(u TenantUser) bool { return u.MobilePhone != "" })+1]
	dept, empty, upn := "Legal", "", "renamed.person@"+tn.Domain
	for id, p := range map[string]UserPatch{
		tn.Users[3].ID: {Department: &dept},
		withPhone.ID:   {MobilePhone: &empty},
		tn.Users[5].ID: {UserPrincipalName: &upn},
	} {
		if err := s.UpdateUser(tn.ID, id, p); err != nil {
			t.Fatal(err)
		}
	}
	minimal := map[string]string{"Prefer": "return=minimal"}
	items, link, _ := deltaRound(t, s, hc, token, link, minimal)
	byID := map[string]map[string]any{}
	for _, it := range items {
		byID[it["id"].(string)] = it
	}
	for id, want := range map[string]map[string]any{
		tn.Users[3].ID: {"id": tn.Users[3].ID, "department": "Legal"},
		withPhone.ID:   {"id": withPhone.ID, "mobilePhone": nil}, // cleared: null, not left out
		tn.Users[5].ID: {"id": tn.Users[5].ID, "userPrincipalName": upn, "mailNickname": "renamed.person"},
	} {
		if !reflect.DeepEqual(byID[id], want) {
			t.Errorf("updated user %s: %v, want %v", id, byID[id], want)
		}
	}
	if len(items) != 3 {
		t.Errorf("%d items, want 3: %v", len(items), items)
	}

	// What ChangeUsers does shows the same way: each user's changed properties, compared with
	// the list endpoint's view from before.
	list := func() map[string]map[string]any {
		p, _, _ := get(t, hc, s.URL()+"/v1.0/users?$top=999&$select=id,"+sel, token, nil)
		m := map[string]map[string]any{}
		for _, u := range p.Value {
			m[u["id"].(string)] = u
		}
		return m
	}
	before := list()
	ch, err := s.ChangeUsers(tn.ID, UserChanges{Seed: 5, Create: 2, Update: 8, Disable: 2, Delete: 2})
	if err != nil {
		t.Fatal(err)
	}
	after := list()
	items, _, _ = deltaRound(t, s, hc, token, link, minimal)
	if len(items) != 14 {
		t.Fatalf("%d items after 14 changes", len(items))
	}
	for _, it := range items {
		id := it["id"].(string)
		want := map[string]any{}
		switch {
		case slices.Contains(ch.Deleted, id):
			want = map[string]any{"id": id, "@removed": map[string]any{"reason": "changed"}}
		case slices.Contains(ch.Created, id):
			for k, v := range after[id] {
				if v != nil {
					want[k] = v
				}
			}
		default:
			want["id"] = id
			for k, v := range after[id] {
				if !reflect.DeepEqual(before[id][k], v) {
					want[k] = v
				}
			}
		}
		if !reflect.DeepEqual(it, want) {
			t.Errorf("user %s: %v, want %v", id, it, want)
		}
	}
	for _, id := range ch.Disabled {
		if i := slices.IndexFunc(items, func(it map[string]any) bool { return it["id"] == id }); i < 0 || len(items[i]) != 2 || items[i]["accountEnabled"] != false {
			t.Errorf("disabled user %s: want id and accountEnabled only", id)
		}
	}

	// A full round still sends every user whole.
	full, _, _ := deltaRound(t, s, hc, token, s.URL()+"/v1.0/users/delta?$select="+sel, nil)
	for _, it := range full {
		if it["displayName"] == nil || it["userPrincipalName"] == nil {
			t.Fatalf("full round sent a partial user: %v", it)
		}
	}
}

// TestUsersDeltaDefaultSendsSelectedProperties: without Prefer: return=minimal, an updated
// user comes with every selected property: the new value where it changed (null where it was
// cleared), the old one where it did not, and nothing for a property never set. A round's
// mode follows each request, and SetDeltaResponses overrides it.
func TestUsersDeltaDefaultSendsSelectedProperties(t *testing.T) {
	sc := usersScenario(40)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)
	const sel = "displayName,jobTitle,department,mobilePhone,onPremisesSamAccountName,accountEnabled"
	_, link, _ := deltaRound(t, s, hc, token, s.URL()+"/v1.0/users/delta?$select="+sel, nil)

	withPhone := tn.Users[slices.IndexFunc(tn.Users[1:], func(u TenantUser) bool { return u.MobilePhone != "" && u.Department != "" })+1]
	if withPhone.OnPremisesSamAccountName != "" {
		t.Fatalf("scenario: user %s has an on-premises account name", withPhone.ID)
	}
	dept, empty := "Legal", ""
	if err := s.UpdateUser(tn.ID, withPhone.ID, UserPatch{Department: &dept, MobilePhone: &empty}); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": withPhone.ID, "displayName": withPhone.DisplayName, "department": "Legal",
		"mobilePhone": nil, "accountEnabled": withPhone.AccountEnabled}
	if withPhone.JobTitle != "" {
		want["jobTitle"] = withPhone.JobTitle
	}
	items, next, _ := deltaRound(t, s, hc, token, link, nil)
	if len(items) != 1 || !reflect.DeepEqual(items[0], want) {
		t.Fatalf("updated user by default: %v, want %v", items, want)
	}

	// The same round, asked minimally, or with the simulator forced either way.
	minimal := map[string]any{"id": withPhone.ID, "department": "Legal", "mobilePhone": nil}
	for _, c := range []struct {
		mode   string
		prefer map[string]string
		want   map[string]any
	}{
		{DeltaAsRequested, map[string]string{"Prefer": "odata.maxpagesize=50, return=minimal"}, minimal},
		{DeltaMinimal, nil, minimal},
		{DeltaDefault, map[string]string{"Prefer": "return=minimal"}, want},
	} {
		if err := s.SetDeltaResponses(c.mode); err != nil {
			t.Fatal(err)
		}
		items, _, _ := deltaRound(t, s, hc, token, link, c.prefer)
		if len(items) != 1 || !reflect.DeepEqual(items[0], c.want) {
			t.Errorf("mode %q, prefer %v: %v, want %v", c.mode, c.prefer, items, c.want)
		}
	}
	if err := s.SetDeltaResponses("sometimes"); err == nil {
		t.Error("an unknown mode was accepted")
	}
	if err := s.SetDeltaResponses(DeltaAsRequested); err != nil {
		t.Fatal(err)
	}

	// In a later round the cleared phone is an old value: null, not left out.
	title := "Paralegal"
	if err := s.UpdateUser(tn.ID, withPhone.ID, UserPatch{JobTitle: &title}); err != nil {
		t.Fatal(err)
	}
	want["jobTitle"] = title
	items, _, _ = deltaRound(t, s, hc, token, next, nil)
	if len(items) != 1 || !reflect.DeepEqual(items[0], want) {
		t.Errorf("second update by default: %v, want %v", items, want)
	}
}

// TestUsersDeltaOldStateFile: a state file from before properties' change versions were kept
// makes delta rounds send changed users whole, the safe reading.
func TestUsersDeltaOldStateFile(t *testing.T) {
	sc := usersScenario(10)
	tn := sc.Tenants[0]
	dir := t.TempDir()
	s, hc := startSim(t, sc, Options{StateDir: dir})
	token := appToken(t, hc, s, tn.ID)
	_, link, _ := deltaRound(t, s, hc, token, s.URL()+"/v1.0/users/delta?$select=displayName,department", nil)
	dept := "Legal"
	if err := s.UpdateUser(tn.ID, tn.Users[2].ID, UserPatch{Department: &dept}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	st, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if c := st.Tenants[tn.ID].Users[tn.Users[2].ID].Changed; len(c) != 1 || c["department"] == 0 {
		t.Fatalf("persisted change versions: %v", c)
	}
	for id, c := range st.Tenants[tn.ID].Users {
		c.Changed = nil
		st.Tenants[tn.ID].Users[id] = c
	}
	if err := st.save(dir); err != nil {
		t.Fatal(err)
	}

	s2, hc2 := startSim(t, sc, Options{StateDir: dir})
	token = appToken(t, hc2, s2, tn.ID)
	items, _, _ := deltaRound(t, s2, hc2, token, strings.Replace(link, s.URL(), s2.URL(), 1), nil)
	if len(items) != 1 || items[0]["department"] != dept || items[0]["displayName"] != tn.Users[2].DisplayName {
		t.Errorf("changed user from an old state file, want whole: %v", items)
	}
}
