package cli

import (
	"fmt"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/control"
)

func licencesCommand() *cli.Command {
	return &cli.Command{
		Name:  "licences",
		Usage: "customers' Microsoft licences: import them now, reconcile seats, show their history",
		Subcommands: append([]*cli.Command{
			{
				Name:  "import",
				Usage: "import licences now, for one tenant or every tenant of the partner",
				Flags: []cli.Flag{flagPartner, flagJSON,
					&cli.StringFlag{Name: "tenant", Usage: "only this tenant", EnvVars: []string{"CSPSYNC_LICENCES_TENANT"}},
					&cli.BoolFlag{Name: "wait", Usage: "wait until the imports have finished and print their counts", EnvVars: []string{"CSPSYNC_LICENCES_WAIT"}},
					&cli.DurationFlag{Name: "timeout", Value: 10 * time.Minute, Usage: "how long --wait waits", EnvVars: []string{"CSPSYNC_LICENCES_TIMEOUT"}}},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						wait := c.Bool("wait")
						res, err := ctl.ImportLicences(c.Context, c.String(flagPartner.Name), c.String("tenant"), wait, c.Duration("timeout"))
						if err != nil {
							return err
						}
						if c.Bool(flagJSON.Name) {
							return printJSON(c.App.Writer, res)
						}
						summary := fmt.Sprintf("Licence import requested for %d tenants; `cspsync licences report` shows the result.", res.Tenants-len(res.Failed))
						if wait {
							summary = fmt.Sprintf("Imported the licences of %d tenants: %d licences, %d subscriptions, %d changes recorded.",
								res.Tenants-len(res.Failed), res.Licences, res.Subscriptions, res.Events)
						}
						return reportTenants(c, res.Failed, res.Tenants, summary)
					})
				},
			},
			{
				Name:  "report",
				Usage: "seat reconciliation per customer and SKU: paid for, assigned, unused, suspended and warning, and the seats counted from users (flagged when they differ)",
				Flags: []cli.Flag{flagJSON, flagPartnerFilter},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						rep, err := ctl.Licences(c.Context, c.String(flagPartnerFilter.Name))
						if err != nil || c.Bool(flagJSON.Name) {
							if err == nil {
								err = printJSON(c.App.Writer, rep)
							}
							return err
						}
						var rows [][]string
						for _, cu := range rep.Customers {
							for _, l := range cu.Licences {
								byUsers := strconv.Itoa(l.UsersAssigned)
								if l.UsersDiffer {
									byUsers += " (differs)"
								}
								rows = append(rows, append(append([]string{cu.Customer, l.ProductName, l.CapabilityStatus}, seatCells(l.Seats)...), byUsers))
							}
						}
						rows = append(rows, append(append([]string{"TOTAL", strconv.Itoa(len(rep.Customers)) + " customers", ""}, seatCells(rep.Total)...), ""))
						// ASSIGNED is Partner Center's consumed units; BY USERS counts the users holding the SKU.
						return table(c.App.Writer, "CUSTOMER\tPRODUCT\tSTATUS\tPAID\tASSIGNED\tUNUSED\tOVER\tSUSPENDED\tWARNING\tBY USERS", rows)
					})
				},
			},
			{
				Name:      "history",
				Usage:     "a customer's licence changes (units, status, subscriptions added and ended), oldest first",
				ArgsUsage: "CUSTOMER-ID",
				Flags:     []cli.Flag{flagJSON},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("usage: cspsync licences history CUSTOMER-ID (ids from `cspsync customers list`)")
					}
					return withControl(c, func(ctl *control.Control) error {
						evs, err := ctl.LicenceHistory(c.Context, c.Args().First())
						if err != nil {
							return err
						}
						return list(c, evs, "WHEN\tSKU\tSUBSCRIPTION\tFIELD\tOLD\tNEW", func(e control.LicenceEvent) []string {
							return []string{ago(&e.At), e.SkuID, dash(e.SubscriptionID), e.Field, dash(e.Old), dash(e.New)}
						})
					})
				},
			},
		}, licenceChangeCommands()...),
	}
}

func seatCells(s control.Seats) []string {
	return []string{strconv.Itoa(s.Paid), strconv.Itoa(s.Assigned), strconv.Itoa(s.Unused), strconv.Itoa(s.Over),
		strconv.Itoa(s.Suspended), strconv.Itoa(s.Warning)}
}

func topLevelsCommand() *cli.Command {
	return &cli.Command{
		Name:  "top-levels",
		Usage: "top levels: named groups of customers",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list top levels and how many customers each holds",
			Flags: []cli.Flag{flagJSON},
			Action: func(c *cli.Context) error {
				return withControl(c, func(ctl *control.Control) error {
					tls, err := ctl.TopLevels(c.Context)
					if err != nil {
						return err
					}
					return list(c, tls, "TOP LEVEL\tCUSTOMERS", func(t control.TopLevel) []string {
						return []string{t.Name, strconv.Itoa(t.Customers)}
					})
				})
			},
		}},
	}
}

func ssoCommand() *cli.Command {
	return &cli.Command{
		Name:  "sso",
		Usage: "the self-service portal's multi-tenant sign-in",
		Subcommands: []*cli.Command{{
			Name:  "allowed-tenants",
			Usage: "the tenants its sign-in accepts: every imported tenant of the partners connected with --sso-allowed-tenants",
			Flags: []cli.Flag{flagJSON},
			Action: func(c *cli.Context) error {
				return withControl(c, func(ctl *control.Control) error {
					ts, err := ctl.SSOAllowedTenants(c.Context)
					if err != nil {
						return err
					}
					return list(c, ts, "TENANT ID\tCUSTOMER\tPARTNER", func(t control.SSOAllowedTenant) []string {
						return []string{t.TenantID, t.Customer, t.Partner}
					})
				})
			},
		}},
	}
}

// reportTenants ends a command that asked many tenants: each failure on
// stderr, then the summary, and an error when any tenant failed.
func reportTenants(c *cli.Context, failed []control.TenantFailure, tenants int, summary string) error {
	for _, f := range failed {
		printf(c.App.ErrWriter, "✗ %s (%s): %s\n", f.Customer, f.TenantID, f.Error)
	}
	fmt.Fprintln(c.App.Writer, summary)
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d tenants failed", len(failed), tenants)
	}
	return nil
}
