package sim

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Graph's identity and access throttling: token buckets of resource units per app and tenant
// (3,500 / 5,000 / 8,000 per 10 seconds for tenants of under 50 / 50 to 500 / over 500 users),
// per app across tenants (150,000 per 20 seconds), and a write quota per app and tenant (3,000
// per 2.5 minutes). Requests over a limit get 429 with Retry-After and are not charged.

type throttleLimit struct {
	units  float64
	window time.Duration
}

var (
	appLimit      = throttleLimit{150_000, 20 * time.Second}
	writeLimit    = throttleLimit{3_000, 150 * time.Second}
	tenantWindow  = 10 * time.Second
	tenantBudgets = []struct {
		belowUsers int
		units      int
	}{{50, 3_500}, {501, 5_000}, {math.MaxInt, 8_000}}
)

// tenantBudget is the resource units an app may spend in o per 10 seconds (caller holds s.mu).
func (s *Server) tenantBudget(o *org) int {
	if n := s.state.GraphBudgets[o.ID]; n > 0 {
		return n
	}
	for _, b := range tenantBudgets {
		if o.live < b.belowUsers {
			return b.units
		}
	}
	return tenantBudgets[len(tenantBudgets)-1].units
}

// bucket holds the units left at a moment; it refills linearly to the limit over the window.
type bucket struct {
	left float64
	at   time.Time
}

// take charges cost if the bucket has it, else reports how long until it will.
func (b *bucket) take(l throttleLimit, cost float64, now time.Time) (wait time.Duration, used float64) {
	rate := l.units / l.window.Seconds()
	if b.at.IsZero() {
		b.left = l.units
	} else {
		b.left = min(l.units, b.left+now.Sub(b.at).Seconds()*rate)
	}
	b.at = now
	if b.left < cost {
		return time.Duration((cost - b.left) / rate * float64(time.Second)), 1
	}
	b.left -= cost
	return 0, 1 - b.left/l.units
}

// requestCost is a request's resource units and write units, from Microsoft's table of base
// costs and its adjustments ($select -1, $expand +1, $top under 20 -1; never below 1).
func requestCost(r *http.Request) (units, writes int) {
	path := strings.TrimPrefix(r.URL.Path, "/v1.0/")
	units = 1
	if r.Method == http.MethodGet {
		switch {
		case path == "users":
			units = 2
		case path == "subscribedSkus":
			units = 3
		case strings.HasPrefix(path, "users/") && (strings.HasSuffix(path, "/memberOf") || strings.HasSuffix(path, "/transitiveMemberOf") || strings.HasSuffix(path, "/licenseDetails")):
			units = 2
		}
	} else {
		writes = 1
	}
	q := r.URL.Query()
	if q.Has("$select") {
		units--
	}
	if q.Has("$expand") {
		units++
	}
	if top, err := strconv.Atoi(q.Get("$top")); err == nil && top < 20 {
		units--
	}
	return max(units, 1), writes
}

// throttle charges the request to its app and tenant, or answers 429 and reports false.
func (s *Server) throttle(w http.ResponseWriter, r *http.Request, call graphCall) bool {
	units, writes := requestCost(r)
	app, o, now := call.claims.AppID, call.org, s.now()
	s.mu.Lock()
	tenantLimit := throttleLimit{float64(s.tenantBudget(o)), tenantWindow}
	checks := []struct {
		key, scope, info string
		limit            throttleLimit
		cost             int
	}{
		{"units/" + app + "/" + o.ID, "Tenant_Application/ReadWrite", "ResourceUnitLimitExceeded", tenantLimit, units},
		{"units/" + app, "Application/ReadWrite", "ResourceUnitLimitExceeded", appLimit, units},
		{"writes/" + app + "/" + o.ID, "Tenant_Application/Write", "WriteLimitExceeded", writeLimit, writes},
	}
	// Check every bucket before charging any, so a refused request costs nothing.
	var wait time.Duration
	scope, info, used := "", "", 0.0
	for _, c := range checks {
		if c.cost == 0 {
			continue
		}
		b := *s.bucketFor(c.key)
		if d, u := b.take(c.limit, float64(c.cost), now); d > wait {
			wait, scope, info = d, c.scope, c.info
		} else if d == 0 {
			used = max(used, u)
		}
	}
	if wait == 0 {
		for _, c := range checks {
			if c.cost > 0 {
				s.bucketFor(c.key).take(c.limit, float64(c.cost), now)
			}
		}
	} else {
		s.stats.GraphThrottled++
	}
	s.mu.Unlock()

	if wait > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		w.Header().Set("x-ms-throttle-scope", scope+"/"+app+"/"+o.ID)
		w.Header().Set("x-ms-throttle-information", info)
		s.writeGraphError(w, http.StatusTooManyRequests, "TooManyRequests", "Please retry again later.")
		return false
	}
	w.Header().Set("x-ms-resource-unit", strconv.Itoa(units))
	if used > 0.8 {
		w.Header().Set("x-ms-throttle-limit-percentage", strconv.FormatFloat(used, 'f', 1, 64))
	}
	return true
}

func (s *Server) bucketFor(key string) *bucket {
	b := s.buckets[key]
	if b == nil {
		b = &bucket{}
		s.buckets[key] = b
	}
	return b
}

// SetGraphBudget sets the resource units per 10 seconds any app may spend in a tenant, so a
// test can provoke throttling; 0 restores Microsoft's budget for the tenant's size.
func (s *Server) SetGraphBudget(tenantID string, unitsPer10s int) error {
	o := s.dir.byID[strings.ToLower(tenantID)]
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	if unitsPer10s < 0 {
		return fmt.Errorf("sim: a Graph budget of %d resource units is negative; use 0 for Microsoft's default", unitsPer10s)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.GraphBudgets == nil {
		s.state.GraphBudgets = map[string]int{}
	}
	if unitsPer10s == 0 {
		delete(s.state.GraphBudgets, o.ID)
	} else {
		s.state.GraphBudgets[o.ID] = unitsPer10s
	}
	// Start the tenant's buckets afresh at the new budget.
	for k := range s.buckets {
		if strings.HasSuffix(k, "/"+o.ID) {
			delete(s.buckets, k)
		}
	}
	return s.persistLocked()
}

// ExpireAccessTokens makes Graph refuse every access token issued so far as expired
// (401 InvalidAuthenticationToken, "Lifetime validation failed, the token is expired."), as
// when tokens run out in the middle of a sync; tokens issued afterwards work. Token times
// have whole seconds, so with the real clock this waits for the next second to begin.
func (s *Server) ExpireAccessTokens() error {
	now := s.now()
	from := now.Truncate(time.Second).Add(time.Second)
	if s.opts.Now == nil {
		time.Sleep(from.Sub(now))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.AccessTokensValidFrom = from
	return s.persistLocked()
}

// ExpireDeltaTokens makes every users delta and skip token issued so far for a tenant unknown,
// as after Microsoft's seven days or a sync reset: following one answers 410 Gone with a
// Location to start a full synchronization.
func (s *Server) ExpireDeltaTokens(tenantID string) error {
	o := s.dir.byID[strings.ToLower(tenantID)]
	if o == nil {
		return errUnknownTenant(tenantID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.state.tenant(o).DeltaTokensValidFrom = s.now()
	return s.persistLocked()
}

type graphBudget struct {
	ResourceUnitsPer10s *int `json:"resourceUnitsPer10s"`
}
