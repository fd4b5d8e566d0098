package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/sim"
	"github.com/cspsync/cspsync/internal/testenv"
)

// The console's licence form on the customer page, in a headless Chromium: an assignment
// through it is verified on both sides and listed by the CLI as the operator's, a removal
// too, and a change the workflow refuses comes back as the page's problem with its fix.
func TestConsoleLicenceForm(t *testing.T) {
	sc := sim.Generate(sim.GenerateOptions{Seed: 16, Tenants: 1, UsersPerTenant: 12})
	s := testenv.NewStack(t, sc, sim.Options{})
	s.StartWorker()
	authorise(t, s, connectOpts{})
	w := newWriteBack(t, s)
	mustCLI(t, s, "licences", "manage", "--customer", w.customer, "on")
	sku, user := w.pick(t)
	var psaID int64
	require.NoError(t, s.Store.Pool().QueryRow(context.Background(),
		`SELECT id FROM psa_users WHERE azure_object_id = $1::uuid`, user.ID).Scan(&psaID))

	b := testenv.Browser(t, s.Sim.CAFile())
	b, cancel := context.WithTimeout(b, 4*time.Minute)
	defer cancel()
	base := s.Worker.PublicURL
	require.NoError(t, chromedp.Do(b, append(append([]chromedp.Action[chromedp.Void]{chromedp.Navigate(base + "/")}, operatorSignIn(sim.DefaultOperatorUPN)...),
		chromedp.WaitVisible(`//h1[contains(., "Overview")]`))...))
	change := func(action, wait string) {
		t.Helper()
		require.NoError(t, chromedp.Do(b, chromedp.Navigate(base+"/customers/"+w.customer), chromedp.WaitVisible(chromedp.CSS("#licence-form")),
			chromedp.SetValue(chromedp.CSS(`#licence-form select[name="user"]`), strconv.FormatInt(psaID, 10)),
			chromedp.SetValue(chromedp.CSS(`#licence-form select[name="sku"]`), strings.ToLower(sku.SkuID)),
			chromedp.SetValue(chromedp.CSS(`#licence-form select[name="change"]`), action),
			chromedp.Click(`//button[normalize-space()="Change the licence"]`), chromedp.WaitVisible(wait)), action)
	}

	change("assign", `//p[contains(., "Licence change done")]`)
	w.agree(t, user.ID, sku.SkuID, 1)
	chs := w.changes(t)
	require.Len(t, chs, 1)
	assert.Equal(t, "done", chs[0].State)
	assert.Equal(t, "assign", chs[0].Action)
	assert.Contains(t, chs[0].RequestedBy, sim.DefaultOperatorUPN, "the change is the operator's")

	change("remove", `//p[contains(., "Licence change done")]`)
	w.agree(t, user.ID, sku.SkuID, 0)

	// Nothing left to remove: refused, with the fix on the page, and nothing changes.
	change("remove", `//section[@class="problem"]`)
	problem, err := chromedp.Run(b, chromedp.Text(chromedp.CSS("section.problem")))
	require.NoError(t, err)
	assert.Contains(t, problem, "nothing to remove")
	w.agree(t, user.ID, sku.SkuID, 0)
	assert.Len(t, w.changes(t), 2, "a refused change starts nothing")
}
