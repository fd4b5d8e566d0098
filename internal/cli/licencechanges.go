package cli

import (
	"fmt"
	"os/user"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/flags"
	"github.com/cspsync/cspsync/internal/licensing"
)

// licenceChangeCommands are licence management from the PSA: turning it on per customer,
// assigning and removing a user's licence, and the changes' outcomes.
func licenceChangeCommands() []*cli.Command {
	change := func(action licensing.ChangeAction, usage string) *cli.Command {
		return &cli.Command{
			Name:  string(action),
			Usage: usage,
			Flags: []cli.Flag{flagJSON, flags.CAFile,
				&cli.StringFlag{Name: "user", Required: true, Usage: "the PSA user: his ID from `cspsync users list`, Azure object id or email", EnvVars: []string{"CSPSYNC_LICENCE_USER"}},
				&cli.StringFlag{Name: "sku", Required: true, Usage: "the licence: SKU id, part number (SPB) or product name, as `cspsync licences report` shows it", EnvVars: []string{"CSPSYNC_LICENCE_SKU"}},
				&cli.BoolFlag{Name: "no-wait", Usage: "return once the change is accepted, without waiting for its outcome", EnvVars: []string{"CSPSYNC_LICENCE_NO_WAIT"}},
				&cli.DurationFlag{Name: "timeout", Value: 2 * time.Minute, Usage: "how long to wait for the outcome", EnvVars: []string{"CSPSYNC_LICENCE_TIMEOUT"}}},
			Action: func(c *cli.Context) error {
				return withControl(c, func(ctl *control.Control) error {
					ch, err := ctl.ChangeLicence(c.Context, requester(), c.String("user"), c.String("sku"), action, !c.Bool("no-wait"), c.Duration("timeout"))
					if err != nil {
						if ch.ID != "" && ch.State != "running" && c.Bool(flagJSON.Name) {
							_ = printJSON(c.App.Writer, ch)
						}
						return err
					}
					if c.Bool(flagJSON.Name) {
						return printJSON(c.App.Writer, ch)
					}
					if ch.State == "running" {
						_, err = fmt.Fprintf(c.App.Writer, "Licence change %s accepted (%s %s for %s); `cspsync licences changes` shows its outcome.\n", ch.ID, ch.Action, ch.Sku, ch.User)
						return err
					}
					_, err = fmt.Fprintf(c.App.Writer, "Licence change %s %s: %s %s for %s, verified in Microsoft.\n", ch.ID, ch.State, ch.Action, ch.Sku, ch.User)
					return err
				})
			},
		}
	}
	return []*cli.Command{
		{
			Name:      "manage",
			Usage:     "turn licence management from the PSA on or off for a customer, or record another integration as managing its licences",
			ArgsUsage: "on|off",
			Flags: []cli.Flag{flagCustomer, flagJSON,
				&cli.StringFlag{Name: "elsewhere", Usage: "record this other integration as managing the customer's licences (cspsync then refuses to)", EnvVars: []string{"CSPSYNC_LICENCES_ELSEWHERE"}}},
			Action: func(c *cli.Context) error {
				on, elsewhere := false, c.String("elsewhere")
				switch arg := c.Args().First(); {
				case elsewhere != "" && c.NArg() == 0:
				case c.NArg() == 1 && arg == "on":
					on = true
				case c.NArg() == 1 && arg == "off":
				default:
					return fmt.Errorf("give on or off (or --elsewhere NAME alone): `cspsync licences manage --customer ID on`")
				}
				return withControl(c, func(ctl *control.Control) error {
					m, err := ctl.ManageLicences(c.Context, c.String(flagCustomer.Name), on, elsewhere)
					if err != nil || c.Bool(flagJSON.Name) {
						if err == nil {
							err = printJSON(c.App.Writer, m)
						}
						return err
					}
					switch {
					case m.Managed:
						_, err = fmt.Fprintf(c.App.Writer, "cspsync now manages the licences of customer %d (%s).\n", m.CustomerID, m.Customer)
					case m.ManagedBy != "":
						_, err = fmt.Fprintf(c.App.Writer, "Customer %d (%s)'s licences are recorded as managed by %s; cspsync will not change them.\n", m.CustomerID, m.Customer, m.ManagedBy)
					default:
						_, err = fmt.Fprintf(c.App.Writer, "cspsync no longer manages the licences of customer %d (%s).\n", m.CustomerID, m.Customer)
					}
					return err
				})
			},
		},
		change(licensing.Assign, "assign a licence to a user of a managed customer, verified in Microsoft"),
		change(licensing.Remove, "remove a licence from a user of a managed customer, verified in Microsoft"),
		{
			Name:  "changes",
			Usage: "the licence changes asked of cspsync and their outcomes, newest first",
			Flags: []cli.Flag{flagJSON, flagPartnerFilter,
				&cli.StringFlag{Name: "customer", Usage: "only this customer's (id from `cspsync customers list`)", EnvVars: []string{"CSPSYNC_CUSTOMER"}}},
			Action: func(c *cli.Context) error {
				return withControl(c, func(ctl *control.Control) error {
					chs, err := ctl.LicenceChanges(c.Context, c.String(flagPartnerFilter.Name), c.String("customer"))
					if err != nil {
						return err
					}
					return list(c, chs, "WHEN\tCUSTOMER\tUSER\tACTION\tSKU\tBY\tSTATE\tERROR", func(ch control.LicenceChange) []string {
						return []string{ago(&ch.RequestedAt), ch.Customer, ch.User, ch.Action, ch.Sku, ch.RequestedBy, ch.State, dash(ch.ErrorCode)}
					})
				})
			},
		},
	}
}

// requester names who asks from the command line.
func requester() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}
