package microsoft_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/sim"
)

// memCache keeps MSAL's token caches in memory.
type memCache struct {
	mu    sync.Mutex
	blobs map[string][]byte
}

func (c *memCache) LoadTokenCache(_ context.Context, partnerID, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.blobs[partnerID+"/"+key], nil
}

func (c *memCache) SaveTokenCache(_ context.Context, partnerID, key string, blob []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.blobs == nil {
		c.blobs = map[string][]byte{}
	}
	c.blobs[partnerID+"/"+key] = blob
	return nil
}

// graphLog records the Graph requests that leave the SDK's middleware, as
// sent: URL, Prefer header and the status of the answer.
type graphLog struct {
	next http.RoundTripper
	mu   sync.Mutex
	reqs []loggedRequest
}

type loggedRequest struct {
	url, prefer string
	status      int
}

func (l *graphLog) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := l.next.RoundTrip(r)
	if strings.HasPrefix(r.URL.Path, "/v1.0/") {
		l.mu.Lock()
		lr := loggedRequest{url: r.URL.String(), prefer: r.Header.Get("Prefer")}
		if resp != nil {
			lr.status = resp.StatusCode
		}
		l.reqs = append(l.reqs, lr)
		l.mu.Unlock()
	}
	return resp, err
}

func (l *graphLog) requests() []loggedRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.reqs)
}

// graphWorld is the simulator with a premium tenant of users users (first)
// and a tenant without Entra ID P1 (second), and the Graph app's credentials.
type graphWorld struct {
	srv   *sim.Server
	sc    sim.Scenario
	auth  *microsoft.Auth
	creds domain.Credentials
	log   *graphLog
}

func newGraphWorld(t testing.TB, users int) *graphWorld {
	t.Helper()
	sc := sim.Generate(sim.GenerateOptions{Seed: 5, Tenants: 2, TenantUsers: []int{users, 10}})
	sc.Tenants[0].PremiumLicence = true
	sc.Tenants[1].PremiumLicence = false
	srv, err := sim.New(sc, sim.Options{StateDir: t.TempDir()})
	require.NoError(t, err)
	require.NoError(t, srv.Start())
	t.Cleanup(func() { _ = srv.Close() })
	hc, err := microsoft.NewHTTPClient(srv.CAFile())
	require.NoError(t, err)
	log := &graphLog{next: hc.Transport}
	hc.Transport = log
	return &graphWorld{srv: srv, sc: sc, log: log, auth: &microsoft.Auth{HTTP: hc, Cache: &memCache{}},
		creds: domain.Credentials{PartnerID: "acme", AuthorityURL: srv.URL(), PartnerTenantID: sc.PartnerTenantID,
			PartnerCenterURL: srv.URL(), GraphURL: srv.URL(), GraphClientID: sim.DefaultGraphClientID, GraphSecret: sim.DefaultGraphSecret}}
}

func (w *graphWorld) tenant(i int) string { return w.sc.Tenants[i].ID }

func (w *graphWorld) users(t testing.TB, i int) *microsoft.GraphUsers {
	t.Helper()
	g, err := w.auth.GraphUsers(w.creds, w.tenant(i))
	require.NoError(t, err)
	return g
}

// tokenRequests counts the Graph app's client credentials token requests.
func (w *graphWorld) tokenRequests() int {
	return w.srv.Stats().TokenRequests["client_credentials"][sim.DefaultGraphClientID]
}

// deltaPage holds the few fields the tests read from a raw users delta page.
type deltaPage struct {
	Value []struct {
		ID          string  `json:"id"`
		DisplayName *string `json:"displayName"`
		Removed     *struct {
			Reason string `json:"reason"`
		} `json:"@removed"`
	} `json:"value"`
	Next  string `json:"@odata.nextLink"`
	Delta string `json:"@odata.deltaLink"`
}

func decodePage(t testing.TB, body []byte) deltaPage {
	t.Helper()
	var p deltaPage
	require.NoError(t, json.Unmarshal(body, &p), "%.200s", body)
	return p
}

// round is what a delta round saw.
type round struct {
	pages     []deltaPage
	links     []string // the links followed, in order
	ids       []string
	removed   map[string]string // id -> reason
	deltaLink string
}

// followRound reads a round from its first page to its deltaLink. between
// runs after each page is read.
func followRound(t testing.TB, g *microsoft.GraphUsers, first []byte, pageSize int, between func(page int)) round {
	t.Helper()
	r := round{removed: map[string]string{}}
	body := first
	for {
		p := decodePage(t, body)
		r.pages = append(r.pages, p)
		for _, u := range p.Value {
			if u.Removed != nil {
				r.removed[u.ID] = u.Removed.Reason
			} else {
				r.ids = append(r.ids, u.ID)
			}
		}
		if between != nil {
			between(len(r.pages))
		}
		if p.Delta != "" {
			require.Empty(t, p.Next)
			r.deltaLink = p.Delta
			return r
		}
		require.NotEmpty(t, p.Next, "a page with neither nextLink nor deltaLink")
		var err error
		body, err = g.DeltaPage(context.Background(), p.Next, pageSize)
		require.NoError(t, err)
		r.links = append(r.links, p.Next)
	}
}

var deltaSelect = []string{"id", "displayName", "department", "accountEnabled", "onPremisesSamAccountName"}

func TestUsersDeltaFullRoundPageByPage(t *testing.T) {
	w := newGraphWorld(t, 1000)
	g := w.users(t, 0)
	ctx := context.Background()

	first, err := g.DeltaFirstPage(ctx, deltaSelect, 200)
	require.NoError(t, err)
	r := followRound(t, g, first, 200, nil)

	require.Len(t, r.pages, 5)
	for _, p := range r.pages {
		assert.Len(t, p.Value, 200)
	}
	ids := slices.Clone(r.ids)
	slices.Sort(ids)
	assert.Len(t, slices.Compact(ids), 1000, "every user once")
	assert.Empty(t, r.removed)
	for _, p := range r.pages {
		for _, u := range p.Value {
			require.NotNil(t, u.DisplayName, "the selected properties are there")
		}
	}

	// One Graph request per page, one token for the round.
	reqs := w.log.requests()
	require.Len(t, reqs, 5)
	assert.Equal(t, 5, w.srv.Stats().GraphRequests)
	assert.Equal(t, 1, w.tokenRequests())
	assert.Equal(t, w.srv.URL()+"/v1.0/users/delta()?$select=id,displayName,department,accountEnabled,onPremisesSamAccountName", reqs[0].url)
	for i, link := range r.links {
		assert.Equal(t, link, reqs[i+1].url, "page %d follows the nextLink verbatim", i+2)
	}
	for _, req := range reqs {
		assert.Equal(t, "odata.maxpagesize=200", req.prefer)
	}

	// Asking for more than Graph serves asks for Graph's maximum.
	_, err = g.DeltaFirstPage(ctx, deltaSelect, 5000)
	require.NoError(t, err)
	assert.Equal(t, "odata.maxpagesize=200", w.log.requests()[5].prefer)
}

func TestUsersDeltaLaterRoundReturnsOnlyChanges(t *testing.T) {
	w := newGraphWorld(t, 300)
	g := w.users(t, 0)
	ctx := context.Background()
	first, err := g.DeltaFirstPage(ctx, deltaSelect, 100)
	require.NoError(t, err)
	full := followRound(t, g, first, 100, nil)
	require.Len(t, full.ids, 300)

	ch, err := w.srv.ChangeUsers(w.tenant(0), sim.UserChanges{Seed: 1, Create: 3, Update: 5, Disable: 2, Delete: 2})
	require.NoError(t, err)
	before := len(w.log.requests())
	page, err := g.DeltaPage(ctx, full.deltaLink, 100)
	require.NoError(t, err)
	delta := followRound(t, g, page, 100, nil)

	assert.Len(t, delta.pages, 1)
	assert.Equal(t, full.deltaLink, w.log.requests()[before].url, "the deltaLink is followed verbatim")
	assert.Equal(t, "odata.maxpagesize=100", w.log.requests()[before].prefer, "Graph's default mode: no return=minimal")
	assert.ElementsMatch(t, slices.Concat(ch.Created, ch.Updated, ch.Disabled), delta.ids)
	for _, u := range delta.pages[0].Value {
		if u.Removed == nil {
			assert.NotNil(t, u.DisplayName, "in the default mode an updated user %s keeps his unchanged properties", u.ID)
		}
	}
	assert.Equal(t, map[string]string{ch.Deleted[0]: "changed", ch.Deleted[1]: "changed"}, delta.removed)

	// Nothing changed since: an empty round with a new deltaLink.
	page, err = g.DeltaPage(ctx, delta.deltaLink, 100)
	require.NoError(t, err)
	quiet := followRound(t, g, page, 100, nil)
	assert.Empty(t, quiet.ids)
	assert.NotEqual(t, delta.deltaLink, quiet.deltaLink)
}

func TestUsersDeltaExpiredTokenAsksForAFullRound(t *testing.T) {
	w := newGraphWorld(t, 30)
	g := w.users(t, 0)
	ctx := context.Background()
	first, err := g.DeltaFirstPage(ctx, deltaSelect, 10)
	require.NoError(t, err)
	full := followRound(t, g, first, 10, nil)
	half, err := g.DeltaFirstPage(ctx, deltaSelect, 10) // a round left at its first page
	require.NoError(t, err)

	require.NoError(t, w.srv.ExpireDeltaTokens(w.tenant(0)))
	for name, link := range map[string]string{"deltaLink": full.deltaLink, "nextLink of a round under way": decodePage(t, half).Next} {
		_, err := g.DeltaPage(ctx, link, 10)
		require.Error(t, err, name)
		assert.ErrorIs(t, err, microsoft.ErrDeltaExpired, name)
		var f *microsoft.Failure
		require.ErrorAs(t, err, &f)
		assert.Equal(t, domain.Resync, f.Reaction)
		assert.Equal(t, "syncStateNotFound", f.Code)
		assert.Equal(t, http.StatusGone, f.Status)
	}

	// The full round that follows reads everyone again.
	first, err = g.DeltaFirstPage(ctx, deltaSelect, 10)
	require.NoError(t, err)
	assert.Len(t, followRound(t, g, first, 10, nil).ids, 30)
}

func TestUsersDeltaRecoversFromAnAccessTokenExpiredMidRound(t *testing.T) {
	w := newGraphWorld(t, 1000)
	g := w.users(t, 0)
	first, err := g.DeltaFirstPage(context.Background(), deltaSelect, 200)
	require.NoError(t, err)
	r := followRound(t, g, first, 200, func(page int) {
		if page == 2 {
			require.NoError(t, w.srv.ExpireAccessTokens())
		}
	})

	assert.Len(t, r.ids, 1000)
	assert.Equal(t, 2, w.tokenRequests(), "exactly one token more than the round's first")
	st := w.srv.Stats()
	assert.Equal(t, 6, st.GraphRequests, "five pages and the one Graph refused")
	assert.Equal(t, 5, st.GraphRequestsByTenant[w.tenant(0)], "one refused request")
	reqs := w.log.requests()
	assert.Equal(t, http.StatusUnauthorized, reqs[2].status)
	assert.Equal(t, reqs[2].url, reqs[3].url, "the refused page is asked for again")

	// A new client for the tenant gets the fresh token from MSAL's cache.
	again, err := w.users(t, 0).DeltaPage(context.Background(), r.deltaLink, 200)
	require.NoError(t, err)
	assert.Empty(t, decodePage(t, again).Value)
	assert.Equal(t, 2, w.tokenRequests())
}

func TestUsersDeltaWaitsOutThrottling(t *testing.T) {
	w := newGraphWorld(t, 1000)
	// Four resource units per ten seconds, a unit a page: the fifth page
	// waits for Retry-After (about 2.5 s) unless the first four took longer.
	require.NoError(t, w.srv.SetGraphBudget(w.tenant(0), 4))
	g := w.users(t, 0)
	first, err := g.DeltaFirstPage(context.Background(), deltaSelect, 200)
	require.NoError(t, err)
	r := followRound(t, g, first, 200, nil)

	assert.Len(t, r.ids, 1000)
	assert.Len(t, r.pages, 5)
	st := w.srv.Stats()
	assert.Positive(t, st.GraphThrottled, "the simulator throttled the round")
	assert.Equal(t, 5+st.GraphThrottled, st.GraphRequests, "each throttled request was retried, nothing else")
	for _, req := range w.log.requests() {
		if req.status == http.StatusTooManyRequests {
			return
		}
	}
	t.Error("no 429 reached the client's middleware")
}

func TestUsersDeltaThrottledPastTheSDKsRetriesCarriesRetryAfter(t *testing.T) {
	w := newGraphWorld(t, 10)
	g := w.users(t, 0)
	// The SDK sends a request and retries it three times.
	w.srv.SetFault(sim.Fault{API: sim.APIGraph, Kind: sim.FaultThrottle, Count: 4, RetryAfter: "0.25"})
	_, err := g.DeltaFirstPage(context.Background(), deltaSelect, 10)
	var f *microsoft.Failure
	require.ErrorAs(t, err, &f)
	assert.Equal(t, domain.Retry, f.Reaction)
	assert.Equal(t, "TooManyRequests", f.Code)
	assert.Equal(t, 250*time.Millisecond, f.RetryAfter, "the activity's retry waits as Graph asked")
	assert.Equal(t, 4, w.srv.Stats().FaultsInjected)
	assert.NotErrorIs(t, err, microsoft.ErrDeltaExpired)
}

func TestSignInActivityPages(t *testing.T) {
	w := newGraphWorld(t, 1200)
	ctx := context.Background()
	var pages, users, lasts int
	err := w.users(t, 0).SignInActivity(ctx, 999, func(body []byte, last bool) error {
		var p struct {
			Value []struct {
				ID             string         `json:"id"`
				SignInActivity map[string]any `json:"signInActivity"`
			} `json:"value"`
		}
		require.NoError(t, json.Unmarshal(body, &p))
		assert.LessOrEqual(t, len(p.Value), microsoft.MaxSignInActivityPageSize)
		pages++
		users += len(p.Value)
		if last {
			lasts++
			assert.Equal(t, 3, pages, "only the final page is the last")
		}
		return nil
	})
	require.NoError(t, err)
	assert.Equal(t, 1200, users)
	assert.Equal(t, 1, lasts)
	assert.Equal(t, 3, pages, "Graph keeps signInActivity pages to 500 users")
	assert.Equal(t, 3, w.srv.Stats().GraphRequests)

	// A callback's error stops the listing.
	stop := errors.New("stop")
	calls := 0
	err = w.users(t, 0).SignInActivity(ctx, 50, func([]byte, bool) error { calls++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)

	// Without Entra ID P1/P2 the tenant has no sign-in activity: degrade.
	err = w.users(t, 1).SignInActivity(ctx, 120, func([]byte, bool) error {
		t.Error("a page from a tenant without premium licence")
		return nil
	})
	var f *microsoft.Failure
	require.ErrorAs(t, err, &f)
	assert.Equal(t, domain.Degrade, f.Reaction)
	assert.Equal(t, "Authentication_RequestFromNonPremiumTenantOrB2CTenant", f.Code)
	assert.Equal(t, http.StatusForbidden, f.Status)
}

func TestGraphUsersRefusesBadInput(t *testing.T) {
	w := newGraphWorld(t, 10)
	g := w.users(t, 0)
	ctx := context.Background()
	_, err := g.DeltaFirstPage(ctx, deltaSelect, 0)
	assert.ErrorContains(t, err, "give 1 to 200 users a page")
	_, err = g.DeltaFirstPage(ctx, nil, 100)
	assert.ErrorContains(t, err, "no properties to select")
	_, err = g.DeltaPage(ctx, "https://elsewhere.example/v1.0/users/delta?$skiptoken=x", 100)
	assert.ErrorContains(t, err, "not at the partner's Graph host")
	_, err = g.DeltaPage(ctx, "/v1.0/users/delta?$skiptoken=x", 100)
	assert.ErrorContains(t, err, "not an absolute URL")
	assert.ErrorContains(t, g.SignInActivity(ctx, 0, nil), "give 1 to 500 users a page")
	assert.Empty(t, w.log.requests(), "nothing was sent")
}

func TestUsersByID(t *testing.T) {
	w := newGraphWorld(t, 40)
	g := w.users(t, 0)
	ctx := context.Background()
	var ids []string
	for _, u := range w.sc.Tenants[0].Users[:microsoft.MaxUsersByID] {
		ids = append(ids, u.ID)
	}
	require.NoError(t, w.srv.DeleteUser(w.tenant(0), ids[3]))

	body, err := g.UsersByID(ctx, ids, deltaSelect)
	require.NoError(t, err)
	var page struct {
		Value []map[string]any `json:"value"`
		Next  string           `json:"@odata.nextLink"`
	}
	require.NoError(t, json.Unmarshal(body, &page))
	assert.Empty(t, page.Next)
	require.Len(t, page.Value, 14, "a deleted user is left out")
	for i, u := range page.Value {
		assert.Len(t, u, len(deltaSelect), "the selected properties, null ones too: %v", u)
		assert.Contains(t, ids, u["id"])
		assert.NotEqual(t, ids[3], u["id"], "user %d", i)
	}
	reqs := w.log.requests()
	require.Len(t, reqs, 1)
	assert.Contains(t, reqs[0].url, "/v1.0/users?")
	assert.Contains(t, reqs[0].url, "$filter=id%20in%20%28%27"+ids[0]+"%27%2C%27")

	_, err = g.UsersByID(ctx, append(ids, "one-too-many"), deltaSelect)
	assert.ErrorContains(t, err, "give 1 to 15 a request")
	_, err = g.UsersByID(ctx, nil, deltaSelect)
	assert.ErrorContains(t, err, "give 1 to 15 a request")
	assert.Len(t, w.log.requests(), 1, "nothing more was sent")
}

// `check` reads each tenant's organization object; a token Graph refuses
// while MSAL still trusts it (expired early, revoked) is replaced once, as in
// users rounds, instead of reporting the tenant unreachable.
func TestOrganizationRecoversFromAnAccessTokenGraphRefuses(t *testing.T) {
	w := newGraphWorld(t, 1)
	ctx := context.Background()
	name, err := w.auth.Organization(ctx, w.creds, w.tenant(0))
	require.NoError(t, err)
	assert.NotEmpty(t, name)
	require.Equal(t, 1, w.tokenRequests())

	require.NoError(t, w.srv.ExpireAccessTokens())
	again, err := w.auth.Organization(ctx, w.creds, w.tenant(0))
	require.NoError(t, err, "a refused token is replaced, not reported")
	assert.Equal(t, name, again)
	assert.Equal(t, 2, w.tokenRequests(), "exactly one fresh token")
	reqs := w.log.requests()
	assert.Equal(t, http.StatusUnauthorized, reqs[len(reqs)-2].status, "Graph refused the cached token once")
}
