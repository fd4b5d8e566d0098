package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/internal/web"
)

// console is the console's handler on a real database holding a partner's
// customers, their users, licences and some errors; requests carry a
// signed-in operator's session. No Temporal and no Microsoft: the pages
// read the store only.
type console struct {
	h         http.Handler
	host      string
	firstID   int64
	firstTent string
}

const sessionToken = "console-test-session"

func newConsole(tb testing.TB, customers, usersEach int) *console {
	tb.Helper()
	st, _, _ := testenv.Store(tb)
	ctx := context.Background()
	require.NoError(tb, st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: "11111111-1111-4111-8111-111111111111",
		PCClientID: "pc", PCClientSecret: "pc-secret", GraphClientID: "graph", GraphClientSecret: "graph-secret",
		AuthorityURL: "https://login.invalid", PartnerCenterURL: "https://pc.invalid", GraphURL: "https://graph.invalid", DefaultRelationship: domain.DAP}))
	var tenants []store.DiscoveredTenant
	for i := range customers {
		tenants = append(tenants, store.DiscoveredTenant{TenantID: fmt.Sprintf("%08x-0000-4000-8000-%012x", i+1, i+1),
			Name: fmt.Sprintf("Customer %04d Ltd", i+1), Domain: fmt.Sprintf("c%04d.example", i+1)})
	}
	for from := 0; from < len(tenants); from += 500 {
		_, err := st.SaveDiscoveryPage(ctx, "acme", "", "", tenants[from:min(from+500, len(tenants))])
		require.NoError(tb, err)
	}
	pool := st.Pool()
	_, err := pool.Exec(ctx, `INSERT INTO psa_users (customer_id, site_id, azure_object_id, name, email, active, source)
		SELECT c.id, s.id, gen_random_uuid(), 'User ' || c.id || '-' || n, 'u' || c.id || '-' || n || '@example.com', n % 10 <> 0, 'azure'
		FROM customers c JOIN sites s ON s.customer_id = c.id AND s.is_default, generate_series(1, $1) n`, usersEach)
	require.NoError(tb, err)
	_, err = pool.Exec(ctx, `INSERT INTO licences (customer_id, sku_id, part_number, product_name, total_units, active_units,
			consumed_units, suspended_units, warning_units, capability_status)
		SELECT id, gen_random_uuid(), 'SPE_E3', 'Microsoft 365 E3', 25, 25, id % 25, 0, 0, 'Enabled' FROM customers`)
	require.NoError(tb, err)
	for i := 0; i < len(tenants); i += 20 {
		require.NoError(tb, st.RecordError(ctx, "acme", tenants[i].TenantID, domain.OpUsers,
			domain.ErrorInfo{Code: domain.CodeInternal, Cause: "timed out", Remediation: "it is retried", Reaction: domain.Retry}))
	}
	require.NoError(tb, st.CreateOperatorSession(ctx, sessionToken, store.OperatorSession{PartnerID: "acme", UPN: "op@acme.example",
		Name: "Operator", ExpiresAt: time.Now().Add(time.Hour)}))
	first, err := st.GetCustomerByTenant(ctx, tenants[0].TenantID)
	require.NoError(tb, err)

	const addr = "127.0.0.1:8400"
	cfg := config.Worker{Connection: config.Connection{PublicURL: "http://" + addr, TemporalNamespace: "default"}, HTTPAddr: addr,
		Operators: config.Operators{EveryoneInPartnerTenant: true}}
	h, err := (&web.Server{Control: control.New(cfg, st, nil, nil), Log: slog.New(slog.DiscardHandler), PublicURL: cfg.PublicURL,
		ListenAddr: addr, TemporalUI: "http://127.0.0.1:8233"}).Handler()
	require.NoError(tb, err)
	return &console{h: h, host: addr, firstID: first.ID, firstTent: first.TenantID}
}

// get serves a GET, signed in unless anonymous.
func (c *console) get(path string, anonymous bool) (int, string, http.Header) {
	req := httptest.NewRequest(http.MethodGet, "http://"+c.host+path, nil)
	if !anonymous {
		req.AddCookie(&http.Cookie{Name: "cspsync_session", Value: sessionToken})
	}
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b), rec.Header()
}

// The pages that need no Temporal render for the operator and send an
// anonymous browser to sign in.
func TestConsolePagesRenderForOperatorsOnly(t *testing.T) {
	c := newConsole(t, 60, 3)
	for path, want := range map[string]string{
		"/customers":                                     "60 customers; page 1 of 2.",
		"/customers?q=customer+0042":                     "Customer 0042 Ltd",
		"/customers?errors=1":                            "3 customers; page 1 of 1.",
		"/customers?page=2":                              "page 2 of 2",
		fmt.Sprintf("/customers/%d", c.firstID):          "3 active, 0 inactive, 3 in all",
		fmt.Sprintf("/customers/%d/mappings", c.firstID): "Site mappings of Customer 0001 Ltd",
		fmt.Sprintf("/customers/%d/progress", c.firstID): "No users round running",
		"/licences":                  "<svg class=\"chart\"",
		"/errors":                    "Retry now",
		"/log?tenant=" + c.firstTent: "Nothing logged.",
		"/settings":                  "Matching rules",
		fmt.Sprintf("/settings?customer=%d", c.firstID): "Field mappings in force for Customer 0001 Ltd",
		"/check": "Run the check",
	} {
		code, body, _ := c.get(path, false)
		require.Equal(t, http.StatusOK, code, "%s: %s", path, body)
		require.Contains(t, body, want, path)
		if !strings.Contains(path, "progress") {
			require.Contains(t, body, `<nav aria-label="Console">`, path)
		}
		code, _, h := c.get(path, true)
		require.Equal(t, http.StatusSeeOther, code, path)
		back := path
		if strings.HasSuffix(path, "/progress") {
			back = strings.TrimSuffix(path, "/progress") // a fragment returns to the page that shows it
		}
		require.Equal(t, "/auth/operator/login?"+url.Values{"next": {back}}.Encode(), h.Get("Location"), "%s: sign in, then back here", path)
	}
	code, body, _ := c.get("/customers/999999", false)
	require.Equal(t, http.StatusNotFound, code, body)
}

// BenchmarkConsoleListPages measures the server time of each list page on
// 2,000 customers with 100,000 users (go test -bench ConsoleListPages
// ./internal/web); the target is under 300 ms a page.
func BenchmarkConsoleListPages(b *testing.B) {
	c := newConsole(b, 2000, 50)
	for _, path := range []string{"/customers", "/customers?q=customer+19&state=ready&errors=1", "/customers?page=40",
		"/licences", "/errors", "/log?tenant=" + c.firstTent, fmt.Sprintf("/customers/%d", c.firstID)} {
		b.Run(strings.TrimPrefix(path, "/"), func(b *testing.B) {
			for b.Loop() {
				if code, body, _ := c.get(path, false); code != http.StatusOK {
					b.Fatalf("%s: %d %s", path, code, body)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/page")
		})
	}
}

// post serves a form from the console's own pages, signed in.
func (c *console) post(t *testing.T, path string, form url.Values) (int, string) {
	t.Helper()
	_, page, _ := c.get("/settings", false)
	m := csrfRE.FindStringSubmatch(page)
	require.NotNil(t, m)
	form.Set("csrf", m[1])
	req := httptest.NewRequest(http.MethodPost, "http://"+c.host+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+c.host)
	req.AddCookie(&http.Cookie{Name: "cspsync_session", Value: sessionToken})
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// A field mapping's preview that cannot compile says where, keeps what was
// typed and saves nothing; an unknown field is refused with the list.
func TestFieldMappingPreviewShowsTheErrorAtItsPosition(t *testing.T) {
	c := newConsole(t, 2, 1)
	code, body := c.post(t, "/settings/field-mapping", url.Values{"customer": {fmt.Sprint(c.firstID)}, "field": {"job_title"},
		"expression": {"user.jobTitl"}, "action": {"preview"}})
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `id="field-problems"`)
	require.Contains(t, body, "Line 1 column 6")
	require.Contains(t, body, `value="user.jobTitl"`, "the expression stays in the form")
	_, page, _ := c.get(fmt.Sprintf("/settings?customer=%d", c.firstID), false)
	require.NotContains(t, page, "user.jobTitl<", "nothing saved")

	code, body = c.post(t, "/settings/field-mapping", url.Values{"field": {"jobtitle"}, "expression": {"user.jobTitle"}, "action": {"preview"}})
	require.Equal(t, http.StatusBadRequest, code, body)
	require.Contains(t, body, "is not a PSA user field")
}
