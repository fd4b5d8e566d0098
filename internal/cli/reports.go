package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/domain"
)

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show each partner's authorisation, discovery and open errors",
		Flags: []cli.Flag{flagJSON},
		Action: func(c *cli.Context) error {
			return withControl(c, func(ctl *control.Control) error {
				out, err := ctl.Status(c.Context)
				if err != nil {
					return err
				}
				if len(out) == 0 && !c.Bool(flagJSON.Name) {
					fmt.Fprintln(c.App.Writer, "No partner connected yet: run `cspsync connect` (or `make demo` to try the simulator).")
					return nil
				}
				return list(c, out, "PARTNER\tAUTH\tWORKFLOW\tCUSTOMERS\tTENANTS\tSEATS PAID/ASSIGNED/UNUSED\tUSERS ACTIVE/ALL\tUSERS ROUNDS RUNNING\tLAST DISCOVERY\tOPEN ERRORS\tNEXT STEP", func(s control.PartnerStatus) []string {
					return []string{s.Partner, string(s.Auth), s.Workflow, strconv.Itoa(s.Customers), tenantSummary(s.Tenants),
						fmt.Sprintf("%d/%d/%d", s.Seats.Paid, s.Seats.Assigned, s.Seats.Unused),
						fmt.Sprintf("%d/%d", s.Users.Active, s.Users.All), runningRounds(s.Users),
						ago(s.LastDiscoveryAt), strconv.Itoa(s.OpenErrors), s.Next}
				})
			})
		},
	}
}

func customersCommand() *cli.Command {
	return &cli.Command{
		Name:  "customers",
		Usage: "list customers, or link one to its Microsoft tenant by hand",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list PSA customers and their tenants",
				Flags: []cli.Flag{flagJSON, flagPartnerFilter},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						customers, err := ctl.Customers(c.Context, c.String(flagPartnerFilter.Name), false)
						if err != nil {
							return err
						}
						err = list(c, customers, "ID\tNAME\tTENANT ID\tSOURCE\tRELATIONSHIP\tCONSENT\tDOMAIN\tTOP LEVEL", func(cu control.Customer) []string {
							return []string{strconv.FormatInt(cu.ID, 10), cu.Name, dash(cu.TenantID), dash(cu.TenantIDSource),
								dash(cu.Relationship), string(cu.ConsentState), dash(cu.Domain), dash(cu.TopLevel)}
						})
						if err == nil && !c.Bool(flagJSON.Name) {
							printf(c.App.Writer, "%d customers\n", len(customers))
						}
						return err
					})
				},
			},
			{
				Name:      "set-top-level",
				Usage:     "put a customer in a top level (created when new; \"\" takes it out)",
				ArgsUsage: "CUSTOMER-ID NAME",
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return fmt.Errorf("usage: cspsync customers set-top-level CUSTOMER-ID NAME (ids from `cspsync customers list`)")
					}
					return withControl(c, func(ctl *control.Control) error {
						if err := ctl.SetCustomerTopLevel(c.Context, c.Args().Get(0), c.Args().Get(1)); err != nil {
							return err
						}
						fmt.Fprintf(c.App.Writer, "Customer %s is in top level %q.\n", c.Args().Get(0), c.Args().Get(1))
						return nil
					})
				},
			},
			{
				Name:      "set-tenant",
				Usage:     "assign a Microsoft tenant id to a customer by hand (discovery never overrides it)",
				ArgsUsage: "CUSTOMER-ID TENANT-ID",
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return fmt.Errorf("usage: cspsync customers set-tenant CUSTOMER-ID TENANT-ID (ids from `cspsync customers list`)")
					}
					return withControl(c, func(ctl *control.Control) error {
						if err := ctl.SetCustomerTenant(c.Context, c.Args().Get(0), c.Args().Get(1)); err != nil {
							return err
						}
						printf(c.App.Writer, "Customer %s is linked to tenant %s.\n", c.Args().Get(0), c.Args().Get(1))
						return nil
					})
				},
			},
		},
	}
}

func errorsCommand() *cli.Command {
	return &cli.Command{
		Name:  "errors",
		Usage: "show classified Microsoft failures and how to fix them",
		Subcommands: []*cli.Command{{
			Name:  "list",
			Usage: "list open integration errors (--all includes resolved ones)",
			Flags: []cli.Flag{flagJSON, flagPartnerFilter,
				&cli.BoolFlag{Name: "all", Usage: "include resolved errors", EnvVars: []string{"CSPSYNC_ERRORS_ALL"}}},
			Action: func(c *cli.Context) error {
				return withControl(c, func(ctl *control.Control) error {
					errs, err := ctl.Errors(c.Context, c.String(flagPartnerFilter.Name), c.Bool("all"))
					if err != nil {
						return err
					}
					if len(errs) == 0 && !c.Bool(flagJSON.Name) {
						fmt.Fprintln(c.App.Writer, "No open errors.")
						return nil
					}
					return list(c, errs, "LAST SEEN\tPARTNER\tTENANT\tOPERATION\tCODE\tCOUNT\tSTATE\tREMEDIATION", func(e control.IntegrationError) []string {
						state := "open"
						if e.ResolvedAt != nil {
							state = "resolved"
						}
						return []string{ago(&e.LastSeenAt), e.PartnerID, dash(e.TenantID), string(e.Operation), e.Code,
							strconv.Itoa(e.Occurrences), state, e.Remediation}
					})
				})
			},
		}},
	}
}

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "create the database if it is missing and apply the schema migrations (the worker migrates an existing database at start)",
		Action: func(c *cli.Context) error {
			return withControl(c, func(ctl *control.Control) error {
				v, err := ctl.Migrate(c.Context)
				if err == nil {
					printf(c.App.Writer, "Schema is at version %d.\n", v)
				}
				return err
			})
		},
	}
}

// tenantSummary reads like "20 Ready, 3 AwaitingConsent".
func tenantSummary(byState map[domain.TenantState]int) string {
	var parts []string
	for _, st := range domain.TenantStates() {
		if n := byState[st]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+string(st))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// runningRounds says how many users rounds are running and how far they are.
func runningRounds(u control.UserTotals) string {
	if u.RoundsRunning == 0 {
		return "-"
	}
	return fmt.Sprintf("%d (%d users read)", u.RoundsRunning, u.RunningUsers)
}
