package microsoft_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// The properties a users round selects (usersync's defaults and filters read
// about this many).
var benchSelect = []string{"id", "displayName", "givenName", "surname", "userPrincipalName", "mail", "jobTitle", "department",
	"companyName", "officeLocation", "employeeId", "businessPhones", "mobilePhone", "accountEnabled", "userType",
	"usageLocation", "assignedLicenses", "onPremisesSamAccountName", "onPremisesSyncEnabled"}

// BenchmarkUsersDeltaFullRound100k fetches a whole initial users/delta round
// of a 100,000-user tenant (pages of 200) from the simulator over HTTPS, as
// raw bodies through the Graph SDK's adapter and middleware, and, as the
// floor, with plain net/http and the same token. Only the links are decoded
// (a minimal struct), as a caller must to page on. The simulator serves from
// the same process and cores.
func BenchmarkUsersDeltaFullRound100k(b *testing.B) {
	w := newGraphWorld(b, 100_000)
	// Graph's budget for the tenant would throttle rounds repeated back to back.
	require.NoError(b, w.srv.SetGraphBudget(w.tenant(0), 1_000_000_000))
	ctx := context.Background()

	b.Run("sdk-raw", func(b *testing.B) {
		g := w.users(b, 0)
		benchRounds(b, func() ([]byte, error) { return g.DeltaFirstPage(ctx, benchSelect, 200) },
			func(link string) ([]byte, error) { return g.DeltaPage(ctx, link, 200) })
	})
	b.Run("plain-http", func(b *testing.B) {
		token, err := w.auth.GraphAppToken(ctx, w.creds, w.tenant(0))
		require.NoError(b, err)
		get := func(u string) ([]byte, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
			if err != nil {
				return nil, err
			}
			req.Header.Set("Authorization", "Bearer "+token)
			req.Header.Set("Prefer", "odata.maxpagesize=200")
			resp, err := w.auth.HTTP.Do(req)
			if err != nil {
				return nil, err
			}
			defer resp.Body.Close()
			return io.ReadAll(resp.Body)
		}
		sel := ""
		for i, p := range benchSelect {
			if i > 0 {
				sel += ","
			}
			sel += p
		}
		benchRounds(b, func() ([]byte, error) { return get(w.srv.URL() + "/v1.0/users/delta()?$select=" + sel) }, get)
	})
}

// benchRounds runs full rounds and reports pages, users and megabytes per
// second. It finds each page's nextLink and counts its users without decoding
// the page, so the figures are the fetching alone.
func benchRounds(b *testing.B, first func() ([]byte, error), next func(link string) ([]byte, error)) {
	var pages, users, size int
	for b.Loop() {
		body, err := first()
		for {
			if err != nil {
				b.Fatal(err)
			}
			pages++
			users += bytes.Count(body, []byte(`"id":`))
			size += len(body)
			link, err := nextLink(body)
			if err != nil {
				b.Fatal(err)
			}
			if link == "" {
				break
			}
			if body, err = next(link); err != nil {
				b.Fatal(err)
			}
		}
	}
	if users != b.N*100_000 {
		b.Fatalf("%d users in %d rounds", users, b.N)
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(pages)/s, "pages/s")
	b.ReportMetric(float64(users)/s, "users/s")
	b.ReportMetric(float64(size)/s/1e6, "MB/s")
}

// nextLink reads a page's @odata.nextLink, which Graph writes after value.
func nextLink(body []byte) (string, error) {
	key := []byte(`"@odata.nextLink":`)
	i := bytes.LastIndex(body, key)
	if i < 0 {
		return "", nil
	}
	var link string
	err := json.NewDecoder(bytes.NewReader(body[i+len(key):])).Decode(&link)
	return link, err
}
