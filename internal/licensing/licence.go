package licensing

import (
	"sort"
	"strconv"
	"strings"
	"time"
)

// Licence is one SKU a customer holds, with its seats as Microsoft counts them.
type Licence struct {
	SkuID       string // the GUID users' assignedLicenses refer to
	PartNumber  string
	ProductName string
	Total       int
	Active      int // paid for and usable
	Consumed    int // assigned to users
	Suspended   int
	Warning     int // in their grace period after expiry
	// CapabilityStatus is Microsoft's: Enabled, Warning, Suspended, Deleted, LockedOut.
	CapabilityStatus string
}

// Subscription is one of the partner's Partner Center subscriptions of a customer.
type Subscription struct {
	ID                string
	SkuID             string // the licence it provides seats of; "" when it cannot be told
	OfferID           string
	OfferName         string
	FriendlyName      string
	Quantity          int
	Status            string // active, suspended, deleted, expired, ...
	BillingCycle      string
	TermDuration      string
	CommitmentEndDate time.Time
	AutoRenew         bool
	Trial             bool
}

// Event is one change of a licence (SubscriptionID empty) or of a subscription.
type Event struct {
	SkuID          string
	SubscriptionID string
	Field          string
	Old, New       string
}

// Changes lists what changed from the stored licences and subscriptions to
// the ones Microsoft lists now: every unit count and status, licences and
// subscriptions that appeared ("added") or disappeared ("ended"). It is the
// billing history ("when did Contoso go from 40 to 45 seats?").
func Changes(old, now []Licence, oldSubs, nowSubs []Subscription) []Event {
	var out []Event
	before := map[string]Licence{}
	for _, l := range old {
		before[l.SkuID] = l
	}
	seen := map[string]bool{}
	for _, l := range now {
		seen[l.SkuID] = true
		o, ok := before[l.SkuID]
		if !ok {
			out = append(out, Event{SkuID: l.SkuID, Field: "licence", Old: "", New: "added"})
			continue
		}
		for _, f := range []struct {
			name     string
			old, now string
		}{
			{"total", itoa(o.Total), itoa(l.Total)},
			{"active", itoa(o.Active), itoa(l.Active)},
			{"consumed", itoa(o.Consumed), itoa(l.Consumed)},
			{"suspended", itoa(o.Suspended), itoa(l.Suspended)},
			{"warning", itoa(o.Warning), itoa(l.Warning)},
			{"capability_status", o.CapabilityStatus, l.CapabilityStatus},
		} {
			if f.old != f.now {
				out = append(out, Event{SkuID: l.SkuID, Field: f.name, Old: f.old, New: f.now})
			}
		}
	}
	for _, l := range old {
		if !seen[l.SkuID] {
			out = append(out, Event{SkuID: l.SkuID, Field: "licence", Old: "active", New: "ended"})
		}
	}
	subsBefore := map[string]Subscription{}
	for _, s := range oldSubs {
		subsBefore[s.ID] = s
	}
	subSeen := map[string]bool{}
	for _, s := range nowSubs {
		subSeen[s.ID] = true
		o, ok := subsBefore[s.ID]
		if !ok {
			out = append(out, Event{SkuID: s.SkuID, SubscriptionID: s.ID, Field: "subscription", New: "added"})
			continue
		}
		for _, f := range []struct {
			name     string
			old, now string
		}{
			{"quantity", itoa(o.Quantity), itoa(s.Quantity)},
			{"status", o.Status, s.Status},
			{"auto_renew", strconv.FormatBool(o.AutoRenew), strconv.FormatBool(s.AutoRenew)},
			{"commitment_end_date", day(o.CommitmentEndDate), day(s.CommitmentEndDate)},
			{"billing_cycle", o.BillingCycle, s.BillingCycle},
		} {
			if f.old != f.now {
				out = append(out, Event{SkuID: s.SkuID, SubscriptionID: s.ID, Field: f.name, Old: f.old, New: f.now})
			}
		}
	}
	for _, s := range oldSubs {
		if !subSeen[s.ID] {
			out = append(out, Event{SkuID: s.SkuID, SubscriptionID: s.ID, Field: "subscription", Old: s.Status, New: "ended"})
		}
	}
	return out
}

// Attach ties each subscription to the licence it provides seats of.
// Partner Center's subscriptions name their offer, not the SKU GUID, and its
// subscribed SKUs do not list subscription ids, so the offer's product name
// is matched with the SKU's (a trial's "… Trial" suffix aside); a name that
// matches no SKU, or several, leaves the subscription unattached.
func Attach(subs []Subscription, licences []Licence, skuNames map[string][]string) []Subscription {
	byName := map[string][]string{}
	for _, l := range licences {
		names := append([]string{l.ProductName}, skuNames[l.SkuID]...)
		added := map[string]bool{}
		for _, n := range names {
			k := productKey(n)
			if k != "" && !added[k] {
				added[k] = true
				byName[k] = append(byName[k], l.SkuID)
			}
		}
	}
	out := make([]Subscription, len(subs))
	for i, s := range subs {
		if s.SkuID == "" {
			for _, n := range []string{s.OfferName, s.FriendlyName} {
				if ids := byName[productKey(n)]; len(ids) == 1 {
					s.SkuID = ids[0]
					break
				}
			}
		}
		out[i] = s
	}
	return out
}

// Sold keeps the licences the partner's subscriptions provide seats of.
func Sold(ls []Licence, subs []Subscription) []Licence {
	sold := map[string]bool{}
	for _, s := range subs {
		sold[s.SkuID] = true
	}
	var out []Licence
	for _, l := range ls {
		if sold[l.SkuID] {
			out = append(out, l)
		}
	}
	return out
}

func productKey(name string) string {
	k := strings.ToLower(strings.Join(strings.Fields(name), " "))
	for _, suffix := range []string{" (trial)", " trial"} {
		k = strings.TrimSuffix(k, suffix)
	}
	return k
}

// SortLicences orders licences by product name, then SKU id, for stable reports.
func SortLicences(ls []Licence) {
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].ProductName != ls[j].ProductName {
			return ls[i].ProductName < ls[j].ProductName
		}
		return ls[i].SkuID < ls[j].SkuID
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02")
}
