package cli

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/cspsync/cspsync/internal/control"
	"github.com/cspsync/cspsync/internal/flags"
)

func tenantArg(c *cli.Context, usage string) (string, error) {
	if c.NArg() != 1 {
		return "", fmt.Errorf("usage: cspsync %s (tenant ids from `cspsync tenants list`)", usage)
	}
	return c.Args().First(), nil
}

func tenantsCommand() *cli.Command {
	return &cli.Command{
		Name:  "tenants",
		Usage: "customer tenants: their lifecycle state, relationship and sync",
		Subcommands: []*cli.Command{
			{
				Name:  "list",
				Usage: "list tenants with relationship (and where it comes from: microsoft, override or default), GDAP relationship, consent, state and last sync",
				Flags: []cli.Flag{flagJSON, flagPartnerFilter},
				Action: func(c *cli.Context) error {
					return withControl(c, func(ctl *control.Control) error {
						tenants, err := ctl.Customers(c.Context, c.String(flagPartnerFilter.Name), true)
						if err != nil {
							return err
						}
						return list(c, tenants, "TENANT ID\tCUSTOMER\tRELATIONSHIP\tSOURCE\tGDAP\tCONSENT\tSTATE\tLAST SYNC\tREASON", func(t control.Customer) []string {
							return []string{t.TenantID, t.Name, string(t.Relationship), string(t.RelationshipSource), dash(t.GDAP.Summary()),
								string(t.ConsentState), string(t.SyncState), ago(t.LastSyncAt), dash(t.SyncReason)}
						})
					})
				},
			},
			{
				Name:      "set-relationship",
				Usage:     "override a tenant's relationship (DAP or GDAP) whatever Microsoft says; the running workflow follows",
				ArgsUsage: "TENANT-ID DAP|GDAP",
				Action: func(c *cli.Context) error {
					if c.NArg() != 2 {
						return fmt.Errorf("usage: cspsync tenants set-relationship TENANT-ID DAP|GDAP")
					}
					return withControl(c, func(ctl *control.Control) error {
						cu, err := ctl.SetRelationship(c.Context, c.Args().Get(0), c.Args().Get(1))
						if err != nil {
							return err
						}
						printf(c.App.Writer, "%s (%s) is now %s; consent %s. An override: discoveries keep it, whatever Microsoft says.\n",
							cu.Name, cu.TenantID, cu.Relationship, cu.ConsentState)
						return nil
					})
				},
			},
			{
				Name:      "sync",
				Usage:     "sync one tenant now",
				ArgsUsage: "TENANT-ID",
				Action: func(c *cli.Context) error {
					tenant, err := tenantArg(c, "tenants sync TENANT-ID")
					if err != nil {
						return err
					}
					return withControl(c, func(ctl *control.Control) error {
						cu, err := ctl.SyncTenant(c.Context, tenant)
						if err == nil {
							printf(c.App.Writer, "Sync of %s requested.\n", cu.Name)
						}
						return err
					})
				},
			},
		},
	}
}

func consentCommand() *cli.Command {
	setConsent := func(granted bool) cli.ActionFunc {
		return func(c *cli.Context) error {
			verb := map[bool]string{true: "grant", false: "revoke"}[granted]
			tenant, err := tenantArg(c, "consent "+verb+" TENANT-ID")
			if err != nil {
				return err
			}
			return withControl(c, func(ctl *control.Control) error {
				cu, err := ctl.SetConsent(c.Context, tenant, granted)
				if err == nil {
					printf(c.App.Writer, "Consent for %s (%s) recorded as %s.\n", cu.Name, cu.TenantID, cu.ConsentState)
				}
				return err
			})
		}
	}
	return &cli.Command{
		Name:  "consent",
		Usage: "GDAP admin consent of the Graph app in a customer tenant",
		Subcommands: []*cli.Command{
			{
				Name:      "url",
				Usage:     "print the tenant's admin-consent link for its Global Administrator",
				ArgsUsage: "TENANT-ID",
				Flags:     []cli.Flag{flags.PublicURL, flags.CAFile},
				Action: func(c *cli.Context) error {
					tenant, err := tenantArg(c, "consent url TENANT-ID")
					if err != nil {
						return err
					}
					return withControl(c, func(ctl *control.Control) error {
						link, cu, err := ctl.ConsentURL(c.Context, tenant)
						if err != nil {
							return err
						}
						printf(c.App.Writer, "Admin consent link for %s (works once, until %s; it replaces any earlier link):\n\n  %s\n",
							cu.Name, link.ExpiresAt.UTC().Format("2006-01-02 15:04 UTC"), link.URL)
						return nil
					})
				},
			},
			{Name: "grant", Usage: "record a consent given outside cspsync and resume the tenant", ArgsUsage: "TENANT-ID", Action: setConsent(true)},
			{Name: "revoke", Usage: "record that the tenant's consent was revoked", ArgsUsage: "TENANT-ID", Action: setConsent(false)},
		},
	}
}
