// Package control is cspsync's application layer: the one way the CLI and
// the worker's web pages act. Each operation reads and records in the store,
// talks to Microsoft through internal/microsoft and tells the running
// workflows; callers parse input, call it and render what it returns.
package control

import (
	"context"
	"errors"
	"net/http"
	"sync"

	"go.temporal.io/sdk/client"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/store"
)

// temporalClient is the Temporal client the operations signal through.
type temporalClient = client.Client

// Config is where the application layer finds PostgreSQL, the key, Temporal
// and Microsoft.
type Config = config.Connection

// Parts reaches what the operations act through. The wiring
// (internal/service) provides them; a Control reaches each on first use, so
// a command fails only for what it needs.
type Parts interface {
	// OpenStore loads the key and connects to PostgreSQL; create makes a
	// missing database.
	OpenStore(ctx context.Context, create bool) (*store.Store, error)
	// DialTemporal connects to the Temporal frontend.
	DialTemporal(ctx context.Context) (client.Client, error)
	// HTTPClient is what Microsoft is called through (trusting the CA file,
	// which may appear only after the command started, as the dev setup's
	// simulator's does).
	HTTPClient() (*http.Client, error)
}

// Control carries out operations; Open builds one for a command, New for the worker.
type Control struct {
	cfg       Config
	operators config.Operators // who may use the worker's pages
	parts     Parts            // nil when New was given everything

	mu         sync.Mutex
	auth       *microsoft.Auth
	store      *store.Store
	keyChecked bool
	temporal   client.Client
	owned      bool // Close releases what Open opened
}

// Open prepares the application layer for one command; it opens nothing
// until an operation needs it.
func Open(cfg Config, parts Parts) *Control {
	return &Control{cfg: cfg, parts: parts, owned: true}
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
	st, err := c.parts.OpenStore(ctx, migrate)
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

// microsoft builds the Microsoft clients on first use.
func (c *Control) microsoft(ctx context.Context) (*microsoft.Auth, error) {
	st, err := c.db(ctx) // the token cache lives in the store
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.auth == nil {
		hc, err := c.parts.HTTPClient()
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
	if c.parts == nil {
		return nil, errors.New("no Temporal client: the worker needs Temporal reachable for this page")
	}
	tc, err := c.parts.DialTemporal(ctx)
	if err != nil {
		return nil, err
	}
	c.temporal = tc
	return tc, nil
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
