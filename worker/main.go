// Command cspsync-worker runs the cspsync Temporal worker and its HTTP server.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/cspsync/cspsync/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cli.Main(ctx, cli.NewWorker(), os.Args)
}
