package cli_test

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/cli"
	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/licensing"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the --json golden files in testdata/json from the current output")

const (
	contosoTenant  = "11111111-0000-0000-0000-000000000001"
	fabrikamTenant = "22222222-0000-0000-0000-000000000002"
	aliceAzureID   = "aaaaaaaa-0000-0000-0000-00000000000a"
)

// jsonFixture builds a deterministic state (fixed ids, names and times) on
// a fresh database: a partner with two tenants (one waiting for consent,
// one synced with sites, mappings, users and its inbound log), a customer
// without a tenant, open and resolved errors, licences with their history.
// It returns the global flags that reach it and Fabrikam's customer id.
func jsonFixture(t *testing.T) ([]string, string) {
	t.Helper()
	st, url, key := testenv.Store(t)
	ctx := context.Background()
	must := func(err error) { t.Helper(); require.NoError(t, err) }
	must(st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: "acme.example",
		PCClientID: "pc", PCClientSecret: "pc-secret", GraphClientID: "graph", GraphClientSecret: "graph-secret",
		AuthorityURL: "https://login.example", PartnerCenterURL: "https://pc.example", GraphURL: "https://graph.example",
		DefaultRelationship: domain.GDAP, LicenceSource: domain.FromSubscribedSkus, TopLevel: "Managed", SSOAllowedTenants: true}))
	_, err := st.SaveDiscoveryPage(ctx, "acme", "", "", []store.DiscoveredTenant{
		{TenantID: contosoTenant, Name: "Contoso", Domain: "contoso.example"},
		{TenantID: fabrikamTenant, Name: "Fabrikam", Domain: "fabrikam.example"}})
	must(err)
	_, err = st.FinishDiscovery(ctx, "acme", true)
	must(err)
	_, err = testenv.CreateCustomer(ctx, st, "Walk-in customer")
	must(err)
	must(st.SetConsentState(ctx, fabrikamTenant, domain.ConsentGranted))
	must(st.RecordTenantState(ctx, fabrikamTenant, domain.TenantReady, ""))
	must(st.MarkTenantSynced(ctx, fabrikamTenant))
	must(st.RecordTenantState(ctx, contosoTenant, domain.TenantAwaitingConsent, "waiting for the tenant's admin consent"))
	fabrikam, err := st.GetCustomerByTenant(ctx, fabrikamTenant)
	must(err)
	must(st.SetCustomerTopLevel(ctx, fabrikam.ID, "Gold"))

	must(st.RecordError(ctx, "acme", "", domain.OpDiscovery, domain.ErrorInfo{Code: "PartnerCenterThrottled",
		Cause: "Partner Center throttled the request.", Remediation: "Nothing to do: cspsync retries after the time Partner Center asks."}))
	must(st.RecordError(ctx, "acme", contosoTenant, domain.OpConsent, domain.ErrorInfo{
		Code: "AADSTS65004", Cause: "The administrator declined the consent.", Remediation: "Ask for a new consent link: `cspsync consent url <tenant>`."}))
	must(st.RecordError(ctx, "acme", fabrikamTenant, domain.OpLicences, domain.ErrorInfo{
		Code: "Forbidden", Cause: "Partner Center refused the licences.", Remediation: "Grant a GDAP role that reads licences."}))
	must(st.ResolveErrors(ctx, "acme", fabrikamTenant, domain.OpLicences))

	e3 := licensing.Licence{SkuID: "05e9a617-0261-4cee-bb44-138d3ef5d965", PartNumber: "SPE_E3", ProductName: "Microsoft 365 E3",
		Total: 10, Active: 10, Consumed: 8, CapabilityStatus: "Enabled"}
	sub := licensing.Subscription{ID: "sub-1", SkuID: e3.SkuID, OfferID: "offer-e3", OfferName: "Microsoft 365 E3",
		FriendlyName: "Microsoft 365 E3", Quantity: 10, Status: "active", BillingCycle: "monthly", TermDuration: "P1Y",
		CommitmentEndDate: time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC), AutoRenew: true}
	_, err = st.SaveLicences(ctx, fabrikam.ID, []licensing.Licence{e3}, []licensing.Subscription{sub})
	must(err)
	e3.Consumed, e3.Active = 12, 11
	_, err = st.SaveLicences(ctx, fabrikam.ID, []licensing.Licence{e3}, []licensing.Subscription{sub})
	must(err)

	london, err := st.AddSite(ctx, fabrikam.ID, "London")
	must(err)
	main, err := st.SiteByName(ctx, fabrikam.ID, "Main")
	must(err)
	must(st.SetSiteMappings(ctx, fabrikam.ID, []store.SiteMapping{{Filter: `user.city == "London"`, SiteID: london.ID}, {Filter: "true", SiteID: main.ID}}))
	accept := func(store.UserSettings, []store.FieldMapping) error { return nil }
	must(st.ChangeFieldMapping(ctx, "acme", store.FieldMapping{Field: "phone", Expression: "user.mobilePhone"}, accept))
	must(st.ChangeFieldMapping(ctx, "acme", store.FieldMapping{CustomerID: fabrikam.ID, Field: "department", Expression: `"Fabrikam " + user.department`}, accept))
	_, err = st.AddUser(ctx, fabrikam.ID, "Bob Manual", "bob@fabrikam.example", "bob")
	must(err)

	// Fixed times, an imported user, a finished round and its inbound log.
	for _, q := range []string{
		`UPDATE partners SET last_discovery_at = '2025-03-01T09:00:00Z'`,
		`UPDATE customers SET discovered_at = CASE WHEN discovered_at IS NULL THEN NULL ELSE '2025-03-01T09:00:00Z'::timestamptz END,
			last_sync_at = CASE WHEN last_sync_at IS NULL THEN NULL ELSE '2025-03-01T10:00:00Z'::timestamptz END,
			licences_at = CASE WHEN licences_at IS NULL THEN NULL ELSE '2025-03-01T10:00:01Z'::timestamptz END`,
		`UPDATE integration_errors SET first_seen_at = '2025-03-01T09:30:00Z'::timestamptz + id * interval '1 minute',
			last_seen_at = '2025-03-01T09:40:00Z'::timestamptz + id * interval '1 minute',
			resolved_at = CASE WHEN resolved_at IS NULL THEN NULL ELSE '2025-03-01T09:50:00Z'::timestamptz END`,
		`UPDATE licence_events SET at = '2025-03-01T10:00:00Z'::timestamptz + id * interval '1 second'`,
		`INSERT INTO user_rounds (customer_id, kind, started_at, finished_at, pages, users, created)
			VALUES (` + itoa(fabrikam.ID) + `, 'full', '2025-03-01T10:00:02Z', '2025-03-01T10:00:03Z', 1, 1, 1)`,
		`INSERT INTO psa_users (customer_id, site_id, azure_object_id, azure_tenant_id, name, email, network_login, phone, job_title,
			department, last_sign_in, source) VALUES (` + itoa(fabrikam.ID) + `, ` + itoa(london.ID) + `, '` + aliceAzureID + `', '` + fabrikamTenant + `',
			'Alice Imported', 'alice@fabrikam.example', 'alice', '+44 20 0000 0000', 'Engineer', 'Fabrikam Sales', '2025-02-28T08:00:00Z', 'azure')`,
		`INSERT INTO inbound_log (at, round_id, customer_id, azure_object_id, psa_user_id, mapping, match_rule, result, changes, reason)
			SELECT '2025-03-01T10:00:03Z', r.id, r.customer_id, '` + aliceAzureID + `', u.id, 'user.city == "London"', 'azure_object_id', 'created',
				'[{"field":"name","old":"","new":"Alice Imported"}]', '' FROM user_rounds r, psa_users u WHERE u.azure_object_id IS NOT NULL`,
		`INSERT INTO inbound_log (at, round_id, customer_id, azure_object_id, result, changes, reason)
			SELECT '2025-03-01T10:00:03.5Z', id, customer_id, 'bbbbbbbb-0000-0000-0000-00000000000b', 'excluded', '[]', 'no site mapping matches'
			FROM user_rounds`,
		// Alice holds E3 and a SKU the customer has no licence row for (pending); Bob is a
		// service user by the licence rule; the histories get fixed times.
		`INSERT INTO user_licences (psa_user_id, customer_id, sku_id, licence_sku_id, assigned_at)
			SELECT id, customer_id, '05e9a617-0261-4cee-bb44-138d3ef5d965', '05e9a617-0261-4cee-bb44-138d3ef5d965', '2025-03-01T10:00:03Z'
			FROM psa_users WHERE azure_object_id IS NOT NULL`,
		`INSERT INTO user_licences (psa_user_id, customer_id, sku_id, assigned_at)
			SELECT id, customer_id, 'f30db892-07e9-47e9-837c-80727f46fd3d', '2025-03-01T10:00:03Z' FROM psa_users WHERE azure_object_id IS NOT NULL`,
		`UPDATE psa_users SET service_user = true, service_reason = 'licences' WHERE azure_object_id IS NULL`,
		`UPDATE partners SET service_group = 'All Staff', billable_skus = '{05e9a617-0261-4cee-bb44-138d3ef5d965}'`,
		`UPDATE psa_user_states SET at = '2025-03-01T10:00:03Z'::timestamptz + id * interval '1 second'`,
		`UPDATE licence_states SET at = '2025-03-01T10:00:00Z'::timestamptz + id * interval '1 second'`,
		`INSERT INTO licence_changes (id, partner_id, customer_id, psa_user_id, azure_object_id, user_name, sku_id, sku_name, action,
			requested_by, workflow_id, state, applied, holds, requested_at, finished_at)
			SELECT '0c0c0c0c-0000-4000-8000-000000000001', 'acme', customer_id, id, azure_object_id, 'alice@fabrikam.example',
				'cbdc14ab-d96c-4c30-b9f4-6ada7cdc1d46', 'O365_BUSINESS_PREMIUM', 'assign', 'cli:ops',
				'licence-change/acme/` + aliceAzureID + `/0c0c0c0c-0000-4000-8000-000000000001', 'done', true, true,
				'2025-03-01T11:00:00Z', '2025-03-01T11:00:02Z' FROM psa_users WHERE azure_object_id IS NOT NULL`,
	} {
		_, err := st.Pool().Exec(ctx, q)
		require.NoError(t, err, q)
	}
	tp := testenv.StartTemporal(t, config.SearchAttributes)
	return []string{"--database-url", url, "--encryption-key", key, "--temporal-address", tp.Address}, itoa(fabrikam.ID)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Every --json output is a contract: a golden file per command holds the
// output of the fixture above, so a key renamed, added or dropped (or a
// time that is not RFC 3339) fails here. Run with -update to rewrite the
// files after a deliberate change, and update the README's contract.
func TestJSONOutputMatchesTheContract(t *testing.T) {
	global, fabrikam := jsonFixture(t)
	commands := map[string][]string{
		"status":                {"status", "--json"},
		"customers-list":        {"customers", "list", "--json"},
		"tenants-list":          {"tenants", "list", "--json"},
		"errors-list":           {"errors", "list", "--all", "--json"},
		"licences-report":       {"licences", "report", "--json"},
		"licences-history":      {"licences", "history", "--json", fabrikam},
		"top-levels-list":       {"top-levels", "list", "--json"},
		"sso-allowed-tenants":   {"sso", "allowed-tenants", "--json"},
		"users-list":            {"users", "list", "--customer", fabrikam, "--json"},
		"sites-list":            {"sites", "list", "--customer", fabrikam, "--json"},
		"mappings-sites":        {"mappings", "sites", "--customer", fabrikam, "--json"},
		"mappings-fields":       {"mappings", "fields", "--partner", "acme", "--customer", fabrikam, "--json"},
		"mappings-settings":     {"mappings", "settings", "--partner", "acme", "--json"},
		"log":                   {"log", "--tenant", fabrikamTenant, "--json"},
		"tenants-list-no-rows":  {"tenants", "list", "--partner", "nobody", "--json"},
		"errors-list-open-only": {"errors", "list", "--partner", "acme", "--json"},
		"users-show":            {"users", "show", "--json", "2"},
		"report-billing":        {"report", "billing", "--partner", "acme", "--at", "2025-03-02", "--json"},
		"licences-changes":      {"licences", "changes", "--customer", fabrikam, "--json"},
	}
	for name, args := range commands {
		t.Run(name, func(t *testing.T) {
			out, err := run(append(append([]string{}, global...), args...)...)
			require.NoError(t, err, out)
			golden(t, name, out)
		})
	}
}

// The commands that wait on workflows print these records: their golden
// files hold each record as the command prints it.
func TestJSONOfResultsMatchesTheContract(t *testing.T) {
	failed := []control.TenantFailure{{TenantID: contosoTenant, Customer: "Contoso", Error: "no answer within 10m0s"}}
	counts := control.RoundCounts{Pages: 3, Users: 420, Created: 400, Updated: 10, Moved: 2, Inactivated: 3, Reactivated: 1,
		Excluded: 2, Ambiguous: 1, Invalid: 1}
	results := map[string]any{
		"connect": control.Connected{Partner: "acme", WorkflowID: "partner/acme",
			AuthorizeURL: "https://login.example/acme.example/oauth2/v2.0/authorize?client_id=pc", Warnings: []string{}, Forgotten: []string{}},
		"sync-wait":            control.Discovered{Pages: 1, Tenants: 2, Inserted: 1, Linked: 0, Updated: 1},
		"sync-tenant-wait":     control.UsersRound{Kind: "delta", Restarts: 0, SignIns: true, Duration: control.Duration(1500 * time.Millisecond), RoundCounts: counts},
		"sync-users-wait":      control.UsersRounds{Tenants: 2, Total: counts, Failed: failed},
		"licences-import-wait": control.LicenceImport{Tenants: 2, Licences: 5, Subscriptions: 3, Events: 4, Failed: failed},
		"licences-manage":      control.LicenceManagement{CustomerID: 2, Customer: "Fabrikam", Managed: true, ManagedBy: "cspsync"},
	}
	for name, v := range results {
		t.Run(name, func(t *testing.T) {
			var out strings.Builder
			require.NoError(t, cli.PrintJSON(&out, v))
			golden(t, name, out.String())
		})
	}
}

// golden compares out with testdata/json/name.json (or rewrites it with
// -update), and checks the contract's rules on it: snake_case keys, RFC
// 3339 times.
func golden(t *testing.T, name, out string) {
	t.Helper()
	path := filepath.Join("testdata", "json", name+".json")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "no golden file: run go test ./internal/cli -run JSON -update")
	assert.Equal(t, string(want), out, "--json output of %s changed: a key renamed, added or dropped breaks scripts. "+
		"If deliberate, run with -update and update the README's JSON output contract", name)

	var v any
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	for _, k := range keys(v) {
		assert.Regexp(t, `^[a-z][a-z0-9_]*$`, k, "%s: keys are snake_case", name)
	}
	for k, s := range timeValues(v, "") {
		_, err := time.Parse(time.RFC3339Nano, s)
		assert.NoError(t, err, "%s: %s is an RFC 3339 time", name, k)
		assert.True(t, strings.HasSuffix(s, "Z"), "%s: %s is in UTC", name, k)
	}
}

// keys lists the object keys in v, recursively, except those of the status's
// tenants object, whose keys are tenant states.
func keys(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			out = append(out, k)
			if k != "tenants" {
				out = append(out, keys(x)...)
			} else if _, isMap := x.(map[string]any); !isMap {
				out = append(out, keys(x)...)
			}
		}
	case []any:
		for _, x := range v {
			out = append(out, keys(x)...)
		}
	}
	sort.Strings(out)
	return out
}

// timeValues finds the values of keys that name a time (…_at, at, …_date,
// last_sign_in), by path.
func timeValues(v any, path string) map[string]string {
	out := map[string]string{}
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := path + "." + k
			if s, ok := x.(string); ok && (k == "at" || strings.HasSuffix(k, "_at") || strings.HasSuffix(k, "_date") || k == "last_sign_in") {
				out[p] = s
			}
			for kk, s := range timeValues(x, p) {
				out[kk] = s
			}
		}
	case []any:
		for _, x := range v {
			for kk, s := range timeValues(x, path+"[]") {
				out[kk] = s
			}
		}
	}
	return out
}
