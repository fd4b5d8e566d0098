// Package cli is the `cspsync` command line. It parses input, calls the
// application layer (internal/control) and renders what it returns. Every
// flag can also be set through the environment variable it names.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/flags"
)

// Command-line flags of the CLI alone.
var (
	flagPartner = &cli.StringFlag{Name: "partner", Usage: "partner id (lowercase letters, digits, dashes)",
		Value: "default", EnvVars: []string{"CSPSYNC_PARTNER"}}
	flagJSON          = &cli.BoolFlag{Name: "json", Usage: "print JSON for machines", EnvVars: []string{"CSPSYNC_JSON"}}
	flagPartnerFilter = &cli.StringFlag{Name: "partner", Usage: "only this partner's rows (default: all partners)", EnvVars: []string{"CSPSYNC_PARTNER"}}
)

// New returns the cspsync application.
func New() *cli.App {
	return &cli.App{
		Name:  "cspsync",
		Usage: "keep a PSA database in step with Microsoft CSP customers, licences and users",
		Flags: flags.Global,
		Commands: []*cli.Command{
			connectCommand(), syncCommand(), statusCommand(), checkCommand(), customersCommand(), tenantsCommand(),
			consentCommand(), disconnectCommand(), errorsCommand(), licencesCommand(), topLevelsCommand(), ssoCommand(),
			keysCommand(), migrateCommand(), simCommand(), devCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // Main prints every error once
	}
}

// Main runs an app and exits non-zero with the error's message on failure.
func Main(ctx context.Context, app *cli.App, args []string) {
	if err := app.RunContext(ctx, args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", app.Name, err)
		os.Exit(1)
	}
}

// withControl opens the application layer for one command.
func withControl(c *cli.Context, fn func(*control.Control) error) error {
	ctl, err := control.Open(c.Context, flags.Connection(c))
	if err != nil {
		return err
	}
	defer ctl.Close()
	return fn(ctl)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// list prints items as JSON with --json, else as a table of one row each.
func list[T any](c *cli.Context, items []T, header string, row func(T) []string) error {
	if c.Bool(flagJSON.Name) {
		if items == nil {
			items = []T{}
		}
		return printJSON(c.App.Writer, items)
	}
	rows := make([][]string, 0, len(items))
	for _, it := range items {
		rows = append(rows, row(it))
	}
	return table(c.App.Writer, header, rows)
}

func ago(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}

func dash[T ~string](s T) string {
	if s == "" {
		return "-"
	}
	return string(s)
}
