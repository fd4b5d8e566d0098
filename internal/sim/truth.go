package sim

import (
	"fmt"
	"strings"
)

// SkuTruth is what the simulator holds for one SKU of a tenant, as both
// licence APIs report it: the oracle tests compare cspsync's tables with.
type SkuTruth struct {
	SkuID, PartNumber, Name                     string
	Active, Consumed, Suspended, Warning, Total int
	CapabilityStatus                            string
	PartnerSubscriptions                        []string // ids of the partner's subscriptions of the SKU, deleted ones included
}

// LicenceTruth returns a tenant's SKUs and subscriptions as they stand now.
func (s *Server) LicenceTruth(tenantID string) ([]SkuTruth, []Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := s.dir.byID[strings.ToLower(tenantID)]
	if o == nil || o.partner {
		return nil, nil, fmt.Errorf("sim: no customer tenant %s", tenantID)
	}
	var out []SkuTruth
	for i := range o.Skus {
		k := &o.Skus[i]
		u := o.units(k)
		t := SkuTruth{SkuID: k.SkuID, PartNumber: k.PartNumber, Name: k.Name, Active: u.Enabled, Consumed: u.Consumed,
			Suspended: u.Suspended, Warning: u.Warning, Total: u.total(), CapabilityStatus: u.capabilityStatus()}
		for _, sub := range o.Subscriptions {
			if strings.EqualFold(sub.SkuID, k.SkuID) {
				t.PartnerSubscriptions = append(t.PartnerSubscriptions, sub.ID)
			}
		}
		out = append(out, t)
	}
	return out, append([]Subscription(nil), o.Subscriptions...), nil
}

// Snapshot is the scenario as it stands now (consent and directory changes
// applied, deleted users left out): the truth tests compare cspsync with.
func (s *Server) Snapshot() Scenario { return s.snapshot() }
