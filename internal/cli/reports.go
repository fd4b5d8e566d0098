package cli

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.temporal.io/sdk/client"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/store"
	"github.com/cspsync/cspsync/workflows"
)

// PartnerStatus is one row of `cspsync status`.
type PartnerStatus struct {
	Partner         string         `json:"partner"`
	Auth            string         `json:"auth"`
	Workflow        string         `json:"workflow"`
	Customers       int            `json:"customers"`
	Discoveries     int            `json:"discoveries"`
	LastDiscoveryAt *time.Time     `json:"lastDiscoveryAt"`
	OpenErrors      int            `json:"openErrors"`
	Tenants         map[string]int `json:"tenants"` // tenant count by lifecycle state
	NeedsAttention  bool           `json:"needsAttention"`
	Next            string         `json:"next"`
}

func statusCommand() *cli.Command {
	return &cli.Command{
		Name:  "status",
		Usage: "show each partner's authorisation, discovery and open errors",
		Flags: []cli.Flag{flagJSON},
		Action: func(c *cli.Context) error {
			return withControl(c, func(ctl *control.Control) error { return printStatus(c, ctl.Store, ctl.Temporal) })
		},
	}
}

// printStatus reads each partner from the store and its workflow from Temporal.
func printStatus(c *cli.Context, st *store.Store, tc client.Client) error {
	partners, err := st.ListPartners(c.Context)
	if err != nil {
		return err
	}
	out := []PartnerStatus{}
	for _, p := range partners {
		s := PartnerStatus{Partner: p.ID, Auth: p.AuthState, Workflow: "not running", LastDiscoveryAt: p.LastDiscoveryAt}
		if wf, err := workflows.QueryPartner(c.Context, tc, p.ID); err == nil {
			s.Workflow, s.Discoveries = wf.Auth, wf.Discoveries
		}
		customers, err := st.ListCustomers(c.Context, p.ID)
		if err != nil {
			return err
		}
		s.Tenants = map[string]int{}
		for _, cu := range customers {
			if cu.TenantID != "" {
				s.Customers++
				s.Tenants[cu.SyncState]++
			}
		}
		errs, err := st.ListErrors(c.Context, p.ID, false)
		if err != nil {
			return err
		}
		s.OpenErrors = len(errs)
		s.NeedsAttention = p.AuthState != store.AuthAuthorised || len(errs) > 0
		switch {
		case p.AuthState == store.AuthPending:
			s.Next = "complete the sign-in from `cspsync connect`"
		case p.AuthState == store.AuthNeedsReauthorisation && len(errs) > 0:
			s.Next = errs[0].Code + ": " + errs[0].Remediation
		case p.AuthState == store.AuthNeedsReauthorisation:
			s.Next = "authorise again with `cspsync connect`"
		case len(errs) > 0:
			s.Next = "see `cspsync errors list`"
		case s.Workflow == "not running":
			s.Next = "start the worker, then `cspsync connect` to restart the workflow"
		default:
			s.Next = "-"
		}
		out = append(out, s)
	}
	if c.Bool(flagJSON.Name) {
		return printJSON(c.App.Writer, out)
	}
	if len(out) == 0 {
		fmt.Fprintln(c.App.Writer, "No partner connected yet: run `cspsync connect` (or `make demo` to try the simulator).")
		return nil
	}
	rows := make([][]string, 0, len(out))
	for _, s := range out {
		rows = append(rows, []string{s.Partner, s.Auth, s.Workflow, strconv.Itoa(s.Customers), tenantSummary(s.Tenants),
			ago(s.LastDiscoveryAt), strconv.Itoa(s.OpenErrors), s.Next})
	}
	return table(c.App.Writer, "PARTNER\tAUTH\tWORKFLOW\tCUSTOMERS\tTENANTS\tLAST DISCOVERY\tOPEN ERRORS\tNEXT STEP", rows)
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
					customers, err := loadCustomers(c, false)
					if err != nil {
						return err
					}
					if c.Bool(flagJSON.Name) {
						return printJSON(c.App.Writer, customers)
					}
					rows := make([][]string, 0, len(customers))
					for _, cu := range customers {
						rows = append(rows, []string{strconv.FormatInt(cu.ID, 10), cu.Name, dash(cu.TenantID), dash(cu.TenantIDSource),
							dash(cu.Relationship), cu.ConsentState, dash(cu.Domain)})
					}
					if err := table(c.App.Writer, "ID\tNAME\tTENANT ID\tSOURCE\tRELATIONSHIP\tCONSENT\tDOMAIN", rows); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "%d customers\n", len(customers))
					return nil
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
					id, err := strconv.ParseInt(c.Args().Get(0), 10, 64)
					if err != nil {
						return fmt.Errorf("customer id %q is not a number: take it from the ID column of `cspsync customers list`", c.Args().Get(0))
					}
					st, err := openStore(c)
					if err != nil {
						return err
					}
					defer st.Close()
					if err := st.SetCustomerTenant(c.Context, id, c.Args().Get(1)); err != nil {
						return err
					}
					fmt.Fprintf(c.App.Writer, "Customer %d is linked to tenant %s.\n", id, c.Args().Get(1))
					return nil
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
				st, err := openStore(c)
				if err != nil {
					return err
				}
				defer st.Close()
				errs, err := st.ListErrors(c.Context, c.String("partner"), c.Bool("all"))
				if err != nil {
					return err
				}
				if c.Bool(flagJSON.Name) {
					if errs == nil {
						errs = []store.IntegrationError{}
					}
					return printJSON(c.App.Writer, errs)
				}
				if len(errs) == 0 {
					fmt.Fprintln(c.App.Writer, "No open errors.")
					return nil
				}
				rows := make([][]string, 0, len(errs))
				for _, e := range errs {
					state := "open"
					if e.ResolvedAt != nil {
						state = "resolved"
					}
					rows = append(rows, []string{ago(&e.LastSeenAt), e.PartnerID, dash(e.TenantID), e.Operation, e.Code,
						strconv.Itoa(e.Occurrences), state, e.Remediation})
				}
				return table(c.App.Writer, "LAST SEEN\tPARTNER\tTENANT\tOPERATION\tCODE\tCOUNT\tSTATE\tREMEDIATION", rows)
			},
		}},
	}
}

func migrateCommand() *cli.Command {
	return &cli.Command{
		Name:  "migrate",
		Usage: "apply the PostgreSQL schema migrations (the worker also does this at start)",
		Action: func(c *cli.Context) error {
			st, err := openStore(c)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.Migrate(c.Context); err != nil {
				return err
			}
			v, _, err := st.SchemaVersion(c.Context)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "Schema is at version %d.\n", v)
			return nil
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// tenantSummary reads like "20 Ready, 3 AwaitingConsent".
func tenantSummary(byState map[string]int) string {
	var parts []string
	for _, st := range []string{"Ready", "Syncing", "AwaitingConsent", "Blocked", "Paused", "New"} {
		if n := byState[st]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+st)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// loadCustomers lists the --partner's customers (all partners' when empty),
// only those linked to a tenant when tenantsOnly; never nil, for JSON.
func loadCustomers(c *cli.Context, tenantsOnly bool) ([]store.Customer, error) {
	st, err := openStore(c)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	all, err := st.ListCustomers(c.Context, c.String("partner"))
	if err != nil {
		return nil, err
	}
	out := make([]store.Customer, 0, len(all))
	for _, cu := range all {
		if !tenantsOnly || cu.TenantID != "" {
			out = append(out, cu)
		}
	}
	return out, nil
}
