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
