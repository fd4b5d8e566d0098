package licensing

import (
	"strings"
	"testing"
)

func TestChangeRefusal(t *testing.T) {
	ok := ChangeFacts{Action: Assign, Customer: "Contoso", Managed: true, ManagedBy: Manager, User: "adele@contoso.com",
		UserActive: true, UserInGraph: true, Sku: "SPB", SkuHeld: true, Paid: 10, Assigned: 9, UsageLocation: "GB"}
	with := func(f func(*ChangeFacts)) ChangeFacts { c := ok; f(&c); return c }
	for name, tc := range map[string]struct {
		facts ChangeFacts
		want  string // "" lets it start
	}{
		"assign":                {ok, ""},
		"remove held":           {with(func(f *ChangeFacts) { f.Action, f.UserHoldsSku, f.Assigned, f.UsageLocation = Remove, true, 10, "" }), ""},
		"unknown action":        {with(func(f *ChangeFacts) { f.Action = "swap" }), "assign or remove"},
		"not managed":           {with(func(f *ChangeFacts) { f.Managed, f.ManagedBy = false, "" }), "licences manage --customer"},
		"managed elsewhere":     {with(func(f *ChangeFacts) { f.Managed, f.ManagedBy = false, "Halo" }), "managed by Halo"},
		"inactive user":         {with(func(f *ChangeFacts) { f.UserActive = false }), "inactive"},
		"user gone from Graph":  {with(func(f *ChangeFacts) { f.UserInGraph = false }), "no longer in the customer's tenant"},
		"SKU not held":          {with(func(f *ChangeFacts) { f.SkuHeld = false }), "holds no licence SPB"},
		"running":               {with(func(f *ChangeFacts) { f.Running = true }), "already running"},
		"no free seat":          {with(func(f *ChangeFacts) { f.Assigned = 10 }), "no free seat"},
		"over-assigned":         {with(func(f *ChangeFacts) { f.Assigned = 12 }), "no free seat"},
		"no usage location":     {with(func(f *ChangeFacts) { f.UsageLocation = "" }), "usage location"},
		"already holds":         {with(func(f *ChangeFacts) { f.UserHoldsSku = true }), "already holds"},
		"remove not held":       {with(func(f *ChangeFacts) { f.Action = Remove }), "nothing to remove"},
		"remove without a seat": {with(func(f *ChangeFacts) { f.Action, f.UserHoldsSku, f.Paid = Remove, true, 0 }), ""},
	} {
		err := ChangeRefusal(tc.facts)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want an error saying %q", name, err, tc.want)
		}
	}
}

func TestManageRefusal(t *testing.T) {
	for managedBy, refused := range map[string]bool{"": false, Manager: false, "Halo's own licence sync": true} {
		if err := ManageRefusal("Contoso", managedBy); (err != nil) != refused {
			t.Errorf("managed by %q: %v", managedBy, err)
		}
	}
}
