package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/converter"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
	"github.com/cspsync/cspsync/workflows"
)

// EnvScreenshots names the folder the console test writes its screenshots
// to; by default internal/e2e/testdata/screenshots (ignored by git).
const EnvScreenshots = "CSPSYNC_SCREENSHOTS"

// consolePages are the console's pages, each with its heading.
var consolePages = map[string]string{"/": "Overview", "/customers": "Customers", "/licences": "Licences", "/errors": "Open errors",
	"/check": "Configuration check", "/log": "Inbound log", "/settings": "Field mappings and settings"}

// One browser walks every page of the console as a signed-in operator and
// uses its actions; each action shows in what the CLI prints next.
func TestOperatorConsole(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 41, Tenants: 2, UsersPerTenant: 30})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	tn := sc.Tenants[0]
	waitTenants(t, s, time.Minute, func(ts map[string]store.Customer) bool { return allIn(ts, domain.TenantReady, sc.Tenants...) })
	syncUsers(t, s, tn.ID, "--full")
	ctx := context.Background()
	cu, err := s.Store.GetCustomerByTenant(ctx, tn.ID)
	require.NoError(t, err)
	id := strconv.FormatInt(cu.ID, 10)
	base := s.Worker.PublicURL

	// Anonymous: every page sends to sign-in, every action is refused.
	for path := range consolePages {
		resp, _ := call(t, s, nil, http.MethodGet, path, nil, nil)
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode, path)
		want := "/auth/operator/login"
		if path != "/" {
			want += "?" + url.Values{"next": {path}}.Encode()
		}
		assert.Equal(t, want, resp.Header.Get("Location"), path)
	}
	for _, path := range []string{"/customers/" + id, "/customers/" + id + "/mappings"} {
		resp, _ := call(t, s, nil, http.MethodGet, path, nil, nil)
		assert.Equal(t, http.StatusSeeOther, resp.StatusCode, path)
	}
	origin := func(r *http.Request) { r.Header.Set("Origin", base) }
	for _, path := range []string{"/customers/" + id + "/sync", "/customers/" + id + "/reset-delta", "/customers/" + id + "/mappings", "/errors/1/retry"} {
		resp, _ := call(t, s, nil, http.MethodPost, path, map[string][]string{"mappings": {"true => Main"}}, origin)
		assert.Equal(t, http.StatusForbidden, resp.StatusCode, path)
	}

	shots := os.Getenv(EnvScreenshots)
	if shots == "" {
		shots = filepath.Join("testdata", "screenshots")
	}
	require.NoError(t, os.MkdirAll(shots, 0o755))
	b := testenv.Browser(t, s.Sim.CAFile())
	b, cancel := context.WithTimeout(b, 4*time.Minute)
	defer cancel()
	shoot := func(name string) {
		png, err := chromedp.Run(b, chromedp.FullScreenshot(80))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(shots, name+".jpg"), png, 0o644))
	}
	text := func(sel string) string {
		out, err := chromedp.Run(b, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err, sel)
		return out
	}
	open := func(path, heading string) {
		t.Helper()
		require.NoError(t, chromedp.Do(b, chromedp.Navigate(base+path), chromedp.WaitVisible(`//h1[contains(., "`+heading+`")]`)), path)
	}
	// Signing in from a customer's page lands on it.
	require.NoError(t, chromedp.Do(b, append(append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/customers/" + id + "?uq=a")},
		operatorSignIn(sim.DefaultOperatorUPN)...), chromedp.WaitVisible(`//h1[contains(., "`+tn.Name+`")]`))...))
	landed, err := chromedp.Run(b, chromedp.Location())
	require.NoError(t, err)
	assert.Equal(t, base+"/customers/"+id+"?uq=a", landed)
	for path, heading := range consolePages {
		open(path, heading)
		shoot(strings.Trim(strings.ReplaceAll(path, "/", ""), "") + "page")
	}
	open("/", "Overview")
	assert.Contains(t, text("dl.facts"), "2 tenants")

	// Customers: search finds the one customer, its page has its users.
	open("/customers?q="+strings.ToUpper(tn.Name[:5]), "Customers")
	assert.Contains(t, text("#count"), "customers")
	assert.Contains(t, text("tbody"), tn.Name)
	open("/customers/"+id, tn.Name)
	shoot("customer")
	truth := truthUsers(t, s, tn.ID)
	assert.Contains(t, text("main"), strconv.Itoa(len(truth))+" in all")

	cli := func(args ...string) string {
		out, err := runCLI(t, s, args...)
		require.NoError(t, err, out)
		return out
	}
	customer := func() control.Customer {
		var cs []control.Customer
		require.NoError(t, json.Unmarshal([]byte(cli("customers", "list", "--json")), &cs))
		for _, c := range cs {
			if c.TenantID == tn.ID {
				return c
			}
		}
		t.Fatalf("customer %s not listed", tn.ID)
		return control.Customer{}
	}

	// Change relationship.
	require.NoError(t, chromedp.Do(b, chromedp.SetValue(chromedp.CSS("#relationship"), "GDAP"),
		chromedp.Click(`//button[normalize-space()="Change relationship"]`), chromedp.WaitVisible(`//p[contains(., "Relationship changed")]`)))
	assert.Equal(t, domain.GDAP, customer().Relationship)
	assert.Equal(t, "override", customer().RelationshipSource)
	// A fresh page, so that the wait below sees this change's message, not the last one's.
	open("/customers/"+id, tn.Name)
	require.NoError(t, chromedp.Do(b, chromedp.SetValue(chromedp.CSS("#relationship"), "DAP"),
		chromedp.Click(`//button[normalize-space()="Change relationship"]`), chromedp.WaitVisible(`//p[contains(., "Relationship changed")]`)))
	assert.Equal(t, domain.DAP, customer().Relationship)

	// Consent link.
	before := consentLinks(t, s)
	require.NoError(t, chromedp.Do(b, chromedp.Click(`//button[normalize-space()="Create a consent link"]`), chromedp.WaitVisible(chromedp.CSS("#consent-link"))))
	assert.Contains(t, text("#consent-link"), "/"+tn.ID+"/v2.0/adminconsent?")
	assert.Equal(t, before+1, consentLinks(t, s))

	// Reset delta: the next round reads every user again.
	require.NoError(t, chromedp.Do(b, chromedp.Click(`//button[contains(., "Reset delta")]`), chromedp.WaitVisible(`//p[contains(., "Delta reset")]`)))
	assert.Contains(t, syncUsers(t, s, tn.ID), "full users round", "the delta was reset")

	// Sync now: the tenant's workflow runs a cycle.
	lastSync := *customer().LastSyncAt
	require.NoError(t, chromedp.Do(b, chromedp.Click(`//button[normalize-space()="Sync now"]`), chromedp.WaitVisible(`//p[contains(., "Sync requested")]`)))
	require.Eventually(t, func() bool { return customer().LastSyncAt.After(lastSync) }, time.Minute, time.Second, "last_sync_at moves on")

	// Site mappings: the live preview counts what the simulator says the filter matches.
	cli("sites", "add", "--customer", id, "Sales")
	dept := truth[0].Department
	want, wantMoved := 0, 0
	for _, u := range truth {
		if u.Department == dept {
			want++
			if u.AccountEnabled {
				wantMoved++ // a disabled account is inactive today: he moves, but is not "moved"
			}
		}
	}
	open("/customers/"+id+"/mappings", "Site mappings")
	mappings := `user.department == "` + dept + `" => Sales` + "\ntrue => Main"
	require.NoError(t, chromedp.Do(b, chromedp.SetValue(chromedp.CSS("#mappings"), mappings)))
	_, err = chromedp.Run(b, chromedp.Evaluate[bool](`document.getElementById("mappings").dispatchEvent(new Event("input"))`))
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(b, chromedp.WaitVisible(chromedp.CSS("#preview-table"))))
	count := func(mapping string) int {
		n, err := strconv.Atoi(strings.Fields(text(`tr[data-mapping="` + mapping + `"] td.count`))[0])
		require.NoError(t, err)
		return n
	}
	assert.Equal(t, want, count("1"))
	assert.Equal(t, len(truth)-want, count("2"))
	assert.Equal(t, 0, count("none"))
	assert.Equal(t, "Moved to another site: "+strconv.Itoa(wantMoved), strings.SplitN(text("#moved"), " (", 2)[0], "active users move from Main to Sales")
	shoot("mappings")

	// A filter that does not compile says where.
	require.NoError(t, chromedp.Do(b, chromedp.SetValue(chromedp.CSS("#mappings"), "user.departmnt == 1 => Sales"),
		chromedp.Click(`//button[normalize-space()="Preview"]`), chromedp.WaitVisible(chromedp.CSS("#problems"))))
	assert.Contains(t, text("#problems"), "line 1 column")

	// Save; the next round places the users as previewed.
	require.NoError(t, chromedp.Do(b, chromedp.SetValue(chromedp.CSS("#mappings"), mappings),
		chromedp.Click(`//button[normalize-space()="Save site mappings"]`), chromedp.WaitVisible(`//p[contains(., "Site mappings saved")]`)))
	assert.Contains(t, cli("mappings", "sites", "--customer", id), "Sales")
	syncUsers(t, s, tn.ID, "--full")
	sales := 0
	for _, u := range psaUsers(t, s, tn.ID) {
		if u.Site == "Sales" {
			sales++
		}
	}
	assert.Equal(t, want, sales)

	// Field mappings: the preview shows what the next round writes, and a
	// mistake where it is.
	open("/settings?customer="+id, "Field mappings and settings")
	const jobTitle = `user.displayName + " / " + user.userPrincipalName`
	require.NoError(t, chromedp.Do(b, chromedp.SetValue(chromedp.CSS("#field"), "job_title"), chromedp.SetValue(chromedp.CSS("#expression"), "user.jobTitl"),
		chromedp.Click(`//button[normalize-space()="Preview"]`), chromedp.WaitVisible(chromedp.CSS("#field-problems"))))
	assert.Contains(t, text("#field-problems"), "Line 1 column")
	assert.Contains(t, text("#field-problems"), "jobTitle", "the fix names the property meant")
	require.NoError(t, chromedp.Do(b, chromedp.SetValue(chromedp.CSS("#expression"), jobTitle),
		chromedp.Click(`//button[normalize-space()="Preview"]`), chromedp.WaitVisible(chromedp.CSS("#field-preview-table"))))
	previewed, err := chromedp.Run(b, chromedp.Evaluate[map[string]string](`Object.fromEntries([...document.querySelectorAll("#field-preview-table tr[data-user]")].map(
		r => [r.dataset.user, r.querySelector('td[data-field="job_title"]').textContent]))`))
	require.NoError(t, err)
	require.Len(t, previewed, control.FieldPreviewUsers)
	byID := map[string]sim.TenantUser{}
	for _, u := range truth {
		byID[u.ID] = u
	}
	for uid, v := range previewed {
		u := byID[uid]
		assert.Equal(t, u.DisplayName+" / "+u.UserPrincipalName, v, "the preview evaluates the expression for %s", uid)
	}
	shoot("fieldmappings")
	assert.NotContains(t, cli("mappings", "fields", "--customer", id), `" / " + user.userPrincipalName`, "nothing saved by a preview")
	require.NoError(t, chromedp.Do(b, chromedp.Click(`//button[normalize-space()="Save field mapping"]`), chromedp.WaitVisible(`//p[contains(., "Field mapping saved")]`)))
	syncUsers(t, s, tn.ID, "--full")
	after := psaUsers(t, s, tn.ID)
	for uid, v := range previewed {
		assert.Equal(t, v, after[uid].JobTitle, "the round wrote what the preview showed for %s", uid)
	}

	// Retry an error whose reaction allows it: the retried cycle succeeds and resolves it.
	require.NoError(t, s.Store.RecordError(ctx, "acme", tn.ID, domain.OpUsers,
		domain.ErrorInfo{Code: domain.CodeInternal, Cause: "the users activity timed out", Remediation: "nothing: it is retried", Reaction: domain.Retry}))
	assert.Contains(t, cli("errors", "list"), domain.CodeInternal)
	open("/errors", "Open errors")
	shoot("errors")
	require.NoError(t, chromedp.Do(b, chromedp.Click(`//button[contains(., "Retry now")]`), chromedp.WaitVisible(`//p[contains(., "Retry requested")]`)))
	require.Eventually(t, func() bool { return !strings.Contains(cli("errors", "list"), domain.CodeInternal) }, time.Minute, time.Second)

	// Check, inbound log, licences.
	open("/check?run=1", "Configuration check")
	assert.Contains(t, text("ul.check"), "OK")
	shoot("check")
	open("/log?tenant="+tn.ID+"&result=moved", "Inbound log")
	assert.Contains(t, text("tbody"), "moved")
	shoot("log")
	open("/licences?customer="+id, "Licences")
	chart, err := chromedp.Run(b, chromedp.TextContent(chromedp.CSS("svg.chart")))
	require.NoError(t, err)
	assert.Contains(t, chart, tn.Name)
	shoot("licences")

	// The Temporal UI, read by a person: the tenant's workflow says what it
	// waits for and since when (the UI's metadata query), and its timer what
	// it is for (history).
	wid := workflows.TenantWorkflowID("acme", tn.ID)
	var details string
	require.Eventually(t, func() bool {
		v, err := s.Client.QueryWorkflow(ctx, wid, "", "__temporal_workflow_metadata")
		if err != nil {
			return false
		}
		var md sdkpb.WorkflowMetadata
		require.NoError(t, v.Get(&md))
		details = md.GetCurrentDetails()
		return strings.Contains(details, "Waiting since")
	}, time.Minute, time.Second, "the tenant's workflow waits between cycles")
	assert.Contains(t, details, "**Ready**")
	assert.Contains(t, details, " for a request (`cspsync sync --tenant "+tn.ID+"`), or the next sync at ")
	var summaries []string
	iter := s.Client.GetWorkflowHistory(ctx, wid, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if ev.GetTimerStartedEventAttributes() != nil && ev.GetUserMetadata().GetSummary() != nil {
			var summary string
			require.NoError(t, converter.GetDefaultDataConverter().FromPayload(ev.GetUserMetadata().GetSummary(), &summary))
			summaries = append(summaries, summary)
		}
	}
	require.NotEmpty(t, summaries, "the waiting run's timer carries a summary")
	assert.Contains(t, summaries[len(summaries)-1], "next sync of "+cu.Name+" at ")
}
