// Package control is cspsync's application layer: the one way the CLI and
// the worker's web pages act. Each operation reads and records in the store,
// talks to Microsoft through internal/microsoft and tells the running
// workflows; callers parse input, call it and render what it returns.
package control

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/secrets"
	"github.com/cspsync/cspsync/internal/store"
)

// Records the callers render; the store defines them.
// temporalClient is the Temporal client the operations signal through.
type temporalClient = client.Client

type (
	Customer         = store.Customer
	IntegrationError = store.IntegrationError
	DiscoveryResult  = activities.DiscoveryResult
)

// Config is where the application layer finds PostgreSQL, the key, Temporal
// and Microsoft.
type Config = config.Connection

// Control carries out operations; Open builds one for a command, New for the worker.
type Control struct {
	cfg       Config
	operators config.Operators // who may use the worker's pages

	// PostgreSQL and Temporal are reached on first use, so a command fails
	// only for what it needs.
	mu         sync.Mutex
	auth       *microsoft.Auth
	store      *store.Store
	keyChecked bool
	temporal   client.Client
	owned      bool // Close releases what Open opened
}

// Open prepares the application layer for one command.
func Open(ctx context.Context, cfg Config) (*Control, error) {
	return &Control{cfg: cfg, owned: true}, nil
}

// New wraps the worker's own store, Microsoft clients and Temporal client.
func New(cfg config.Worker, st *store.Store, auth *microsoft.Auth, tc client.Client) *Control {
	return &Control{cfg: cfg.Connection, operators: cfg.Operators, store: st, auth: auth, temporal: tc}
}

// Close releases what Open opened.
func (c *Control) Close() {
	if !c.owned {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.temporal != nil {
		c.temporal.Close()
	}
	if c.store != nil {
		c.store.Close()
	}
}

// db opens the store on first use. The database must exist and be
// migrated: only Migrate creates or migrates it.
func (c *Control) db(ctx context.Context) (*store.Store, error) {
	return c.open(ctx, false)
}

func (c *Control) open(ctx context.Context, migrate bool) (*store.Store, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.store != nil {
		return c.store, nil
	}
	var opts []store.Option
	if migrate {
		opts = append(opts, store.CreateDatabase())
	}
	st, err := OpenStore(ctx, c.cfg, opts...)
	if err != nil {
		return nil, err
	}
	if !migrate {
		if err := st.RequireSchema(ctx); err != nil {
			st.Close()
			return nil, err
		}
	}
	c.store = st
	return st, nil
}

// sealed opens the store for an operation that seals or opens secrets,
// after checking (once) that the key is the one the data was sealed with.
func (c *Control) sealed(ctx context.Context) (*store.Store, error) {
	st, err := c.db(ctx)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.keyChecked {
		if err := st.CheckKey(ctx); err != nil {
			return nil, err
		}
		c.keyChecked = true
	}
	return st, nil
}

// microsoft builds the Microsoft clients on first use (the CA file may
// appear only after the command started, as the dev setup's simulator's does).
func (c *Control) microsoft(ctx context.Context) (*microsoft.Auth, error) {
	st, err := c.db(ctx) // the token cache lives in the store
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.auth == nil {
		hc, err := microsoft.NewHTTPClient(c.cfg.CAFile)
		if err != nil {
			return nil, err
		}
		c.auth = &microsoft.Auth{HTTP: hc, Cache: st}
	}
	return c.auth, nil
}

func (c *Control) client(ctx context.Context) (client.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.temporal != nil {
		return c.temporal, nil
	}
	tc, err := DialTemporal(ctx, c.cfg.TemporalAddress, c.cfg.TemporalNamespace, discardLogger)
	if err != nil {
		return nil, err
	}
	c.temporal = tc
	return tc, nil
}

// OpenStore loads the encryption key and connects to PostgreSQL.
func OpenStore(ctx context.Context, cfg Config, opts ...store.Option) (*store.Store, error) {
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

// Migrate creates the database if it is missing, applies the schema
// migrations and returns the schema version.
func (c *Control) Migrate(ctx context.Context) (int32, error) {
	st, err := c.open(ctx, true)
	if err != nil {
		return 0, err
	}
	if err := st.Migrate(ctx); err != nil {
		return 0, err
	}
	v, _, err := st.SchemaVersion(ctx)
	return v, err
}

var discardLogger = slog.New(slog.DiscardHandler)
