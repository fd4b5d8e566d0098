package sim

import "maps"

// Stats counts what clients asked of the simulator, so tests can assert on traffic (for
// example that a sync refreshed tokens instead of signing in again, or backed off).
type Stats struct {
	// TokenRequests counts token endpoint calls by grant_type, then client_id, including
	// failed ones.
	TokenRequests         map[string]map[string]int `json:"tokenRequests"`
	PartnerCenterRequests int                       `json:"partnerCenterRequests"`
	GraphRequests         int                       `json:"graphRequests"`
	// GraphRequestsByTenant counts authenticated Graph calls by the token's tenant.
	GraphRequestsByTenant map[string]int `json:"graphRequestsByTenant"`
	// SignIns counts authorization codes issued by interactive sign-ins.
	SignIns        int `json:"signIns"`
	AdminConsents  int `json:"adminConsents"`
	FaultsInjected int `json:"faultsInjected"`
	// GraphThrottled counts Graph requests refused for exceeding a resource unit budget.
	GraphThrottled int `json:"graphThrottled"`
}

func newStats() Stats {
	return Stats{TokenRequests: map[string]map[string]int{}, GraphRequestsByTenant: map[string]int{}}
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.stats
	c.TokenRequests = make(map[string]map[string]int, len(s.stats.TokenRequests))
	for g, m := range s.stats.TokenRequests {
		c.TokenRequests[g] = maps.Clone(m)
	}
	c.GraphRequestsByTenant = maps.Clone(s.stats.GraphRequestsByTenant)
	return c
}

func (s *Server) countToken(grantType, clientID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.stats.TokenRequests[grantType]
	if m == nil {
		m = map[string]int{}
		s.stats.TokenRequests[grantType] = m
	}
	m[clientID]++
}
