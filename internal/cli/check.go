package cli

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/flags"
	"github.com/cspsync/cspsync/internal/service"
)

func checkCommand() *cli.Command {
	return &cli.Command{
		Name:  "check",
		Usage: "check the configuration end to end: a tick or a cross per item, non-zero exit if any fails",
		Flags: []cli.Flag{flags.CAFile, flags.Operators, flags.OperatorGroup, flags.OperatorsEveryone},
		Action: func(c *cli.Context) error {
			ctx, cancel := context.WithTimeout(c.Context, 2*time.Minute)
			defer cancel()
			var mu sync.Mutex
			failed := 0
			service.Check(ctx, flags.Connection(c), flags.OperatorsOf(c), func(ok bool, what, detail string) {
				mu.Lock()
				defer mu.Unlock()
				mark := "✓"
				if !ok {
					mark = "✗"
					failed++
				}
				if detail != "" {
					what += " — " + detail
				}
				printf(c.App.Writer, "%s %s\n", mark, what)
			})
			if failed > 0 {
				return fmt.Errorf("%d check(s) failed", failed)
			}
			fmt.Fprintln(c.App.Writer, "All checks passed.")
			return nil
		},
	}
}
