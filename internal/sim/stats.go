package sim

import (
	"maps"
	"slices"
	"time"
)

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
	// DeltaRequestsByTenant counts users/delta pages served, by tenant.
	DeltaRequestsByTenant map[string]int `json:"deltaRequestsByTenant"`
	// UsersByIDRequests counts list users requests filtering by object id (id eq, id in): a
	// client reading again users a delta page sent in part. UsersReadByID counts the users
	// they returned.
	UsersByIDRequests int `json:"usersByIdRequests"`
	UsersReadByID     int `json:"usersReadById"`
	// GroupRequests counts list groups and groups/delta requests (pages), all tenants.
	GroupRequests int `json:"groupRequests"`
	// SignInActivityRequestsByTenant counts list users requests selecting signInActivity
	// (answered or refused), by tenant.
	SignInActivityRequestsByTenant map[string]int `json:"signInActivityRequestsByTenant"`
	// SignIns counts authorization codes issued by interactive sign-ins.
	SignIns        int `json:"signIns"`
	AdminConsents  int `json:"adminConsents"`
	FaultsInjected int `json:"faultsInjected"`
	// GraphThrottled counts Graph requests refused for exceeding a resource unit budget.
	GraphThrottled int `json:"graphThrottled"`
	// RequestTimes holds, per API (APIPartnerCenter, APIGraph, APIToken), the wall-clock
	// arrival of its last requests (at most maxRecorded, oldest first): how long a client
	// waited between attempts shows there, whatever clock the simulator runs on.
	RequestTimes map[string][]time.Time `json:"requestTimes"`
	// CodeVerifiers holds the PKCE code_verifier values the token endpoint received (the last
	// maxRecorded), so tests can look for them where they must never appear.
	CodeVerifiers []string `json:"codeVerifiers"`
}

// maxRecorded bounds each recorded list, so a long-running simulator stays small.
const maxRecorded = 1000

func newStats() Stats {
	return Stats{TokenRequests: map[string]map[string]int{}, GraphRequestsByTenant: map[string]int{}, DeltaRequestsByTenant: map[string]int{},
		SignInActivityRequestsByTenant: map[string]int{},
		RequestTimes:                   map[string][]time.Time{}}
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
	c.DeltaRequestsByTenant = maps.Clone(s.stats.DeltaRequestsByTenant)
	c.SignInActivityRequestsByTenant = maps.Clone(s.stats.SignInActivityRequestsByTenant)
	c.RequestTimes = make(map[string][]time.Time, len(s.stats.RequestTimes))
	for api, ts := range s.stats.RequestTimes {
		c.RequestTimes[api] = slices.Clone(ts)
	}
	c.CodeVerifiers = slices.Clone(s.stats.CodeVerifiers)
	return c
}

// countRequest notes a request's arrival at api; the caller holds s.mu.
func (s *Server) countRequest(api string) {
	s.stats.RequestTimes[api] = appendBounded(s.stats.RequestTimes[api], time.Now())
}

func (s *Server) countToken(grantType, clientID, codeVerifier string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.countRequest(APIToken)
	m := s.stats.TokenRequests[grantType]
	if m == nil {
		m = map[string]int{}
		s.stats.TokenRequests[grantType] = m
	}
	m[clientID]++
	if codeVerifier != "" {
		s.stats.CodeVerifiers = appendBounded(s.stats.CodeVerifiers, codeVerifier)
	}
}

func appendBounded[T any](list []T, v T) []T {
	if len(list) >= maxRecorded {
		list = slices.Delete(list, 0, len(list)-maxRecorded+1)
	}
	return append(list, v)
}
