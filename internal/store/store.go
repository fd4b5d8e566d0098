// Package store is cspsync's system of record in PostgreSQL: schema
// migrations and every read and write of partners, customers, token caches,
// pending authorisations and integration errors.
package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"

	"github.com/cspsync/cspsync/internal/secrets"
)

//go:embed migrations/*.sql
var migrations embed.FS

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// Store wraps a connection pool and the key that seals secrets at rest.
type Store struct {
	pool     *pgxpool.Pool
	box      *secrets.Box
	database string

	// keyCheck is the key-check value CheckKey verified; token caches are
	// written only while it is still the stored one (see SaveTokenCache).
	keyCheck atomic.Pointer[[]byte]
}

type options struct {
	create bool
	tracer pgx.QueryTracer
}

// Option tunes Open.
type Option func(*options)

// WithTracer traces every query (tests count round trips with it).
func WithTracer(t pgx.QueryTracer) Option { return func(o *options) { o.tracer = t } }

// CreateDatabase lets Open create the database when the server is reachable
// but the database does not exist: for `cspsync migrate` and `cspsync dev`
// only, so a mistyped name elsewhere is an error, not a new empty database.
func CreateDatabase() Option { return func(o *options) { o.create = true } }

// ErrNotMigrated means the database is missing or its schema is behind.
var ErrNotMigrated = errors.New("does not exist or is not migrated")

func notMigrated(database, detail string) error {
	return fmt.Errorf("database %q %w%s: run `cspsync migrate` (or check CSPSYNC_DATABASE_URL)", database, ErrNotMigrated, detail)
}

// Open connects to databaseURL. Errors name the address and the fix.
func Open(ctx context.Context, databaseURL string, box *secrets.Box, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("invalid database URL (CSPSYNC_DATABASE_URL): %w", err)
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.tracer != nil {
		cfg.ConnConfig.Tracer = o.tracer
	}
	pool, err := connect(ctx, cfg)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "3D000" { // invalid_catalog_name
		if !o.create {
			return nil, notMigrated(cfg.ConnConfig.Database, "")
		}
		if err = createDatabase(ctx, cfg.ConnConfig); err == nil {
			pool, err = connect(ctx, cfg)
		}
	}
	if err != nil {
		return nil, describeConnError(cfg.ConnConfig, err)
	}
	return &Store{pool: pool, box: box, database: cfg.ConnConfig.Database}, nil
}

func connect(ctx context.Context, cfg *pgxpool.Config) (*pgxpool.Pool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return pool, nil
}

func createDatabase(ctx context.Context, cc *pgx.ConnConfig) error {
	admin := cc.Copy()
	admin.Database = "postgres"
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cc.Database}.Sanitize())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P04" { // created meanwhile by another process
		return nil
	}
	return err
}

func describeConnError(cc *pgx.ConnConfig, err error) error {
	addr := net.JoinHostPort(cc.Host, fmt.Sprint(cc.Port))
	var netErr net.Error
	var opErr *net.OpError
	switch {
	case errors.As(err, &opErr), errors.As(err, &netErr), strings.Contains(err.Error(), "connect: connection refused"):
		return fmt.Errorf("PostgreSQL is not reachable at %s: %w (start PostgreSQL, or point CSPSYNC_DATABASE_URL at a running server)", addr, err)
	default:
		return fmt.Errorf("connecting to PostgreSQL at %s as %q, database %q: %w (check CSPSYNC_DATABASE_URL)", addr, cc.User, cc.Database, err)
	}
}

// Close releases the pool.
func (s *Store) Close() { s.pool.Close() }

// Pool exposes the pool to tests and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Migrate applies every pending schema migration. Concurrent callers are
// serialised by the migration library's advisory lock.
func (s *Store) Migrate(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), "schema_version")
	if err != nil {
		return fmt.Errorf("preparing migrations: %w", err)
	}
	if err := m.LoadMigrations(mustSub(migrations, "migrations")); err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	return nil
}

// SchemaVersion returns the applied and the latest known migration numbers,
// without writing (an unmigrated database is at 0).
func (s *Store) SchemaVersion(ctx context.Context) (applied, latest int32, err error) {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return 0, 0, err
	}
	err = s.pool.QueryRow(ctx, `SELECT version FROM schema_version`).Scan(&applied)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table: never migrated
		err = nil
	}
	return applied, int32(len(files)), err
}

// RequireSchema fails, naming the database and the fix, unless the schema
// is exactly the one this build knows.
func (s *Store) RequireSchema(ctx context.Context) error {
	applied, latest, err := s.SchemaVersion(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("reading the schema version of database %q: %w", s.database, err)
	case applied == 0:
		return notMigrated(s.database, "")
	case applied < latest:
		return notMigrated(s.database, fmt.Sprintf(" (schema version %d of %d)", applied, latest))
	case applied > latest:
		return fmt.Errorf("database %q has schema version %d, newer than this cspsync knows (%d): upgrade cspsync", s.database, applied, latest)
	}
	return nil
}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded at build time
	}
	return sub
}
