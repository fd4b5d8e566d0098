package cli_test

import (
	"bytes"
	"context"
	"go/build"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	urfave "github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/cli"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/internal/testenv"
)

func run(args ...string) (string, error) {
	app := cli.New()
	var out bytes.Buffer
	app.Writer, app.ErrWriter = &out, &out
	err := app.RunContext(context.Background(), append([]string{"cspsync"}, args...))
	return out.String(), err
}

func TestBadInputNamesCauseAndFix(t *testing.T) {
	key := secrets.NewKeyText()
	cases := []struct {
		name string
		args []string
		want []string
	}{
		{"Temporal unreachable", []string{"--temporal-address", "127.0.0.1:1", "sync"},
			[]string{"cannot reach Temporal at 127.0.0.1:1", "TEMPORAL_ADDRESS"}},
		{"PostgreSQL unreachable", []string{"--encryption-key", key, "--database-url", "postgres://postgres@127.0.0.1:1/x?connect_timeout=2", "customers", "list"},
			[]string{"PostgreSQL is not reachable at 127.0.0.1:1", "CSPSYNC_DATABASE_URL"}},
		{"no encryption key", []string{"--encryption-key-file", "/nonexistent/key", "migrate"},
			[]string{"encryption key", "CSPSYNC_ENCRYPTION_KEY"}},
		{"malformed encryption key", []string{"--encryption-key", "c2hvcnQ=", "migrate"},
			[]string{"malformed encryption key", "openssl rand -base64 32"}},
		{"client id not a GUID", []string{"connect", "--partner-tenant", "contoso.onmicrosoft.com", "--pc-client-id", "my-app",
			"--pc-client-secret", "x", "--graph-client-id", "9a7e4b20-6c1d-4f38-8b52-3e9d0c7a1f22", "--graph-client-secret", "y"},
			[]string{`--pc-client-id "my-app" is not an application (client) id`, "App registrations"}},
		{"plain http authority", []string{"connect", "--partner-tenant", "t", "--pc-client-id", "9a7e4b20-6c1d-4f38-8b52-3e9d0c7a1f22",
			"--pc-client-secret", "x", "--graph-client-id", "9a7e4b20-6c1d-4f38-8b52-3e9d0c7a1f22", "--graph-client-secret", "y",
			"--authority-url", "http://login.example"}, []string{"must be an https:// URL"}},
		{"set-tenant usage", []string{"customers", "set-tenant", "1"}, []string{"usage: cspsync customers set-tenant CUSTOMER-ID TENANT-ID"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := run(c.args...)
			require.Error(t, err, out)
			for _, w := range c.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// Every flag of every command can also be set from the environment (the
// worker's flags: worker/main_test.go).
func TestEveryFlagHasAnEnvironmentVariable(t *testing.T) {
	var walk func(path string, cmds []*urfave.Command, flags []urfave.Flag)
	check := func(path string, flags []urfave.Flag) {
		for _, f := range flags {
			env, ok := f.(interface{ GetEnvVars() []string })
			if assert.True(t, ok, "%s --%s", path, f.Names()[0]) {
				assert.NotEmpty(t, env.GetEnvVars(), "%s --%s has no environment variable", path, f.Names()[0])
			}
		}
	}
	walk = func(path string, cmds []*urfave.Command, flags []urfave.Flag) {
		check(path, flags)
		for _, c := range cmds {
			walk(path+" "+c.Name, c.Subcommands, c.Flags)
		}
	}
	app := cli.New()
	walk(app.Name, app.Commands, app.Flags)
}

// Only `migrate` (and `dev`) create the database; every other command names
// the database and the fix, whether it is missing or empty.
func TestOnlyMigrateCreatesTheDatabase(t *testing.T) {
	key := secrets.NewKeyText()
	missing := testenv.MissingDatabaseURL(t)
	name := strings.TrimPrefix(must(url.Parse(missing)).Path, "/")
	want := `database "` + name + "\" does not exist or is not migrated: run `cspsync migrate`"
	for _, args := range [][]string{{"customers", "list"}, {"errors", "list"}, {"status"}, {"tenants", "list"}} {
		_, err := run(append([]string{"--encryption-key", key, "--database-url", missing}, args...)...)
		require.Error(t, err, args)
		assert.Contains(t, err.Error(), want, args)
	}
	_, err := pgx.Connect(context.Background(), missing)
	require.Error(t, err, "no command created the database")

	empty := testenv.DatabaseURL(t)
	name = strings.TrimPrefix(must(url.Parse(empty)).Path, "/")
	_, err = run("--encryption-key", key, "--database-url", empty, "customers", "list")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `database "`+name+"\" does not exist or is not migrated: run `cspsync migrate`")
	assert.NotContains(t, err.Error(), "relation")

	out, err := run("--encryption-key", key, "--database-url", missing, "migrate")
	require.NoError(t, err, out)
	out, err = run("--encryption-key", key, "--database-url", missing, "customers", "list")
	require.NoError(t, err, out)
	assert.Contains(t, out, "0 customers")
}

// The CLI parses, calls the application layer and renders: it imports
// neither the store nor the workflows and activities (control and the
// wiring in internal/service reach them).
func TestCLIActsThroughTheApplicationLayer(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	require.NoError(t, err)
	for _, imp := range pkg.Imports {
		for _, banned := range []string{"/internal/store", "/workflows", "/activities", "/internal/usersync"} {
			assert.False(t, strings.HasSuffix(imp, banned), "internal/cli imports %s", imp)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// What an operator types is checked before anything is stored: a
// customer that does not exist, a user the PSA would refuse, and a
// set-sites without mappings (which would make every user of the
// customer inactive) are refused with the cause and the fix.
func TestOperatorInputIsRefusedWithTheCause(t *testing.T) {
	st, url, key := testenv.Store(t)
	ctx := context.Background()
	require.NoError(t, st.UpsertPartner(ctx, store.PartnerConfig{ID: "acme", DisplayName: "Acme", PartnerTenantID: "acme.example",
		PCClientID: "pc", PCClientSecret: "s", GraphClientID: "g", GraphClientSecret: "s", AuthorityURL: "https://login.example",
		PartnerCenterURL: "https://pc.example", GraphURL: "https://graph.example", DefaultRelationship: "GDAP"}))
	_, err := st.SaveDiscoveryPage(ctx, "acme", "", "", []store.DiscoveredTenant{{TenantID: "11111111-0000-0000-0000-000000000001", Name: "Contoso"}})
	require.NoError(t, err)
	global := []string{"--database-url", url, "--encryption-key", key}

	for _, c := range []struct {
		args       []string
		want, fail string
	}{
		{[]string{"mappings", "set-field", "--customer", "999999", "phone", "user.mobilePhone"}, "customer 999999 does not exist", "partner"},
		{[]string{"mappings", "set-sites", "--customer", "999999", "true => Main"}, "customer 999999 does not exist", "sites add"},
		{[]string{"users", "add", "--customer", "1", "--name", "Alice", "--email", "alice"}, `--email "alice" is not an email address`, ""},
		{[]string{"users", "add", "--customer", "1", "--name", strings.Repeat("a", 10_000)}, "--name is 10000 characters long", ""},
		{[]string{"sites", "add", "--customer", "1", "Lon\x1b[2Jdon"}, "the site's name holds U+001B", ""},
		{[]string{"customers", "set-top-level", "1", "Gold\x07"}, "the top level's name holds U+0007", ""},
		{[]string{"mappings", "set-sites", "--customer", "1"}, "no site mapping given", ""},
		{[]string{"mappings", "set-sites", "--customer", "1", "--clear", "true => Main"}, "give either mappings or --clear", ""},
	} {
		out, err := run(append(global, c.args...)...)
		require.Error(t, err, "%v: %s", c.args, out)
		assert.Contains(t, err.Error(), c.want, c.args)
		if c.fail != "" {
			assert.NotContains(t, err.Error(), c.fail, c.args)
		}
	}
	out, err := run(append(global, "mappings", "sites", "--customer", "1")...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "true", "the customer's mapping is still there")
	out, err = run(append(global, "users", "list", "--customer", "1")...)
	require.NoError(t, err, out)
	assert.Equal(t, 1, strings.Count(out, "\n"), "no user was added: %s", out)

	out, err = run(append(global, "mappings", "set-sites", "--customer", "1", "--clear")...)
	require.NoError(t, err, out)
	assert.Contains(t, out, "Removed the 1 site mappings of customer 1 (Contoso)")
	assert.Contains(t, out, "make its 0 active users from Microsoft inactive")
}
