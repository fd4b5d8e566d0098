package service

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
)

// OpenStore loads the encryption key and connects to PostgreSQL.
func OpenStore(ctx context.Context, cfg config.Connection, opts ...store.Option) (*store.Store, error) {
	box, err := secrets.Load(cfg.EncryptionKey, cfg.EncryptionKeyFile)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg.DatabaseURL, box, opts...)
}

// DialTemporal connects to the Temporal frontend, failing fast with the
// address and the fix when it is not there.
func DialTemporal(ctx context.Context, address, namespace string, logger *slog.Logger) (client.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Logger: tlog.NewStructuredLogger(logger)})
	if err != nil {
		return nil, fmt.Errorf("cannot reach Temporal at %s (namespace %q): %w (start it, for example with `make demo`, or set TEMPORAL_ADDRESS)", address, namespace, err)
	}
	return c, nil
}

// Open prepares the application layer for one command (the CLI's): each
// part is reached on first use, and Close releases them.
func Open(cfg config.Connection) *control.Control {
	return control.Open(cfg, parts{cfg})
}

// parts reaches PostgreSQL, Temporal and Microsoft as cfg says.
type parts struct{ cfg config.Connection }

func (p parts) OpenStore(ctx context.Context, create bool) (*store.Store, error) {
	var opts []store.Option
	if create {
		opts = append(opts, store.CreateDatabase())
	}
	return OpenStore(ctx, p.cfg, opts...)
}

func (p parts) DialTemporal(ctx context.Context) (client.Client, error) {
	return DialTemporal(ctx, p.cfg.TemporalAddress, p.cfg.TemporalNamespace, discardLogger)
}

func (p parts) HTTPClient() (*http.Client, error) { return microsoft.NewHTTPClient(p.cfg.CAFile) }

// Check checks the configuration end to end: the key, Temporal, PostgreSQL
// and its schema, whether the key opens the stored data and the CA bundle,
// each with its own client so that one failure does not hide the next;
// then every partner (control.CheckPartners).
func Check(ctx context.Context, cfg config.Connection, operators config.Operators, report control.Report) {
	box, err := secrets.Load(cfg.EncryptionKey, cfg.EncryptionKeyFile)
	report.Err(err, "encryption key loads")
	checkOperators(operators, report)
	tc, err := DialTemporal(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, discardLogger)
	if report.Err(err, "Temporal reachable at "+cfg.TemporalAddress) {
		defer tc.Close()
	}
	if box == nil {
		return
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, box)
	if !report.Err(err, "PostgreSQL reachable") {
		return
	}
	defer st.Close()
	if !report.Err(st.RequireSchema(ctx), "PostgreSQL schema migrated") {
		return
	}
	if !report.Err(st.CheckKey(ctx), "encryption key is the one the stored secrets were sealed with") {
		return
	}
	hc, err := microsoft.NewHTTPClient(cfg.CAFile)
	if !report.Err(err, "CA bundle loads") {
		return
	}
	control.New(config.Worker{Connection: cfg}, st, &microsoft.Auth{HTTP: hc, Cache: st}, tc).CheckPartners(ctx, report)
}

// checkOperators reports who may use the worker's pages with the settings
// check was given (the worker's, when run with the same environment).
func checkOperators(o config.Operators, report control.Report) {
	what := "operator pages admit " + o.Rule()
	switch err := control.CheckOperators(o); {
	case err != nil:
		report(false, what, err.Error())
	case !o.EveryoneInPartnerTenant && !o.Listed():
		report(false, what, control.ErrNoOperators.Error())
	default:
		report(true, what, "")
	}
}

var discardLogger = slog.New(slog.DiscardHandler)
