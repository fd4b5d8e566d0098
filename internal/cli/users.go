package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/control"
)

var (
	flagCustomer = &cli.StringFlag{Name: "customer", Required: true, Usage: "customer id (from `cspsync customers list`)", EnvVars: []string{"CSPSYNC_CUSTOMER"}}
	flagTenant   = &cli.StringFlag{Name: "tenant", Usage: "a tenant id (from `cspsync tenants list`)", EnvVars: []string{"CSPSYNC_TENANT"}}
)

// syncTenant runs `sync --tenant T`: a cycle of one tenant, users included.
func syncTenant(c *cli.Context, ctl *control.Control) error {
	wait := c.Bool("wait")
	var progress func(control.UserProgress)
	if terminal(c.App.ErrWriter) {
		progress = func(p control.UserProgress) {
			rate := 0.0
			if s := p.Elapsed.Seconds(); s > 0 {
				rate = float64(p.Users) / s
			}
			printf(c.App.ErrWriter, "\r%s round: %d pages, %d users, %.0f users/s   ", p.Kind, p.Pages, p.Users, rate)
		}
	}
	res, err := ctl.SyncUsers(c.Context, c.String(flagTenant.Name), c.Bool("full"), wait, c.Duration("timeout"), progress)
	if progress != nil {
		fmt.Fprint(c.App.ErrWriter, "\r\033[K") // clear the progress line (cspsync's own escape, not data)
	}
	if err != nil {
		return err
	}
	if !wait {
		fmt.Fprintln(c.App.Writer, "Sync requested; `cspsync tenants list` and `cspsync log --tenant` show its result.")
		return nil
	}
	if c.Bool(flagJSON.Name) {
		return printJSON(c.App.Writer, res)
	}
	fmt.Fprintf(c.App.Writer, "%s users round: %d users in %d pages in %s (%.0f users/s): %d created, %d updated, %d moved, %d inactivated, %d reactivated, %d excluded, %d ambiguous, %d invalid, %d mapping errors.\n",
		res.Kind, res.Users, res.Pages, time.Duration(res.Duration).Round(time.Millisecond), float64(res.Users)/max(time.Duration(res.Duration).Seconds(), 0.001),
		res.Created, res.Updated, res.Moved, res.Inactivated, res.Reactivated, res.Excluded, res.Ambiguous, res.Invalid, res.MappingErrors)
	return nil
}

// terminal is true when w is a terminal, where a progress line can redraw itself.
func terminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// syncAllUsers runs `sync --users`: a cycle of every tenant of the partner.
func syncAllUsers(c *cli.Context, ctl *control.Control) error {
	wait := c.Bool("wait")
	res, err := ctl.SyncAllUsers(c.Context, c.String(flagPartner.Name), c.Bool("full"), wait, c.Duration("timeout"))
	if err != nil {
		return err
	}
	if c.Bool(flagJSON.Name) {
		return printJSON(c.App.Writer, res)
	}
	t := res.Total
	summary := fmt.Sprintf("Sync requested for %d tenants.", res.Tenants-len(res.Failed))
	if wait {
		summary = fmt.Sprintf("Users rounds of %d tenants: %d users in %d pages: %d created, %d updated, %d moved, %d inactivated, %d reactivated, %d excluded, %d ambiguous, %d invalid, %d mapping errors.",
			res.Tenants-len(res.Failed), t.Users, t.Pages, t.Created, t.Updated, t.Moved, t.Inactivated, t.Reactivated, t.Excluded, t.Ambiguous, t.Invalid, t.MappingErrors)
	}
	return reportTenants(c, res.Failed, res.Tenants, summary)
}

func usersCommand() *cli.Command {
	return &cli.Command{
		Name:  "users",
		Usage: "PSA users: list a customer's, or add one by hand",
		Subcommands: []*cli.Command{
			{
				Name:  "confirm-inactivation",
				Usage: "let the customer's next users round make more of its users inactive than the safety brake allows (after an InactivationBrake error)",
				Flags: []cli.Flag{flagCustomer},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						done, err := ctl.ConfirmInactivation(c.Context, c.String(flagCustomer.Name))
						if err != nil {
							return err
						}
						fmt.Fprintf(c.App.Writer, "Confirmed: the next users round of %s makes its users inactive beyond the safety brake's share, once.\n", done.Customer)
						if done.TenantID != "" {
							fmt.Fprintf(c.App.Writer, "It runs at the tenant's next cycle; `cspsync sync --tenant %s --wait` runs it now.\n", done.TenantID)
						}
						return nil
					})
				},
			},
			{
				Name:  "list",
				Usage: "list a customer's PSA users with their site and state",
				Flags: []cli.Flag{flagCustomer, flagJSON},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						us, err := ctl.Users(c.Context, c.String(flagCustomer.Name))
						if err != nil {
							return err
						}
						return list(c, us, "ID\tNAME\tEMAIL\tLOGIN\tSITE\tACTIVE\tSERVICE\tLICENCES\tSOURCE\tAZURE ID\tREASON", func(u control.PSAUser) []string {
							return []string{strconv.FormatInt(u.ID, 10), u.Name, dash(u.Email), dash(u.NetworkLogin), u.Site,
								strconv.FormatBool(u.Active), serviceCell(u), dash(licenceNames(u.Licences)), u.Source, dash(u.AzureObjectID), dash(u.InactiveReason)}
						})
					})
				},
			},
			{
				Name:      "show",
				Usage:     "one PSA user with his service state and licences, removed ones included",
				ArgsUsage: "USER-ID",
				Flags:     []cli.Flag{flagJSON},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return fmt.Errorf("usage: cspsync users show USER-ID (ids from `cspsync users list --customer ID`)")
					}
					return withControl(c, func(ctl *control.Control) error {
						u, err := ctl.User(c.Context, c.Args().First())
						if err != nil {
							return err
						}
						if c.Bool(flagJSON.Name) {
							return printJSON(c.App.Writer, u)
						}
						printf(c.App.Writer, "%d %s <%s>, customer %d, site %s\nactive: %t %s\nservice user: %s\n", u.ID, u.Name, u.Email,
							u.CustomerID, u.Site, u.Active, u.InactiveReason, serviceCell(u))
						return list(c, u.Licences, "LICENCE\tPART NUMBER\tSKU ID\tASSIGNED\tREMOVED\tPENDING", func(l control.UserLicence) []string {
							removed := "-"
							if l.RemovedAt != nil {
								removed = l.RemovedAt.Format(time.RFC3339)
							}
							return []string{l.ProductName, dash(l.PartNumber), l.SkuID, l.AssignedAt.Format(time.RFC3339), removed, strconv.FormatBool(l.Pending)}
						})
					})
				},
			},
			{
				Name:  "add",
				Usage: "add a PSA user by hand; the next users round matches him to his Microsoft account",
				Flags: []cli.Flag{flagCustomer,
					&cli.StringFlag{Name: "name", Required: true, Usage: "display name", EnvVars: []string{"CSPSYNC_USER_NAME"}},
					&cli.StringFlag{Name: "email", Usage: "email address", EnvVars: []string{"CSPSYNC_USER_EMAIL"}},
					&cli.StringFlag{Name: "login", Usage: "network login", EnvVars: []string{"CSPSYNC_USER_LOGIN"}}},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						id, err := ctl.AddUser(c.Context, c.String(flagCustomer.Name), c.String("name"), c.String("email"), c.String("login"))
						if err == nil {
							fmt.Fprintf(c.App.Writer, "User %d added.\n", id)
						}
						return err
					})
				},
			},
		},
	}
}

func sitesCommand() *cli.Command {
	return &cli.Command{
		Name:  "sites",
		Usage: "a customer's sites",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list a customer's sites",
				Flags: []cli.Flag{flagCustomer, flagJSON},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						ss, err := ctl.Sites(c.Context, c.String(flagCustomer.Name))
						if err != nil {
							return err
						}
						return list(c, ss, "ID\tNAME\tDEFAULT", func(s control.Site) []string {
							return []string{strconv.FormatInt(s.ID, 10), s.Name, strconv.FormatBool(s.Default)}
						})
					})
				},
			},
			{
				Name:      "add",
				Usage:     "add a site to a customer",
				ArgsUsage: "NAME",
				Flags:     []cli.Flag{flagCustomer},
				Action: func(c *cli.Context) error {
					if c.NArg() != 1 {
						return errors.New("usage: cspsync sites add --customer ID NAME")
					}
					return withControl(c, func(ctl *control.Control) error {
						s, err := ctl.AddSite(c.Context, c.String(flagCustomer.Name), c.Args().First())
						if err == nil {
							printf(c.App.Writer, "Site %s added (id %d).\n", s.Name, s.ID)
						}
						return err
					})
				},
			},
		},
	}
}

func mappingsCommand() *cli.Command {
	optionalCustomer := &cli.StringFlag{Name: "customer", Usage: "a customer's own mappings (default: the partner's)", EnvVars: []string{"CSPSYNC_CUSTOMER"}}
	return &cli.Command{
		Name:  "mappings",
		Usage: "how Microsoft's users reach the PSA: site mappings, field mappings, matching",
		Subcommands: []*cli.Command{
			{
				Name:  "generate",
				Usage: "give every customer with a tenant and no site mapping one unfiltered mapping to its default site",
				Flags: []cli.Flag{flagPartnerFilter},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						n, err := ctl.GenerateSiteMappings(c.Context, c.String(flagPartnerFilter.Name))
						if err == nil {
							fmt.Fprintf(c.App.Writer, "Created %d site mappings.\n", n)
						}
						return err
					})
				},
			},
			{
				Name:  "sites",
				Usage: "a customer's site mappings, in order (the first matching filter places a user)",
				Flags: []cli.Flag{flagCustomer, flagJSON},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						ms, err := ctl.SiteMappings(c.Context, c.String(flagCustomer.Name))
						if err != nil {
							return err
						}
						return list(c, ms, "FILTER\tSITE", func(m control.SiteMapping) []string { return []string{m.Filter, m.Site} })
					})
				},
			},
			mappingsSetSitesCommand(),
			{
				Name:  "fields",
				Usage: "the field mappings in force (defaults, the partner's, a customer's)",
				Flags: []cli.Flag{flagPartner, optionalCustomer, flagJSON},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						ms, err := ctl.FieldMappings(c.Context, mappingsPartner(c), c.String(optionalCustomer.Name))
						if err != nil {
							return err
						}
						return list(c, ms, "FIELD\tEXPRESSION", func(m control.FieldMapping) []string { return []string{m.Field, dash(m.Expression)} })
					})
				},
			},
			{
				Name:      "set-field",
				Usage:     "map a PSA field to an expression over the Graph user (\"\" falls back to the partner's or the default)",
				ArgsUsage: "FIELD EXPRESSION",
				Flags:     []cli.Flag{flagPartner, optionalCustomer},
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return errors.New(`usage: cspsync mappings set-field [--customer ID] FIELD EXPRESSION (e.g. phone 'user.mobilePhone')`)
					}
					return withControl(c, func(ctl *control.Control) error {
						if err := ctl.SetFieldMapping(c.Context, mappingsPartner(c), c.String(optionalCustomer.Name), c.Args().Get(0), c.Args().Get(1)); err != nil {
							return err
						}
						fmt.Fprintln(c.App.Writer, "Field mapping saved; the next users round applies it.")
						return nil
					})
				},
			},
			mappingsSettingsCommand(),
		},
	}
}

// mappingsPartner is the partner whose mappings a command acts on: --partner,
// or the customer's ("") when only --customer names one.
func mappingsPartner(c *cli.Context) string {
	if c.String("customer") != "" && !c.IsSet(flagPartner.Name) {
		return ""
	}
	return c.String(flagPartner.Name)
}

// mappingsSetSitesCommand replaces a customer's site mappings.
func mappingsSetSitesCommand() *cli.Command {
	return &cli.Command{
		Name: "set-sites",
		Usage: `replace a customer's site mappings: each argument is 'FILTER => SITE', in order (e.g. 'user.city == "London" => London' 'true => Main'); ` +
			"--clear removes them all, which makes the customer's users from Microsoft inactive",
		ArgsUsage: "'FILTER => SITE' ... | --clear",
		Flags: []cli.Flag{flagCustomer, &cli.BoolFlag{Name: "clear", Usage: "remove every site mapping of the customer: no user is imported and its users from Microsoft become inactive",
			EnvVars: []string{"CSPSYNC_CLEAR_SITE_MAPPINGS"}}},
		Action: func(c *cli.Context) error {
			if c.Bool("clear") {
				if c.NArg() > 0 {
					return errors.New("--clear removes every site mapping: give either mappings or --clear, not both")
				}
				return withControl(c, func(ctl *control.Control) error {
					r, err := ctl.ClearSiteMappings(c.Context, c.String(flagCustomer.Name))
					if err == nil {
						printf(c.App.Writer, "Removed the %d site mappings of customer %d (%s). Its users rounds import no user until it has a site mapping again, "+
							"and make its %d active users from Microsoft inactive as they see them (every one at its next full round).\n",
							r.Removed, r.CustomerID, r.Customer, r.ActiveUsers)
					}
					return err
				})
			}
			var ms []control.SiteMapping
			for i, a := range c.Args().Slice() {
				m, err := control.ParseSiteMapping(i+1, a)
				if err != nil {
					return err
				}
				ms = append(ms, m)
			}
			return withControl(c, func(ctl *control.Control) error {
				if err := ctl.SetSiteMappings(c.Context, c.String(flagCustomer.Name), ms); err != nil {
					return err
				}
				fmt.Fprintf(c.App.Writer, "%d site mappings saved; the next users round applies them.\n", len(ms))
				return nil
			})
		},
	}
}

// mappingsSettingsCommand shows or changes a partner's users-sync settings.
func mappingsSettingsCommand() *cli.Command {
	return &cli.Command{
		Name:  "settings",
		Usage: "show or change the partner's matching rules, accountEnabled handling, automatic site mappings and log retention",
		Flags: []cli.Flag{flagPartner, flagJSON,
			&cli.StringFlag{Name: "match-rules", Usage: "ordered rules for users created by hand: name, email, network_login (comma-separated)", EnvVars: []string{"CSPSYNC_MATCH_RULES"}},
			&cli.BoolFlag{Name: "ignore-account-enabled", Usage: "keep disabled accounts active in the PSA", EnvVars: []string{"CSPSYNC_IGNORE_ACCOUNT_ENABLED"}},
			&cli.BoolFlag{Name: "auto-site-mappings", Usage: "give a customer that gets a tenant id an unfiltered site mapping", EnvVars: []string{"CSPSYNC_AUTO_SITE_MAPPINGS"}},
			&cli.DurationFlag{Name: "log-retention", Usage: "how long the inbound log keeps its rows", EnvVars: []string{"CSPSYNC_LOG_RETENTION"}},
			&cli.IntFlag{Name: "max-inactivate-share", Usage: "safety brake: the largest share (percent, 1-100; 100 turns it off) of a customer's active users a round makes inactive at once; beyond it the round stops until `cspsync users confirm-inactivation`", EnvVars: []string{"CSPSYNC_MAX_INACTIVATE_SHARE"}},
			&cli.StringFlag{Name: "service-group", Usage: "Azure group whose members are normal users; everyone else is a service user (\"\" removes the rule; with --customer, that customer's own)", EnvVars: []string{"CSPSYNC_SERVICE_GROUP"}},
			&cli.BoolFlag{Name: "partner-service-group", Usage: "with --customer: follow the partner's service group again", EnvVars: []string{"CSPSYNC_PARTNER_SERVICE_GROUP"}},
			&cli.StringFlag{Name: "customer", Usage: "with --service-group: set that customer's group instead of the partner's", EnvVars: []string{"CSPSYNC_CUSTOMER"}},
			&cli.StringFlag{Name: "billable-skus", Usage: "licences (part numbers or product names, comma-separated) that make a user billable; a user holding none is a service user (\"\" removes the rule)", EnvVars: []string{"CSPSYNC_BILLABLE_SKUS"}}},
		Action: func(c *cli.Context) error {
			return withControl(c, func(ctl *control.Control) error {
				partner := c.String(flagPartner.Name)
				var ch control.UserSettingsChange
				changed := false
				if c.IsSet("match-rules") {
					ch.MatchRules, changed = []string{}, true
					for _, r := range strings.Split(c.String("match-rules"), ",") {
						if r = strings.TrimSpace(r); r != "" {
							ch.MatchRules = append(ch.MatchRules, r)
						}
					}
				}
				if c.IsSet("ignore-account-enabled") {
					v := c.Bool("ignore-account-enabled")
					ch.IgnoreAccountEnabled, changed = &v, true
				}
				if c.IsSet("auto-site-mappings") {
					v := c.Bool("auto-site-mappings")
					ch.AutoSiteMappings, changed = &v, true
				}
				if c.IsSet("log-retention") {
					v := c.Duration("log-retention")
					ch.LogRetention, changed = &v, true
				}
				if c.IsSet("max-inactivate-share") {
					v := c.Int("max-inactivate-share")
					ch.MaxInactivateShare, changed = &v, true
				}
				var s control.UserSettings
				var err error
				if changed {
					s, err = ctl.ChangeUserSettings(c.Context, partner, ch)
				} else {
					s, err = ctl.UserSettings(c.Context, partner)
				}
				if err != nil {
					return err
				}
				if sc, ok := serviceUserChange(c); ok {
					if s, err = ctl.ChangeServiceUsers(c.Context, partner, sc); err != nil {
						return err
					}
				} else if c.IsSet("customer") {
					return errors.New("--customer goes with --service-group or --partner-service-group")
				}
				if c.Bool(flagJSON.Name) {
					return printJSON(c.App.Writer, s)
				}
				fmt.Fprintf(c.App.Writer, "matching rules: %s\nignore accountEnabled: %t\nautomatic site mappings: %t\nlog retention: %s\nmax inactivate share: %d %%\nservice group: %s\nbillable licences: %s\n",
					strings.Join(s.MatchRules, ", "), s.IgnoreAccountEnabled, s.AutoSiteMappings, s.LogRetention, s.MaxInactivateShare, dash(s.ServiceGroup), dash(strings.Join(s.BillableSkus, ", ")))
				return nil
			})
		},
	}
}

func deltaCommand() *cli.Command {
	return &cli.Command{
		Name:  "delta",
		Usage: "users delta state",
		Subcommands: []*cli.Command{{
			Name:  "reset",
			Usage: "forget the delta links (of one tenant, or every tenant of the partner): the next rounds read every user",
			Flags: []cli.Flag{flagPartner, flagTenant},
			Action: func(c *cli.Context) error {
				return withControl(c, func(ctl *control.Control) error {
					n, err := ctl.ResetDelta(c.Context, c.String(flagPartner.Name), c.String(flagTenant.Name))
					if err == nil {
						fmt.Fprintf(c.App.Writer, "Reset the delta state of %d tenants; their next users rounds are full.\n", n)
					}
					return err
				})
			},
		}},
	}
}

func logCommand() *cli.Command {
	return &cli.Command{
		Name:  "log",
		Usage: "the inbound log of a tenant: every user change processed, with the mapping, matching rule and fields changed",
		Flags: []cli.Flag{&cli.StringFlag{Name: "tenant", Required: true, Usage: "tenant id", EnvVars: []string{"CSPSYNC_TENANT"}}, flagJSON,
			&cli.StringFlag{Name: "user", Usage: "only this user: Azure object id, PSA user id or email", EnvVars: []string{"CSPSYNC_LOG_USER"}},
			&cli.IntFlag{Name: "limit", Value: 100, Usage: "newest rows to show", EnvVars: []string{"CSPSYNC_LOG_LIMIT"}}},
		Action: func(c *cli.Context) error {
			return withControl(c, func(ctl *control.Control) error {
				rows, err := ctl.InboundLog(c.Context, c.String("tenant"), c.String("user"), c.Int("limit"))
				if err != nil {
					return err
				}
				return list(c, rows, "WHEN\tROUND\tAZURE ID\tRESULT\tMAPPING\tMATCHED BY\tCHANGES\tREASON", func(l control.LogEntry) []string {
					var ch []string
					for _, x := range l.Changes {
						ch = append(ch, x.Field+": "+x.Old+" -> "+x.New)
					}
					return []string{ago(&l.At), strconv.FormatInt(l.RoundID, 10), dash(l.AzureObjectID), l.Result, dash(l.Mapping),
						dash(l.MatchRule), dash(strings.Join(ch, "; ")), dash(l.Reason)}
				})
			})
		},
	}
}

// serviceCell says whether a user is a service user and by which rules.
func serviceCell(u control.PSAUser) string {
	if !u.ServiceUser {
		return "no"
	}
	return "yes (" + u.ServiceReason + ")"
}

// licenceNames lists a user's licences by product name.
func licenceNames(ls []control.UserLicence) string {
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.ProductName
	}
	return strings.Join(names, ", ")
}

// serviceUserChange reads the service-user flags of `mappings settings`.
func serviceUserChange(c *cli.Context) (control.ServiceUserChange, bool) {
	var ch control.ServiceUserChange
	changed := false
	if c.IsSet("service-group") {
		v := c.String("service-group")
		ch.ServiceGroup, changed = &v, true
	}
	if c.Bool("partner-service-group") {
		ch.ClearOverride, changed = true, true
	}
	if c.IsSet("billable-skus") {
		ch.BillableSkus, changed = []string{}, true
		for _, sku := range strings.Split(c.String("billable-skus"), ",") {
			if sku = strings.TrimSpace(sku); sku != "" {
				ch.BillableSkus = append(ch.BillableSkus, sku)
			}
		}
	}
	ch.CustomerID = c.String("customer")
	return ch, changed
}
