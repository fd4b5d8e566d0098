// Package cli is the `cspsync` command line and the worker's flags. Every
// flag can also be set through the environment variable it names.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/service"
	"github.com/cspsync/cspsync/internal/store"
)

// Shared flags.
var (
	flagDatabaseURL = &cli.StringFlag{Name: "database-url", Usage: "PostgreSQL URL of the PSA database",
		Value: config.DefaultDatabaseURL, EnvVars: []string{config.EnvDatabaseURL}}
	flagKey = &cli.StringFlag{Name: "encryption-key", Usage: "32-byte key, base64, sealing secrets at rest",
		EnvVars: []string{config.EnvEncryptionKey}}
	flagKeyFile = &cli.StringFlag{Name: "encryption-key-file", Usage: "file holding the encryption key (used when --encryption-key is empty)",
		Value: config.DefaultDataDir + "/encryption.key", EnvVars: []string{config.EnvEncryptionKeyFile}}
	flagTemporalAddress = &cli.StringFlag{Name: "temporal-address", Usage: "Temporal frontend host:port",
		Value: config.DefaultTemporalAddress, EnvVars: []string{config.EnvTemporalAddress}}
	flagTemporalNamespace = &cli.StringFlag{Name: "temporal-namespace", Usage: "Temporal namespace",
		Value: config.DefaultTemporalNamespace, EnvVars: []string{config.EnvTemporalNamespace}}
	flagTaskQueue = &cli.StringFlag{Name: "task-queue", Usage: "Temporal task queue of the cspsync worker",
		Value: config.DefaultTaskQueue, EnvVars: []string{config.EnvTaskQueue}}
	flagPublicURL = &cli.StringFlag{Name: "public-url", Usage: "URL where browsers reach the worker's HTTP server (redirect URIs hang off it)",
		Value: config.DefaultPublicURL, EnvVars: []string{config.EnvPublicURL}}
	flagHTTPAddr = &cli.StringFlag{Name: "http-addr", Usage: "listen address of the worker's HTTP server",
		Value: config.DefaultHTTPAddr, EnvVars: []string{config.EnvHTTPAddr}}
	flagCAFile = &cli.StringFlag{Name: "ca-file", Usage: "extra CA certificate to trust (the simulator's ca.pem); empty for real Microsoft",
		EnvVars: []string{config.EnvCAFile}}
	flagPartner = &cli.StringFlag{Name: "partner", Usage: "partner id (lowercase letters, digits, dashes)",
		Value: "default", EnvVars: []string{"CSPSYNC_PARTNER"}}
	flagJSON          = &cli.BoolFlag{Name: "json", Usage: "print JSON for machines", EnvVars: []string{"CSPSYNC_JSON"}}
	flagPartnerFilter = &cli.StringFlag{Name: "partner", Usage: "only this partner's rows (default: all partners)", EnvVars: []string{"CSPSYNC_PARTNER"}}
)

var globalFlags = []cli.Flag{flagDatabaseURL, flagKey, flagKeyFile, flagTemporalAddress, flagTemporalNamespace, flagTaskQueue}

// New returns the cspsync application.
func New() *cli.App {
	return &cli.App{
		Name:  "cspsync",
		Usage: "keep a PSA database in step with Microsoft CSP customers, licences and users",
		Flags: globalFlags,
		Commands: []*cli.Command{
			connectCommand(), syncCommand(), statusCommand(), checkCommand(), customersCommand(), tenantsCommand(),
			consentCommand(), disconnectCommand(), errorsCommand(), migrateCommand(), simCommand(), devCommand(),
		},
		ExitErrHandler: exitErr,
	}
}

// NewWorker returns the worker process's application.
func NewWorker() *cli.App {
	return &cli.App{
		Name:  "cspsync-worker",
		Usage: "run the cspsync Temporal worker and its HTTP server (OAuth callbacks)",
		Flags: append(append([]cli.Flag{}, globalFlags...), flagHTTPAddr, flagPublicURL, flagCAFile,
			&cli.IntFlag{Name: "discovery-page-size", Value: 100, Usage: "Partner Center page size (1..500)", EnvVars: []string{config.EnvDiscoveryPageSize}},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error", EnvVars: []string{config.EnvLogLevel}},
		),
		Action: func(c *cli.Context) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
				return fmt.Errorf("--log-level: %w (use debug, info, warn or error)", err)
			}
			if n := c.Int("discovery-page-size"); n < 1 || n > 500 {
				return fmt.Errorf("--discovery-page-size %d is out of range: Partner Center accepts 1..500", n)
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return service.Run(c.Context, workerConfig(c), logger)
		},
		ExitErrHandler: exitErr,
	}
}

func workerConfig(c *cli.Context) config.Worker {
	return config.Worker{
		DatabaseURL: c.String(flagDatabaseURL.Name), EncryptionKey: c.String(flagKey.Name), EncryptionKeyFile: c.String(flagKeyFile.Name),
		TemporalAddress: c.String(flagTemporalAddress.Name), TemporalNamespace: c.String(flagTemporalNamespace.Name),
		TaskQueue: c.String(flagTaskQueue.Name), HTTPAddr: c.String(flagHTTPAddr.Name), PublicURL: c.String(flagPublicURL.Name),
		CAFile: c.String(flagCAFile.Name), DiscoveryPageSize: c.Int("discovery-page-size"),
	}
}

// exitErr leaves error reporting to Main, which prints every error once.
func exitErr(*cli.Context, error) {}

// Main runs an app and exits non-zero with the error's message on failure.
func Main(ctx context.Context, app *cli.App, args []string) {
	if err := app.RunContext(ctx, args); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", app.Name, err)
		os.Exit(1)
	}
}

// openStore opens the store from the global flags.
func openStore(c *cli.Context) (*store.Store, error) {
	return service.OpenStore(c.Context, c.String(flagDatabaseURL.Name), c.String(flagKey.Name), c.String(flagKeyFile.Name))
}

// withControl opens the store and Temporal for a command acting on tenants.
func withControl(c *cli.Context, fn func(*control.Control) error) error {
	st, err := openStore(c)
	if err != nil {
		return err
	}
	defer st.Close()
	tc, err := dialTemporal(c)
	if err != nil {
		return err
	}
	defer tc.Close()
	return fn(&control.Control{Store: st, Temporal: tc, TaskQueue: c.String(flagTaskQueue.Name)})
}

func dialTemporal(c *cli.Context) (client.Client, error) {
	return service.DialTemporal(c.Context, c.String(flagTemporalAddress.Name), c.String(flagTemporalNamespace.Name),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
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

func ago(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04:05")
}
