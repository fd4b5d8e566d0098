// Command cspsync-worker runs the cspsync Temporal worker and its HTTP server
// (OAuth callbacks and the tenants page).
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/config"
	"github.com/cspsync/cspsync/internal/flags"
	"github.com/cspsync/cspsync/internal/service"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app().RunContext(ctx, os.Args); err != nil {
		fmt.Fprintf(os.Stderr, "cspsync-worker: %v\n", err)
		os.Exit(1)
	}
}

func app() *cli.App {
	return &cli.App{
		Name:  "cspsync-worker",
		Usage: "run the cspsync Temporal worker and its HTTP server (OAuth callbacks, tenants page)",
		Flags: append(append([]cli.Flag{}, flags.Global...), flags.HTTPAddr, flags.PublicURL, flags.CAFile,
			flags.DiscoveryPageSize, flags.UserPageSize, flags.Operators, flags.OperatorGroup, flags.OperatorsEveryone, flags.MaxConcurrentActivities,
			flags.MaxConcurrentWorkflowTasks, flags.TaskQueueActivitiesPerSecond, flags.LogLevel),
		Action: func(c *cli.Context) error {
			var level slog.Level
			if err := level.UnmarshalText([]byte(c.String(flags.LogLevel.Name))); err != nil {
				return fmt.Errorf("--log-level: %w (use debug, info, warn or error)", err)
			}
			if n := c.Int(flags.UserPageSize.Name); n < 1 || n > 200 {
				return fmt.Errorf("--user-page-size %d is out of range: Graph's users/delta pages hold 1..200 users", n)
			}
			if n := c.Int(flags.DiscoveryPageSize.Name); n < 1 || n > 500 {
				return fmt.Errorf("--discovery-page-size %d is out of range: Partner Center accepts 1..500", n)
			}
			concurrency := flags.Concurrency(c)
			if err := concurrency.Check(); err != nil {
				return err
			}
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			return service.Run(c.Context, config.Worker{Connection: flags.Connection(c),
				HTTPAddr: c.String(flags.HTTPAddr.Name), DiscoveryPageSize: c.Int(flags.DiscoveryPageSize.Name),
				UserPageSize: c.Int(flags.UserPageSize.Name),
				Operators:    flags.OperatorsOf(c),
				Concurrency:  concurrency,
			}, logger)
		},
		ExitErrHandler: func(*cli.Context, error) {},
	}
}
