package licensing_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/cspsync/cspsync/internal/licensing"
)

const (
	spb  = "cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46"
	e3   = "6fd2c87f-b296-42f0-b197-1e91e994b900"
	pbiP = "f8a1db68-be16-40ed-86d5-cb42ce701560"
)

func TestChangesRecordEveryUnitAndStatusChangeAndEndings(t *testing.T) {
	old := []licensing.Licence{
		{SkuID: spb, Active: 40, Total: 40, Consumed: 38, CapabilityStatus: "Enabled"},
		{SkuID: e3, Active: 5, Total: 5, Consumed: 5, CapabilityStatus: "Enabled"},
	}
	now := []licensing.Licence{
		{SkuID: spb, Active: 45, Total: 45, Consumed: 38, CapabilityStatus: "Enabled"},
		{SkuID: pbiP, Active: 2, Total: 2, CapabilityStatus: "Enabled"},
	}
	end := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	oldSubs := []licensing.Subscription{{ID: "s1", SkuID: spb, Quantity: 40, Status: "active", CommitmentEndDate: end},
		{ID: "s2", SkuID: e3, Quantity: 5, Status: "active"}}
	nowSubs := []licensing.Subscription{{ID: "s1", SkuID: spb, Quantity: 45, Status: "active", CommitmentEndDate: end},
		{ID: "s3", SkuID: pbiP, Quantity: 2, Status: "active"}}

	assert.ElementsMatch(t, []licensing.Event{
		{SkuID: spb, Field: "total", Old: "40", New: "45"},
		{SkuID: spb, Field: "active", Old: "40", New: "45"},
		{SkuID: pbiP, Field: "licence", New: "added"},
		{SkuID: e3, Field: "licence", Old: "active", New: "ended"},
		{SkuID: spb, SubscriptionID: "s1", Field: "quantity", Old: "40", New: "45"},
		{SkuID: pbiP, SubscriptionID: "s3", Field: "subscription", New: "added"},
		{SkuID: e3, SubscriptionID: "s2", Field: "subscription", Old: "active", New: "ended"},
	}, licensing.Changes(old, now, oldSubs, nowSubs))
	assert.Empty(t, licensing.Changes(now, now, nowSubs, nowSubs), "nothing changed, nothing recorded")
}

func TestAttachBySKUNameAndTrialSuffix(t *testing.T) {
	ls := []licensing.Licence{
		{SkuID: spb, ProductName: "Microsoft 365 Business Premium"},
		{SkuID: e3, ProductName: "Office 365 E3"},
	}
	subs := licensing.Attach([]licensing.Subscription{
		{ID: "a", OfferName: "Microsoft 365 Business Premium"},
		{ID: "b", OfferName: "Microsoft  365 business premium Trial"},
		{ID: "c", OfferName: "Something else", FriendlyName: "Office 365 E3"},
		{ID: "d", OfferName: "Unknown product"},
	}, ls, map[string][]string{e3: {"O365 E3 (PC name)"}})
	got := map[string]string{}
	for _, s := range subs {
		got[s.ID] = s.SkuID
	}
	assert.Equal(t, map[string]string{"a": spb, "b": spb, "c": e3, "d": ""}, got)
	assert.Equal(t, []licensing.Licence{ls[0]}, licensing.Sold(ls, subs[:2]))
}

func TestAttachLeavesAmbiguousNamesUnattached(t *testing.T) {
	ls := []licensing.Licence{{SkuID: spb, ProductName: "Same"}, {SkuID: e3, ProductName: "Same"}}
	subs := licensing.Attach([]licensing.Subscription{{ID: "a", OfferName: "Same"}}, ls, nil)
	assert.Empty(t, subs[0].SkuID)
}

func TestSeats(t *testing.T) {
	cases := []struct {
		l    licensing.Licence
		want licensing.Seats
		att  bool
	}{
		{licensing.Licence{Active: 10, Consumed: 7}, licensing.Seats{Paid: 10, Assigned: 7, Unused: 3}, false},
		{licensing.Licence{Active: 5, Consumed: 7}, licensing.Seats{Paid: 5, Assigned: 7, Over: 2}, true},
		{licensing.Licence{Active: 5, Consumed: 5, Suspended: 3}, licensing.Seats{Paid: 5, Assigned: 5, Suspended: 3}, true},
		{licensing.Licence{Active: 0, Consumed: 0, Warning: 4}, licensing.Seats{Warning: 4}, true},
	}
	var total licensing.Seats
	for _, c := range cases {
		got := licensing.SeatsOf(c.l)
		assert.Equal(t, c.want, got)
		assert.Equal(t, c.att, got.NeedsAttention())
		total.Add(got)
	}
	assert.Equal(t, licensing.Seats{Paid: 20, Assigned: 19, Unused: 3, Over: 2, Suspended: 3, Warning: 4}, total)
}
