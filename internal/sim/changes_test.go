package sim

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestChangeUsersIsDeterministic(t *testing.T) {
	sc := usersScenario(100)
	tn := sc.Tenants[0]
	a, _ := startSim(t, sc, Options{})
	b, _ := startSim(t, sc, Options{})
	spec := UserChanges{Seed: 77, Create: 4, Update: 5, DisableShare: 0.05, Delete: 2, DeleteShare: 0.01}
	ra, err := a.ChangeUsers(tn.ID, spec)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := b.ChangeUsers(tn.ID, spec)
	if !reflect.DeepEqual(ra, rb) {
		t.Errorf("same seed, different changes:\n%v\n%v", ra, rb)
	}
	if len(ra.Created) != 4 || len(ra.Updated) != 5 || len(ra.Disabled) != 5 || len(ra.Deleted) != 3 {
		t.Errorf("counts: %+v", ra)
	}
	picked := slices.Concat(ra.Updated, ra.Disabled, ra.Deleted)
	slices.Sort(picked)
	if len(slices.Compact(picked)) != 13 || slices.Contains(picked, tn.Users[0].ID) {
		t.Errorf("picked users overlap or include the admin: %v", picked)
	}
	other, _ := startSim(t, sc, Options{})
	if rc, _ := other.ChangeUsers(tn.ID, UserChanges{Seed: 78, Update: 5}); reflect.DeepEqual(rc.Updated, ra.Updated) {
		t.Error("different seeds picked the same users")
	}

	// The directory reflects every kind of change.
	snap := a.snapshot().Tenants[0]
	byID := map[string]TenantUser{}
	for _, u := range snap.Users {
		byID[u.ID] = u
	}
	if len(snap.Users) != 100+4-3 {
		t.Errorf("%d users after changes", len(snap.Users))
	}
	for _, id := range ra.Created {
		if u, ok := byID[id]; !ok || !u.AccountEnabled || u.Department == "" || !strings.HasSuffix(u.UserPrincipalName, "@"+tn.Domain) {
			t.Errorf("created user %+v", u)
		}
	}
	for _, id := range ra.Disabled {
		if byID[id].AccountEnabled {
			t.Errorf("user %s still enabled", id)
		}
	}
	for _, id := range ra.Updated {
		before := tn.Users[slices.IndexFunc(tn.Users, func(u TenantUser) bool { return u.ID == id })]
		after := byID[id]
		if before.JobTitle == after.JobTitle && before.Department == after.Department && before.MobilePhone == after.MobilePhone && before.DisplayName == after.DisplayName {
			t.Errorf("updated user %s is unchanged", id)
		}
	}
	// Each user's change versions name exactly the properties that changed, which delta
	// rounds then send.
	changed := func(id string) []string {
		a.mu.Lock()
		defer a.mu.Unlock()
		var names []string
		for _, c := range a.dir.byID[tn.ID].byID[id].changed {
			names = append(names, userProps[c.prop].name)
		}
		slices.Sort(names)
		return names
	}
	for _, id := range slices.Concat(ra.Created, ra.Deleted) {
		if got := changed(id); got != nil {
			t.Errorf("created or deleted user %s has changed properties %v", id, got)
		}
	}
	for _, id := range ra.Disabled {
		var want []string // none for a user disabled already
		if tn.Users[slices.IndexFunc(tn.Users, func(u TenantUser) bool { return u.ID == id })].AccountEnabled {
			want = []string{"accountEnabled"}
		}
		if got := changed(id); !slices.Equal(got, want) {
			t.Errorf("disabled user %s: changed %v, want %v", id, got, want)
		}
	}
	for _, id := range ra.Updated {
		before := tn.Users[slices.IndexFunc(tn.Users, func(u TenantUser) bool { return u.ID == id })]
		after := byID[id]
		var want []string
		for name, differs := range map[string]bool{"jobTitle": before.JobTitle != after.JobTitle, "department": before.Department != after.Department,
			"mobilePhone": before.MobilePhone != after.MobilePhone, "displayName": before.DisplayName != after.DisplayName} {
			if differs {
				want = append(want, name)
			}
		}
		slices.Sort(want)
		if got := changed(id); len(want) != 1 || !slices.Equal(got, want) {
			t.Errorf("updated user %s: changed %v, want %v", id, got, want)
		}
	}
	if _, err := a.ChangeUsers(tn.ID, UserChanges{Seed: 1, Update: 1000}); err == nil {
		t.Error("more changes than users accepted")
	}
	if _, err := a.ChangeUsers(tn.ID, UserChanges{Seed: 1, UpdateShare: 1.5}); err == nil {
		t.Error("a share above 1 accepted")
	}
	if _, err := a.ChangeUsers("00000000-0000-4000-8000-000000000000", UserChanges{}); err == nil {
		t.Error("unknown tenant accepted")
	}
}

func TestUpdateUser(t *testing.T) {
	sc := usersScenario(10)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	token := appToken(t, hc, s, tn.ID)
	u := tn.Users[4]
	dept, phone, upn, off := "Legal", "+1 206 555 0100", "renamed@"+tn.Domain, false
	if err := s.UpdateUser(tn.ID, u.ID, UserPatch{Department: &dept, MobilePhone: &phone, UserPrincipalName: &upn, AccountEnabled: &off}); err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	call(t, hc, http.MethodGet, s.URL()+"/v1.0/users/"+upn+"?$select=id,department,mobilePhone,accountEnabled", token, nil, nil, &got)
	if got["id"] != u.ID || got["department"] != dept || got["mobilePhone"] != phone || got["accountEnabled"] != false {
		t.Errorf("after update: %v", got)
	}
	if _, _, resp := get(t, hc, s.URL()+"/v1.0/users/"+u.UserPrincipalName, token, nil); resp.StatusCode != 404 {
		t.Errorf("old UPN still resolves: %d", resp.StatusCode)
	}
	empty, taken, foreign := "", tn.Users[5].UserPrincipalName, "x@example.com"
	for name, p := range map[string]UserPatch{"cleared displayName": {DisplayName: &empty}, "taken UPN": {UserPrincipalName: &taken}, "foreign domain": {UserPrincipalName: &foreign}} {
		if err := s.UpdateUser(tn.ID, u.ID, p); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if err := s.UpdateUser(tn.ID, "00000000-0000-4000-8000-000000000000", UserPatch{Department: &dept}); err == nil {
		t.Error("unknown user accepted")
	}
}

func TestAdminClientUserChanges(t *testing.T) {
	sc := usersScenario(30)
	tn := sc.Tenants[0]
	s, hc := startSim(t, sc, Options{})
	ctx := context.Background()
	ac, err := NewAdminClient(s.URL(), s.CAFile())
	if err != nil {
		t.Fatal(err)
	}
	ch, err := ac.ChangeUsers(ctx, tn.ID, UserChanges{Seed: 4, Create: 1, Update: 2, Disable: 1, Delete: 1})
	if err != nil || len(ch.Created) != 1 || len(ch.Updated) != 2 || len(ch.Disabled) != 1 || len(ch.Deleted) != 1 {
		t.Fatalf("ChangeUsers: %+v %v", ch, err)
	}
	if err := ac.RestoreUser(ctx, tn.ID, ch.Deleted[0]); err != nil {
		t.Fatal(err)
	}
	title := "Head of Testing"
	if err := ac.UpdateUser(ctx, tn.ID, ch.Deleted[0], UserPatch{JobTitle: &title}); err != nil {
		t.Fatal(err)
	}
	if err := ac.PurgeUser(ctx, tn.ID, ch.Created[0]); err != nil {
		t.Fatal(err)
	}
	if err := ac.RestoreUser(ctx, tn.ID, ch.Created[0]); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("restoring a purged user: %v", err)
	}
	if _, err := ac.ChangeUsers(ctx, tn.ID, UserChanges{Update: -1}); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("negative count: %v", err)
	}
	if err := ac.SetGraphBudget(ctx, tn.ID, 1); err != nil {
		t.Fatal(err)
	}
	token := appToken(t, hc, s, tn.ID)
	get(t, hc, s.URL()+"/v1.0/organization", token, nil)
	if _, _, resp := get(t, hc, s.URL()+"/v1.0/organization", token, nil); resp.StatusCode != 429 {
		t.Errorf("budget of 1 unit: second request %d", resp.StatusCode)
	}
	if err := ac.SetGraphBudget(ctx, tn.ID, 0); err != nil {
		t.Fatal(err)
	}
	if err := ac.ExpireDeltaTokens(ctx, tn.ID); err != nil {
		t.Fatal(err)
	}
	if err := ac.ExpireAccessTokens(ctx); err != nil {
		t.Fatal(err)
	}
	if _, e, resp := get(t, hc, s.URL()+"/v1.0/organization", token, nil); resp.StatusCode != 401 || !strings.Contains(e.Error.Message, "token is expired") {
		t.Errorf("after ExpireAccessTokens: %d %+v", resp.StatusCode, e)
	}
	if _, _, resp := get(t, hc, s.URL()+"/v1.0/organization", appToken(t, hc, s, tn.ID), nil); resp.StatusCode != 200 {
		t.Errorf("new token after ExpireAccessTokens: %d", resp.StatusCode)
	}
	got, _ := ac.Scenario(ctx)
	i := slices.IndexFunc(got.Tenants[0].Users, func(u TenantUser) bool { return u.ID == ch.Deleted[0] })
	if i < 0 || got.Tenants[0].Users[i].JobTitle != title || len(got.Tenants[0].Users) != 30 {
		t.Errorf("scenario after admin changes: %d users", len(got.Tenants[0].Users))
	}
}

func TestThrottling(t *testing.T) {
	sc := usersScenario(10)
	tn := sc.Tenants[0]
	clock := newTestClock()
	s, hc := startSim(t, sc, Options{Now: clock.Now})
	token := appToken(t, hc, s, tn.ID)

	// Microsoft's costs: list users 2, 1 with $select; $top under 20 takes one more off.
	for u, want := range map[string]string{
		"/v1.0/users": "2", "/v1.0/users?$select=id": "1", "/v1.0/users?$top=5": "1",
		"/v1.0/subscribedSkus": "3", "/v1.0/organization": "1", "/v1.0/users/delta": "1",
	} {
		if _, _, resp := get(t, hc, s.URL()+u, token, nil); resp.Header.Get("x-ms-resource-unit") != want {
			t.Errorf("%s costs %q, want %s", u, resp.Header.Get("x-ms-resource-unit"), want)
		}
	}
	if err := s.SetGraphBudget(tn.ID, 6); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, _, resp := get(t, hc, s.URL()+"/v1.0/users", token, nil); resp.StatusCode != 200 {
			t.Fatalf("within budget: %d", resp.StatusCode)
		}
	}
	_, e, resp := get(t, hc, s.URL()+"/v1.0/users", token, nil)
	if resp.StatusCode != 429 || e.Error.Code != "TooManyRequests" || resp.Header.Get("Retry-After") != "4" ||
		resp.Header.Get("x-ms-throttle-scope") != "Tenant_Application/ReadWrite/"+DefaultGraphClientID+"/"+tn.ID ||
		resp.Header.Get("x-ms-throttle-information") != "ResourceUnitLimitExceeded" {
		t.Errorf("over budget: %d %+v %v", resp.StatusCode, e, resp.Header)
	}
	// Waiting Retry-After refills the bucket; refused requests are not charged.
	clock.Advance(4 * time.Second)
	if _, _, resp := get(t, hc, s.URL()+"/v1.0/users", token, nil); resp.StatusCode != 200 {
		t.Errorf("after Retry-After: %d", resp.StatusCode)
	}
	if st := s.Stats(); st.GraphThrottled != 1 {
		t.Errorf("throttled count %d", st.GraphThrottled)
	}
	// Microsoft's budgets by tenant size apply without an override.
	s.SetGraphBudget(tn.ID, 0)
	s.mu.Lock()
	budget := s.tenantBudget(s.dir.byID[tn.ID])
	s.mu.Unlock()
	big := usersScenario(600)
	b, _ := startSim(t, big, Options{})
	b.mu.Lock()
	bigBudget := b.tenantBudget(b.dir.byID[big.Tenants[0].ID])
	b.mu.Unlock()
	if budget != 3500 || bigBudget != 8000 {
		t.Errorf("budgets %d and %d, want 3500 and 8000", budget, bigBudget)
	}
	if err := s.SetGraphBudget(tn.ID, -1); err == nil {
		t.Error("negative budget accepted")
	}
}
