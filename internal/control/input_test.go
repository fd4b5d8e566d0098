package control_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

// contoso is the id of the tenant's customer, as an operator types it.
func contoso(t *testing.T, st *store.Store) string {
	t.Helper()
	cu, err := st.GetCustomerByTenant(context.Background(), tenant)
	require.NoError(t, err)
	return strconv.FormatInt(cu.ID, 10)
}

// A user added by hand meets the rules the rounds apply to Microsoft's
// users: a valid email, the PSA's lengths, no control characters. Refused
// input stores nothing; legitimate text of any script is kept exactly.
func TestAddUserRefusesWhatThePSAWouldRefuse(t *testing.T) {
	ctl, st := open(t)
	ctx := context.Background()
	id := contoso(t, st)
	for _, c := range []struct{ name, email, login, want string }{
		{"Alice", "not-an-address", "", `--email "not-an-address" is not an email address`},
		{"Alice", "Alice <alice@contoso.com>", "", "is not an email address: give a bare address"},
		{strings.Repeat("x", 10_000), "", "", "--name is 10000 characters long, at most 255 fit"},
		{"Evil\x1b]0;pwned\x07", "", "", "--name holds U+001B at character 5"},
		{"evil\u202egnp.exe", "", "", "--name holds U+202E"},
		{"Two\nlines", "", "", "--name holds U+000A"},
		{"Alice", "alice@contoso.com\x00", "", "--email holds U+0000"},
		{"Alice", "", strings.Repeat("l", 257), "--login is 257 characters long, at most 256 fit"},
		{"Alice", "", "bad\xff", "--login is not valid UTF-8"},
		{"  ", "", "", "a user needs a name"},
	} {
		_, err := ctl.AddUser(ctx, id, c.name, c.email, c.login)
		if assert.Error(t, err, "%q %q %q", c.name, c.email, c.login) {
			assert.Contains(t, err.Error(), c.want)
		}
	}
	users, err := ctl.Users(ctx, id)
	require.NoError(t, err)
	assert.Empty(t, users, "nothing refused was stored")

	// Letters of every script and combining marks (Zoë with a combining
	// diaeresis) are text, kept exactly; surrounding space is trimmed.
	name := "  Zoe\u0308 Åström 株式会社 Ωμέγα  "
	_, err = ctl.AddUser(ctx, id, name, "zoe@contoso.com", "zoe")
	require.NoError(t, err)
	users, err = ctl.Users(ctx, id)
	require.NoError(t, err)
	require.Len(t, users, 1)
	assert.Equal(t, strings.TrimSpace(name), users[0].Name)
	assert.Equal(t, "zoe@contoso.com", users[0].Email)
}

// Names an operator gives (a site, a top level, a partner) are checked the
// same way.
func TestOperatorNamesAreChecked(t *testing.T) {
	ctl, st := open(t)
	ctx := context.Background()
	id := contoso(t, st)

	_, err := ctl.AddSite(ctx, id, "Lon\x1b[2Jdon")
	require.ErrorContains(t, err, "the site's name holds U+001B")
	_, err = ctl.AddSite(ctx, id, strings.Repeat("s", 256))
	require.ErrorContains(t, err, "the site's name is 256 characters long, at most 255 fit")
	require.ErrorContains(t, ctl.SetCustomerTopLevel(ctx, id, "Gold\u202e"), "the top level's name holds U+202E")
	sites, err := ctl.Sites(ctx, id)
	require.NoError(t, err)
	assert.Len(t, sites, 1, "only the default site")
	tls, err := ctl.TopLevels(ctx)
	require.NoError(t, err)
	assert.Empty(t, tls)

	site, err := ctl.AddSite(ctx, id, " Zürich ")
	require.NoError(t, err)
	assert.Equal(t, "Zürich", site.Name)
	require.NoError(t, ctl.SetCustomerTopLevel(ctx, id, "Gold"))
	require.NoError(t, ctl.SetCustomerTopLevel(ctx, id, ""), `"" takes the customer out of its top level`)

	_, err = ctl.Connect(ctx, control.ConnectRequest{PartnerConfig: control.PartnerConfig{ID: "acme", DisplayName: "Acme\x07",
		PartnerTenantID: "acme.example", PCClientID: "9a7e4b20-6c1d-4f38-8b52-3e9d0c7a1f22", PCClientSecret: "s",
		GraphClientID: "9a7e4b20-6c1d-4f38-8b52-3e9d0c7a1f22", GraphClientSecret: "s", AuthorityURL: "https://login.example",
		PartnerCenterURL: "https://pc.example", GraphURL: "https://graph.example", DefaultRelationship: "GDAP"}})
	require.ErrorContains(t, err, "--name holds U+0007")
}

// A customer id that names no customer is refused as such, before anything
// is stored, and the partner is not blamed for it.
func TestMappingsOfAnUnknownCustomerAreRefused(t *testing.T) {
	ctl, st := open(t)
	ctx := context.Background()

	err := ctl.SetFieldMapping(ctx, "", "999999", "phone", "user.mobilePhone")
	require.ErrorContains(t, err, "customer 999999 does not exist")
	assert.NotContains(t, err.Error(), "partner")
	err = ctl.SetFieldMapping(ctx, "default", "999999", "phone", "user.mobilePhone")
	require.ErrorContains(t, err, "customer 999999 does not exist")
	_, err = ctl.FieldMappings(ctx, "", "999999")
	require.ErrorContains(t, err, "customer 999999 does not exist")
	stored, err := st.FieldMappings(ctx, "acme")
	require.NoError(t, err)
	assert.Empty(t, stored)

	err = ctl.SetSiteMappings(ctx, "999999", []control.SiteMapping{{Filter: "true", Site: "Main"}})
	require.ErrorContains(t, err, "customer 999999 does not exist")
	assert.NotContains(t, err.Error(), "sites add", "no site can be added to a customer that does not exist")
	_, err = ctl.AddUser(ctx, "999999", "Alice", "", "")
	require.ErrorContains(t, err, "customer 999999 does not exist")

	// The customer's partner is the one meant; another is refused by name.
	id := contoso(t, st)
	err = ctl.SetFieldMapping(ctx, "default", id, "phone", "user.mobilePhone")
	require.ErrorContains(t, err, "is a customer of partner acme, not default")
	require.NoError(t, ctl.SetFieldMapping(ctx, "", id, "phone", "user.mobilePhone"))
	ms, err := ctl.FieldMappings(ctx, "", id)
	require.NoError(t, err)
	assert.Contains(t, ms, control.FieldMapping{Field: "phone", Expression: "user.mobilePhone"})
	// A customer no discovery has linked yet takes the partner given.
	walkIn, err := testenv.CreateCustomer(ctx, st, "Walk-in")
	require.NoError(t, err)
	err = ctl.SetFieldMapping(ctx, "", strconv.FormatInt(walkIn, 10), "phone", "user.mobilePhone")
	require.ErrorContains(t, err, "belongs to no partner yet: give --partner")
	require.NoError(t, ctl.SetFieldMapping(ctx, "acme", strconv.FormatInt(walkIn, 10), "phone", "user.businessPhones[0]"))
	// Without a customer the partner must exist.
	err = ctl.SetFieldMapping(ctx, "default", "", "phone", "user.mobilePhone")
	require.ErrorContains(t, err, `partner "default" does not exist`)
	// A mapping is operator text too.
	err = ctl.SetFieldMapping(ctx, "", id, "job_title", "user.jobTitle + \"\x1b[2J\"")
	require.ErrorContains(t, err, "the expression holds U+001B")
}

// set-sites with no mapping is refused, saying what clearing would do to
// the customer's users; ClearSiteMappings does it on purpose and says so.
func TestClearingSiteMappingsIsExplicit(t *testing.T) {
	ctl, st := open(t)
	ctx := context.Background()
	id := contoso(t, st)
	cid, err := strconv.ParseInt(id, 10, 64)
	require.NoError(t, err)
	// Two active users from Microsoft, one inactive, one added by hand.
	_, err = st.Pool().Exec(ctx, `INSERT INTO psa_users (customer_id, site_id, azure_object_id, name, active, source)
		SELECT $1, s.id, v.oid::uuid, v.name, v.active, 'azure' FROM sites s,
			(VALUES ('aaaaaaaa-0000-0000-0000-000000000001', 'A', true), ('aaaaaaaa-0000-0000-0000-000000000002', 'B', true),
				('aaaaaaaa-0000-0000-0000-000000000003', 'C', false)) AS v (oid, name, active)
		WHERE s.customer_id = $1 AND s.is_default`, cid)
	require.NoError(t, err)
	_, err = ctl.AddUser(ctx, id, "Manual", "", "")
	require.NoError(t, err)
	before, err := ctl.SiteMappings(ctx, id)
	require.NoError(t, err)
	require.Len(t, before, 1, "the automatic mapping")

	err = ctl.SetSiteMappings(ctx, id, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "its 2 active users from Microsoft would be made inactive")
	assert.Contains(t, err.Error(), "--clear")
	after, err := ctl.SiteMappings(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, before, after, "nothing changed")

	r, err := ctl.ClearSiteMappings(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, control.ClearedSiteMappings{CustomerID: cid, Customer: "Contoso", Removed: 1, ActiveUsers: 2}, r)
	after, err = ctl.SiteMappings(ctx, id)
	require.NoError(t, err)
	assert.Empty(t, after)
}
