// Package service is cspsync's wiring: it loads the key and opens the
// store, dials Temporal and builds the Microsoft clients. The worker runs on
// it (Run: the Temporal worker and its HTTP server; the worker binary, the
// CLI's dev command through that binary and the end-to-end tests run it),
// and the CLI opens the application layer through it (Open, Check).
package service

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"go.temporal.io/sdk/worker"

	"github.com/cspsync/cspsync/activities"
	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/microsoft"
	"github.com/cspsync/cspsync/internal/web"
	"github.com/cspsync/cspsync/workflows"
)

// Run runs the worker and its HTTP server until ctx ends. It migrates the
// schema first, so a new release needs no separate step, but never creates
// the database (`cspsync migrate` does). It refuses to start on a key that
// does not open the stored data.
func Run(ctx context.Context, cfg config.Worker, logger *slog.Logger) error {
	if err := control.CheckOperators(cfg.Operators); err != nil {
		return err
	}
	st, err := OpenStore(ctx, cfg.Connection)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		return err
	}
	if err := st.CheckKey(ctx); err != nil {
		return fmt.Errorf("refusing to start: %w", err)
	}
	hc, err := microsoft.NewHTTPClient(cfg.CAFile)
	if err != nil {
		return err
	}
	tc, err := DialTemporal(ctx, cfg.TemporalAddress, cfg.TemporalNamespace, logger)
	if err != nil {
		return err
	}
	defer tc.Close()

	auth := &microsoft.Auth{HTTP: hc, Cache: st}
	w := worker.New(tc, cfg.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize:     cfg.Concurrency.Activities,
		MaxConcurrentWorkflowTaskExecutionSize: cfg.Concurrency.WorkflowTasks,
		TaskQueueActivitiesPerSecond:           cfg.Concurrency.TaskQueueActivitiesPerSecond,
	})
	workflows.Register(w)
	pageSize := cfg.DiscoveryPageSize
	if pageSize <= 0 {
		pageSize = 100
	}
	w.RegisterActivity(&activities.Activities{Store: st, Auth: auth, DiscoveryPageSize: pageSize, UserPageSize: cfg.UserPageSize,
		Tenants: workflows.TenantClient{Client: tc, TaskQueue: cfg.TaskQueue}})

	site := &web.Server{Control: control.New(cfg, st, auth, tc), Log: logger, PublicURL: cfg.PublicURL, ListenAddr: cfg.HTTPAddr,
		TemporalUI: cmp.Or(os.Getenv(config.EnvTemporalUI), fmt.Sprintf("http://127.0.0.1:%d", config.DefaultTemporalUIPort))}
	handler, err := site.Handler()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("worker HTTP server cannot listen on %s: %w (set CSPSYNC_HTTP_ADDR to a free address)", cfg.HTTPAddr, err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    web.MaxHeaderBytes,
	}
	httpErr := make(chan error, 1)
	go func() { httpErr <- srv.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	if err := w.Start(); err != nil {
		return fmt.Errorf("starting Temporal worker on task queue %s: %w", cfg.TaskQueue, err)
	}
	defer w.Stop()
	logger.Info("cspsync worker running", "taskQueue", cfg.TaskQueue, "http", ln.Addr().String(), "temporal", cfg.TemporalAddress)
	select {
	case <-ctx.Done():
		return nil
	case err := <-httpErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
