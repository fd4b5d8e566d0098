package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/control"
)

func keysCommand() *cli.Command {
	return &cli.Command{
		Name:  "keys",
		Usage: "the encryption key that seals secrets at rest",
		Subcommands: []*cli.Command{{
			Name: "rotate",
			Usage: "re-seal every stored secret under a new key in one transaction; stop the worker first, " +
				"then run it (and the CLI) on the new key alone",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "new-key-file", Usage: "file holding the new key (32 random bytes, base64: `openssl rand -base64 32`)",
					EnvVars: []string{"CSPSYNC_NEW_ENCRYPTION_KEY_FILE"}},
				&cli.StringFlag{Name: "new-key", Usage: "the new key itself (prefer --new-key-file or the environment variable)",
					EnvVars: []string{"CSPSYNC_NEW_ENCRYPTION_KEY"}},
			},
			Action: func(c *cli.Context) error {
				return withControl(c, func(ctl *control.Control) error {
					r, err := ctl.RotateKey(c.Context, c.String("new-key"), c.String("new-key-file"))
					if err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "Re-sealed %d secrets under the new key (%d partner client secrets, %d token caches, %d pending sign-ins) and the key check.\n"+
						"Only the new key opens them now: give it to the worker and the CLI (CSPSYNC_ENCRYPTION_KEY or CSPSYNC_ENCRYPTION_KEY_FILE) and start the worker.\n",
						r.Total(), r.PartnerSecrets, r.TokenCaches, r.Verifiers)
					return nil
				})
			},
		}},
	}
}
