// Package cli is the `cspsync` command line. It parses input, calls the
// application layer (internal/control) and renders what it returns. Every
// flag can also be set through the environment variable it names.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/flags"
	"github.com/cspsync/cspsync/internal/service"
	"github.com/cspsync/cspsync/internal/text"
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
			usersCommand(), sitesCommand(), mappingsCommand(), deltaCommand(), logCommand(), reportCommand(),
			keysCommand(), migrateCommand(), simCommand(), devCommand(),
		},
		ExitErrHandler: func(*cli.Context, error) {}, // Main prints every error once
	}
}

// Main runs an app and exits non-zero with the error's message on failure.
func Main(ctx context.Context, app *cli.App, args []string) {
	if err := app.RunContext(ctx, args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %s\n", app.Name, inertLines(err.Error()))
		os.Exit(1)
	}
}

// The CLI never writes a terminal escape sequence from data, even from rows
// stored before text was cleaned on the way in: tables, printf arguments
// and errors are cleaned as they are printed, and JSON escapes what
// encoding/json leaves raw.

// inertLines cleans text line by line, keeping its line breaks and indents.
func inertLines(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		indent := l[:len(l)-len(strings.TrimLeft(l, " "))]
		lines[i] = indent + text.Clean(l, len(l))
	}
	return strings.Join(lines, "\n")
}

// printf is fmt.Fprintf with every string argument cleaned (not shortened:
// links must stay whole).
func printf(w io.Writer, format string, args ...any) {
	for i, a := range args {
		if v := reflect.ValueOf(a); v.Kind() == reflect.String {
			args[i] = text.Clean(v.String(), v.Len())
		}
	}
	fmt.Fprintf(w, format, args...)
}

// withControl opens the application layer for one command.
func withControl(c *cli.Context, fn func(*control.Control) error) error {
	ctl := service.Open(flags.Connection(c))
	defer ctl.Close()
	return fn(ctl)
}

// printJSON prints v as indented JSON. encoding/json escapes control
// characters below U+0020 and the line separators but passes DEL, the C1
// controls and bidi formatting through raw; those are escaped too, which
// leaves the JSON's meaning unchanged. (Any such rune is inside a string:
// outside them the encoder writes only ASCII.)
func printJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // for terminals and scripts, not for HTML pages
	if err := enc.Encode(v); err != nil {
		return err
	}
	var out bytes.Buffer
	for b := buf.Bytes(); len(b) > 0; {
		r, size := utf8.DecodeRune(b)
		if r >= 0x7f && text.Unsafe(r) {
			fmt.Fprintf(&out, `\u%04x`, r)
		} else {
			out.Write(b[:size])
		}
		b = b[size:]
	}
	_, err := out.WriteTo(w)
	return err
}

// table prints rows under a header, every cell cleaned and shortened.
func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		cells := make([]string, len(r))
		for i, c := range r {
			cells[i] = text.Clean(c, text.MaxMessage)
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
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
