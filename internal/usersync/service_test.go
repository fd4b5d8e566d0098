package usersync

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
)

const (
	skuE3 = "05e9a617-0261-4cee-bb44-138d3ef5d965"
	skuBP = "f245ecc8-75af-4f8e-b61f-27d8114de5f3"
	skuX  = "efccb6f7-5641-4e0e-bd10-b4976e1bf68e"
)

func TestServiceRulesDecide(t *testing.T) {
	both := ServiceRules{Group: "Staff", GroupFound: true, BillableSkus: []string{skuE3, skuBP}}
	cases := []struct {
		name  string
		rules ServiceRules
		prev  ServiceState
		facts ServiceFacts
		want  ServiceState
	}{
		{"no rules: nobody is a service user", ServiceRules{}, ServiceState{}, ServiceFacts{}, ServiceState{}},
		{"no rules clear an old flag", ServiceRules{}, ServiceState{true, "group"}, ServiceFacts{}, ServiceState{}},
		{"in the group and holding a billable SKU", both, ServiceState{}, ServiceFacts{InGroup: true, Skus: []string{skuX, skuE3}, SkusKnown: true}, ServiceState{}},
		{"SKU ids compare case-insensitively", both, ServiceState{}, ServiceFacts{InGroup: true, Skus: []string{"05E9A617-0261-4CEE-BB44-138D3EF5D965"}, SkusKnown: true}, ServiceState{}},
		{"outside the group", both, ServiceState{}, ServiceFacts{Skus: []string{skuE3}, SkusKnown: true}, ServiceState{true, RuleGroup}},
		{"no billable SKU", both, ServiceState{}, ServiceFacts{InGroup: true, Skus: []string{skuX}, SkusKnown: true}, ServiceState{true, RuleLicences}},
		{"no licence at all", both, ServiceState{}, ServiceFacts{InGroup: true, Skus: []string{}, SkusKnown: true}, ServiceState{true, RuleLicences}},
		{"both rules say so", both, ServiceState{}, ServiceFacts{SkusKnown: true}, ServiceState{true, "group,licences"}},
		{"group rule only", ServiceRules{Group: "Staff", GroupFound: true}, ServiceState{}, ServiceFacts{SkusKnown: true}, ServiceState{true, RuleGroup}},
		{"licence rule only ignores groups", ServiceRules{BillableSkus: []string{skuE3}}, ServiceState{}, ServiceFacts{Skus: []string{skuE3}, SkusKnown: true}, ServiceState{}},
		{"missing group keeps a normal user normal", ServiceRules{Group: "Staff"}, ServiceState{}, ServiceFacts{}, ServiceState{}},
		{"missing group keeps a group service user", ServiceRules{Group: "Staff"}, ServiceState{true, RuleGroup}, ServiceFacts{}, ServiceState{true, RuleGroup}},
		{"unknown licences keep the licence rule's say", both, ServiceState{true, RuleLicences}, ServiceFacts{InGroup: true}, ServiceState{true, RuleLicences}},
		{"unknown licences keep a billable user billable", both, ServiceState{}, ServiceFacts{InGroup: true}, ServiceState{}},
		{"back in the group and licensed", both, ServiceState{true, "group,licences"}, ServiceFacts{InGroup: true, Skus: []string{skuBP}, SkusKnown: true}, ServiceState{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			assert.Equal(t, c.want, c.rules.Decide(c.prev, c.facts))
		})
	}
}

func TestApplyServiceNamesTheRuleAndUpdatesAnUnchangedUser(t *testing.T) {
	r := ServiceRules{Group: "Staff", GroupFound: true, BillableSkus: []string{skuE3}}
	o := Outcome{Kind: Unchanged}
	next, changed := r.ApplyService(&o, ServiceState{}, ServiceFacts{InGroup: true, SkusKnown: true})
	require.True(t, changed)
	assert.Equal(t, ServiceState{true, RuleLicences}, next)
	assert.Equal(t, Updated, o.Kind)
	assert.False(t, o.Writes(), "the flag alone changed: the licence write carries it, not the row")
	assert.Contains(t, o.Reason, "rule licences")
	assert.Equal(t, "service_user", o.Changes[0].Field)

	o = Outcome{Kind: Updated, Changes: []domain.Change{{Field: "name", Old: "a", New: "b"}}}
	_, changed = r.ApplyService(&o, ServiceState{}, ServiceFacts{InGroup: true, SkusKnown: true})
	require.True(t, changed)
	assert.True(t, o.Writes(), "an update of the row stays one with the flag")

	o = Outcome{Kind: Unchanged}
	next, changed = r.ApplyService(&o, ServiceState{true, RuleLicences}, ServiceFacts{SkusKnown: true, Skus: []string{skuE3}})
	require.True(t, changed, "leaving the group replaces the licence rule by the group rule")
	assert.Equal(t, ServiceState{true, RuleGroup}, next)
	assert.Contains(t, o.Reason, `in no group named "Staff"`)
	assert.Equal(t, Updated, o.Kind)

	for _, k := range []Kind{Excluded, Ambiguous, Invalid} {
		o = Outcome{Kind: k}
		_, changed = r.ApplyService(&o, ServiceState{}, ServiceFacts{SkusKnown: true})
		assert.False(t, changed, k)
		assert.Empty(t, o.Changes)
	}
	o = Outcome{Kind: Unchanged}
	_, changed = r.ApplyService(&o, ServiceState{}, ServiceFacts{InGroup: true, SkusKnown: true, Skus: []string{skuE3}})
	assert.False(t, changed)
	assert.Equal(t, Unchanged, o.Kind)
}

func TestSkuIDsTellsAnUnsentListFromAnEmptyOne(t *testing.T) {
	page, err := DecodeDeltaPage([]byte(`{"value":[
		{"id":"a","assignedLicenses":[{"skuId":"05E9A617-0261-4CEE-BB44-138D3EF5D965","disabledPlans":[]},{"skuId":"05e9a617-0261-4cee-bb44-138d3ef5d965"}]},
		{"id":"b","assignedLicenses":[]},
		{"id":"c","displayName":"C"},
		{"id":"d","@removed":{"reason":"deleted"}}],"@odata.deltaLink":"https://graph.microsoft.com/v1.0/users/delta?$deltatoken=x"}`))
	require.NoError(t, err)
	skus, known := page.Users[0].SkuIDs()
	assert.True(t, known)
	assert.Equal(t, []string{skuE3}, skus)
	skus, known = page.Users[1].SkuIDs()
	assert.True(t, known)
	assert.Empty(t, skus)
	_, known = page.Users[2].SkuIDs()
	assert.False(t, known, "assignedLicenses left out is unknown, not none")
	skus, known = page.Users[3].SkuIDs()
	assert.True(t, known, "a removed user holds no licence")
	assert.Empty(t, skus)
	assert.Equal(t, []string{"accountEnabled", "assignedLicenses", "id"}, WithLicences([]string{"accountEnabled", "id"}))
}

// Membership after a groups round: changes apply in order over what was stored, a user
// counts as in when any of the groups of the name has him, and a group no longer of the name
// does not count.
func TestMembershipAfter(t *testing.T) {
	before := map[string][]string{"u1": {"g1"}, "u2": {"g1", "g2"}, "u3": {"old"}}
	changes := []MemberChange{
		{Group: "g1", User: "u1", Removed: true},
		{Group: "g1", User: "u2", Removed: true},
		{Group: "g2", User: "u4"},
		{Group: "g2", User: "u4", Removed: true},
		{Group: "g2", User: "u4"},
		{Group: "g1", User: "u5", Removed: true},
	}
	got := MembershipAfter(before, changes, []string{"g1", "g2"})
	want := map[string]bool{"u1": false, "u2": true, "u3": false, "u4": true, "u5": false}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for u, in := range want {
		if got[u] != in {
			t.Errorf("%s: in %v, want %v", u, got[u], in)
		}
	}
	// Read from the start: only what the round says.
	if got := MembershipAfter(nil, []MemberChange{{Group: "g1", User: "u1"}}, []string{"g1"}); !got["u1"] || len(got) != 1 {
		t.Fatalf("full read: %v", got)
	}
}

// Deciding again by group alone keeps the licence rule's say and logs why.
func TestRedecideGroup(t *testing.T) {
	r := ServiceRules{Group: "All Staff", GroupFound: true, BillableSkus: []string{"sku"}}
	next, ch, why, changed := r.RedecideGroup(ServiceState{Service: true, Reason: "licences"}, false, "group membership changed")
	if !changed || next != (ServiceState{true, "group,licences"}) || len(ch) != 1 || ch[0].Field != "service_reason" ||
		!strings.HasPrefix(why, "group membership changed; service user by rule group") {
		t.Fatalf("left the group: %v %v %q %v", next, ch, why, changed)
	}
	next, _, _, changed = r.RedecideGroup(ServiceState{Service: true, Reason: "group"}, true, "x")
	if !changed || next != (ServiceState{}) {
		t.Fatalf("joined the group: %v", next)
	}
	if _, _, _, changed = r.RedecideGroup(ServiceState{}, true, "x"); changed {
		t.Fatal("no change reported as one")
	}
	// The rule removed: the group's say goes, the licences' stays.
	next, _, _, changed = ServiceRules{BillableSkus: []string{"sku"}}.RedecideGroup(ServiceState{true, "group,licences"}, false, "service group rule removed")
	if !changed || next != (ServiceState{true, "licences"}) {
		t.Fatalf("rule removed: %v", next)
	}
}
